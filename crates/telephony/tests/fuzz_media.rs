//! Property-based fuzzing of the Media Streams parser (V5, S3).
//!
//! The media socket has no HTTP signature: until its `start` is checked, every frame comes
//! from whoever connected. So `parse_event` must never panic on any text, must tell an
//! event it does not know (logged and skipped) from garbage (counted toward closing the
//! socket), and must read back exactly what Twilio sends, counters as strings or numbers.
//! Only the public behaviour is tested, so the parser's internals can change freely.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use telephony::media::{
    MediaParseError, ServerMessage, StartMeta, StreamEvent, parse_event, parse_server_message,
};

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("MOKDAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const KNOWN: &[&str] = &["connected", "start", "media", "dtmf", "mark", "stop"];

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~א-ת]{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names, mostly the ones the parser reads.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "event",
            "sequenceNumber",
            "streamSid",
            "start",
            "media",
            "dtmf",
            "mark",
            "stop",
            "payload",
            "track",
            "chunk",
            "timestamp",
            "customParameters",
            "callSid",
            "accountSid",
            "tracks",
            "mediaFormat",
            "sampleRate",
            "channels",
            "name",
            "digit",
            "protocol",
            "version",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z]{1,8}",
    ]
}

/// A JSON object shaped like a frame: a known event (or not) and fields of any type.
fn frame_like() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            prop::sample::select(KNOWN.to_vec()).prop_map(|e| json!(e)),
            json_value(),
        ],
        prop::collection::btree_map(field_name(), json_value(), 0..8),
    )
        .prop_map(|(event, fields)| {
            let mut obj: serde_json::Map<String, Value> = fields.into_iter().collect();
            obj.insert("event".into(), event);
            Value::Object(obj)
        })
}

fn sid() -> impl Strategy<Value = String> {
    prop_oneof!["(MZ|CA|AC)[0-9a-f]{32}", "[ -~א-ת]{0,20}"]
}

/// A valid event, as Twilio sends it.
fn event() -> impl Strategy<Value = StreamEvent<'static>> {
    prop_oneof![
        Just(StreamEvent::connected()),
        (
            any::<u64>(),
            sid(),
            sid(),
            sid(),
            prop::collection::btree_map("[a-z_]{1,10}", "[ -~א-ת]{0,20}", 0..5),
        )
            .prop_map(
                |(n, acc, call, stream, custom): (
                    u64,
                    String,
                    String,
                    String,
                    BTreeMap<String, String>
                )| {
                    let mut meta = StartMeta::new(acc, call, stream);
                    for (k, v) in custom {
                        meta = meta.custom_parameter(k, v);
                    }
                    StreamEvent::start(n, meta)
                }
            ),
        (
            sid(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..400)
        )
            .prop_map(|(s, n, c, t, audio)| StreamEvent::media(s, n, c, t, &audio)),
        (sid(), any::<u64>(), "[0-9*#]").prop_map(|(s, n, d)| StreamEvent::dtmf(s, n, d)),
        (sid(), any::<u64>(), "[ -~]{0,30}").prop_map(|(s, n, m)| StreamEvent::mark(s, n, m)),
        (sid(), any::<u64>(), sid(), sid()).prop_map(|(s, n, a, c)| StreamEvent::stop(s, n, a, c)),
    ]
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn any_text_never_panics(text in prop_oneof![any::<String>(), "[{}\\[\\]\":,a-z0-9 ]{0,80}"]) {
        let _ = parse_event(&text);
        let _ = parse_server_message(&text);
    }

    #[test]
    fn frame_shaped_json_never_panics(value in frame_like()) {
        let text = value.to_string();
        match parse_event(&text) {
            Ok(event) => {
                // What parsed reports its own stream and counter without panicking.
                let _ = event.stream_sid();
                let _ = event.sequence_number();
                let _ = event.to_json();
            }
            Err(MediaParseError::UnknownEvent(name)) => {
                prop_assert!(!KNOWN.contains(&name.as_str()));
                prop_assert_eq!(value.get("event"), Some(&Value::String(name)));
            }
            Err(MediaParseError::Malformed(_)) => {}
        }
        let _ = parse_server_message(&text);
    }

    #[test]
    fn valid_events_round_trip(event in event()) {
        let text = event.to_json();
        prop_assert_eq!(parse_event(&text), Ok(event));
    }

    #[test]
    fn counters_may_be_numbers_or_strings(n in any::<u64>(), sid in "MZ[0-9a-f]{32}") {
        let as_string = json!({"event": "mark", "sequenceNumber": n.to_string(), "streamSid": sid, "mark": {"name": "x"}});
        let as_number = json!({"event": "mark", "sequenceNumber": n, "streamSid": sid, "mark": {"name": "x"}});
        let a = parse_event(&as_string.to_string()).unwrap();
        let b = parse_event(&as_number.to_string()).unwrap();
        prop_assert_eq!(a.sequence_number(), Some(n));
        prop_assert_eq!(a, b);
    }

    #[test]
    fn unknown_events_are_told_apart_from_garbage(name in "[a-z_]{1,12}", junk in "[^{\\[\"0-9tfn -]{1,20}") {
        prop_assume!(!KNOWN.contains(&name.as_str()));
        let unknown = json!({"event": name, "streamSid": "MZ1"}).to_string();
        prop_assert_eq!(parse_event(&unknown), Err(MediaParseError::UnknownEvent(name)));
        prop_assert!(matches!(parse_event(&junk), Err(MediaParseError::Malformed(_))));
    }

    #[test]
    fn server_messages_round_trip(
        stream in "MZ[0-9a-f]{32}",
        audio in prop::collection::vec(any::<u8>(), 0..400),
        mark in "[ -~]{0,30}",
    ) {
        for msg in [
            ServerMessage::media(stream.clone(), &audio),
            ServerMessage::mark(stream.clone(), mark.clone()),
            ServerMessage::clear(stream.clone()),
        ] {
            prop_assert_eq!(parse_server_message(&msg.to_json()), Ok(msg));
        }
    }
}
