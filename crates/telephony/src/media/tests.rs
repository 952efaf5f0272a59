//! Tests for Media Streams messages against the shapes in Twilio's documentation.

use super::*;
use serde_json::{Value, json};

fn js(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn parses_docs_connected() {
    let e = parse_event(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#).unwrap();
    assert_eq!(e, StreamEvent::connected());
    assert_eq!(e.stream_sid(), None);
}

#[test]
fn parses_docs_start() {
    let text = r#"{
      "event": "start",
      "sequenceNumber": "1",
      "start": {
        "accountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "callSid": "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "tracks": [ "inbound" ],
        "mediaFormat": { "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1 },
        "customParameters": { "FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob" }
      },
      "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    }"#;
    let e = parse_event(text).unwrap();
    let StreamEvent::Start(StartFrame {
        sequence_number,
        start,
        stream_sid,
    }) = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(sequence_number, "1");
    assert_eq!(stream_sid, "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    assert_eq!(start.call_sid, "CAXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    assert_eq!(start.account_sid, "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    assert_eq!(start.tracks, vec!["inbound"]);
    assert_eq!(start.media_format, MediaFormat::default());
    assert_eq!(start.custom_parameters["RemoteParty"], "Bob");
    assert_eq!(start.custom_parameters.len(), 3);
    assert_eq!(e.sequence_number(), Some(1));
    // Serialising gives back the same JSON.
    assert_eq!(js(&e.to_json()), js(text));
}

#[test]
fn start_without_optional_parts_defaults() {
    let e =
        parse_event(r#"{"event":"start","start":{"callSid":"CA1"},"streamSid":"MZ1"}"#).unwrap();
    let StreamEvent::Start(StartFrame { start, .. }) = e else {
        panic!()
    };
    assert!(start.custom_parameters.is_empty());
    assert_eq!(start.media_format.sample_rate, 8000);
    assert_eq!(start.call_sid, "CA1");
}

#[test]
fn parses_docs_media_and_decodes_payload() {
    let text = r#"{
      "event": "media",
      "sequenceNumber": "3",
      "media": { "track": "inbound", "chunk": "1", "timestamp": "5", "payload": "no+JhoaJjpzSHxAKBgYJ" },
      "streamSid": "MZXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    }"#;
    let e = parse_event(text).unwrap();
    let StreamEvent::Media(media) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (media.chunk_number(), media.timestamp_ms()),
        (Some(1), Some(5))
    );
    assert_eq!(&media.decode().unwrap()[..4], &[0x9e, 0x8f, 0x89, 0x86]);
    assert_eq!(js(&e.to_json()), js(text));
}

#[test]
fn numbers_accepted_where_strings_expected() {
    let e = parse_event(
        r#"{"event":"media","sequenceNumber":7,"media":{"chunk":2,"timestamp":40,"payload":""},"streamSid":"MZ"}"#,
    )
    .unwrap();
    assert_eq!(
        e,
        StreamEvent::Media(MediaFrame {
            sequence_number: "7".into(),
            stream_sid: "MZ".into(),
            media: MediaFields {
                track: "".into(),
                chunk: "2".into(),
                timestamp: "40".into(),
                payload: "".into()
            },
        })
    );
}

#[test]
fn parses_docs_dtmf_mark_stop() {
    let dtmf = parse_event(
        r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#,
    )
    .unwrap();
    assert_eq!(dtmf, StreamEvent::dtmf("MZ1", 5, "1"));
    let mark = parse_event(
        r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"my label"}}"#,
    )
    .unwrap();
    assert_eq!(mark, StreamEvent::mark("MZ1", 4, "my label"));
    let stop = parse_event(
        r#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"}"#,
    )
    .unwrap();
    assert_eq!(stop, StreamEvent::stop("MZ1", 5, "AC1", "CA1"));
    assert_eq!(stop.stream_sid(), Some("MZ1"));
}

#[test]
fn simulator_constructors_produce_twilio_shapes() {
    let start = StreamEvent::start(
        1,
        StartMeta::new("AC1", "CA1", "MZ1").custom_parameter("token", "t"),
    );
    assert_eq!(
        js(&start.to_json()),
        json!({"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{
            "accountSid":"AC1","callSid":"CA1","streamSid":"MZ1","tracks":["inbound"],
            "customParameters":{"token":"t"},
            "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}})
    );
    let media = StreamEvent::media("MZ1", 2, 1, 20, &[0xff, 0x7f]);
    assert_eq!(
        js(&media.to_json()),
        json!({"event":"media","sequenceNumber":"2","streamSid":"MZ1",
               "media":{"track":"inbound","chunk":"1","timestamp":"20","payload":"/38="}})
    );
    assert_eq!(parse_event(&media.to_json()).unwrap(), media);
}

#[test]
fn server_messages_serialise_exactly() {
    assert_eq!(
        ServerMessage::media("MZ1", &[0xff, 0x7f, 0x00]).to_json(),
        r#"{"event":"media","streamSid":"MZ1","media":{"payload":"/38A"}}"#
    );
    assert_eq!(
        ServerMessage::mark("MZ1", "turn-3").to_json(),
        r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"turn-3"}}"#
    );
    assert_eq!(
        ServerMessage::clear("MZ1").to_json(),
        r#"{"event":"clear","streamSid":"MZ1"}"#
    );
}

#[test]
fn server_messages_round_trip() {
    for msg in [
        ServerMessage::media("MZ1", b"abc"),
        ServerMessage::mark("MZ1", "m"),
        ServerMessage::clear("MZ1"),
    ] {
        assert_eq!(parse_server_message(&msg.to_json()).unwrap(), msg);
    }
    let ServerMessage::Media { media, .. } = ServerMessage::media("MZ1", b"abc") else {
        panic!()
    };
    assert_eq!(media.decode().unwrap(), b"abc");
}

#[test]
fn unknown_events_are_distinct_from_malformed() {
    assert_eq!(
        parse_event(r#"{"event":"transcription","streamSid":"MZ1"}"#),
        Err(MediaParseError::UnknownEvent("transcription".into()))
    );
    assert_eq!(
        parse_server_message(r#"{"event":"play","streamSid":"MZ1"}"#),
        Err(MediaParseError::UnknownEvent("play".into()))
    );
    // `clear` is something only the server sends.
    assert!(matches!(
        parse_event(r#"{"event":"clear","streamSid":"MZ1"}"#),
        Err(MediaParseError::UnknownEvent(_))
    ));
    for bad in [
        "not json",
        "[]",
        r#"{"streamSid":"MZ1"}"#,
        r#"{"event":5}"#,
        r#"{"event":"media","media":"x"}"#,
    ] {
        assert!(
            matches!(parse_event(bad), Err(MediaParseError::Malformed(_))),
            "{bad}"
        );
    }
}

#[test]
fn server_parse_is_strict_like_twilio() {
    for bad in [
        r#"{"event":"media","streamSid":"MZ1"}"#,
        r#"{"event":"media","media":{"payload":"AAAA"}}"#,
        r#"{"event":"media","streamSid":"MZ1","media":{"payload":"not base64!"}}"#,
        r#"{"event":"mark","streamSid":"MZ1"}"#,
        r#"{"event":"clear","streamSid":""}"#,
        r#"{"event":"clear"}"#,
        "{",
    ] {
        assert!(
            matches!(
                parse_server_message(bad),
                Err(MediaParseError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn media_frames_are_read_in_place_and_match_the_owned_event() {
    let text = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"no+JhoaJjpzSHxAKBgYJ"},"streamSid":"MZ1"}"#;
    let StreamEvent::Media(frame) = parse_inbound(text).unwrap() else {
        panic!("not media")
    };
    // Nothing was copied out of the message.
    assert!(matches!(frame.media.payload, std::borrow::Cow::Borrowed(_)));
    assert!(matches!(frame.stream_sid, std::borrow::Cow::Borrowed(_)));
    assert_eq!(&frame.decode().unwrap()[..4], &[0x9e, 0x8f, 0x89, 0x86]);
    assert_eq!(StreamEvent::Media(frame), parse_event(text).unwrap());
    // An escaped payload (`\/` is legal JSON for `/`) is unescaped into an owned string.
    let escaped = parse_inbound(r#"{"event":"media","media":{"payload":"\/38="}}"#).unwrap();
    let StreamEvent::Media(frame) = escaped else {
        panic!()
    };
    assert_eq!(frame.decode().unwrap(), vec![0xff, 0x7f]);
    // Other events are owned.
    assert_eq!(
        parse_inbound(r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"u1"}}"#).unwrap(),
        StreamEvent::Mark(MarkFrame {
            sequence_number: String::new(),
            stream_sid: "MZ1".into(),
            mark: MarkName { name: "u1".into() },
        })
    );
}

#[test]
fn event_need_not_come_first() {
    let e =
        parse_event(r#"{"streamSid":"MZ1","sequenceNumber":4,"mark":{"name":"x"},"event":"mark"}"#)
            .unwrap();
    assert_eq!(e, StreamEvent::mark("MZ1", 4, "x"));
    let e = parse_event(r#"{"media":{"payload":"/38="},"event":"media"}"#).unwrap();
    let StreamEvent::Media(media) = e else {
        panic!()
    };
    assert_eq!(media.decode().unwrap(), vec![0xff, 0x7f]);
    assert_eq!(
        parse_event(r#"{"streamSid":"MZ1","event":"transcription"}"#),
        Err(MediaParseError::UnknownEvent("transcription".into()))
    );
    assert!(matches!(
        parse_event(r#"{"streamSid":"MZ1","event":["media"]}"#),
        Err(MediaParseError::Malformed(_))
    ));
    assert_eq!(
        parse_server_message(r#"{"streamSid":"MZ1","event":"clear"}"#).unwrap(),
        ServerMessage::clear("MZ1")
    );
}

#[test]
fn an_unknown_event_must_still_be_valid_json() {
    for bad in [
        r#"{"event":"transcription","streamSid":}"#,
        r#"{"event":"transcription"} trailing"#,
        r#"{"event":"media","media":{"payload":"AAAA"}} {}"#,
        r#"{"event":"media","sequenceNumber":true}"#,
        r#"{}"#,
    ] {
        assert!(
            matches!(parse_event(bad), Err(MediaParseError::Malformed(_))),
            "{bad}: {:?}",
            parse_event(bad)
        );
    }
    // `null` counters read as empty, as before.
    let e =
        parse_event(r#"{"event":"media","sequenceNumber":null,"media":{"payload":""}}"#).unwrap();
    assert_eq!(e.sequence_number(), None);
}

#[test]
fn the_media_writer_writes_what_serde_would() {
    for sid in ["MZ1", "MZ\"quoted\\", "MZ שלום"] {
        let w = MediaWriter::new(sid);
        for frame in [&[][..], &[0xff, 0x7f, 0x00][..], &[0x55; 160][..]] {
            let fast = w.media(frame);
            assert_eq!(fast, ServerMessage::media(sid, frame).to_json());
            assert_eq!(
                parse_server_message(&fast),
                Ok(ServerMessage::media(sid, frame))
            );
        }
    }
}
