//! Tests for the TwiML builder and parser: exact output, escaping, Hebrew, and
//! round-trips, plus examples from Twilio's documentation.

use super::*;

const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

fn full_response() -> Response {
    Response::new()
        .play("https://x.test/a.mp3?x=1&y=2")
        .pause(1)
        .say(
            Say::new("שלום, איך אפשר לעזור?")
                .voice("Google.he-IL-Wavenet-A")
                .language("he-IL"),
        )
        .record(
            Record::new("/webhook/handle_recording?call=1&x=2")
                .method("POST")
                .max_length(120)
                .timeout(5)
                .play_beep(true)
                .finish_on_key("#")
                .recording_status_callback("/webhook/recording_status")
                .trim("trim-silence"),
        )
        .redirect(Redirect::new("/next").method("GET"))
        .dial(
            Dial::new("+972501234567")
                .caller_id("+97231234567")
                .action("/dialed")
                .timeout(20),
        )
        .gather(
            Gather::new()
                .input("dtmf speech")
                .action("/gathered")
                .timeout(3)
                .num_digits(1)
                .child(Say::new("הקישו 1"))
                .child(Play::new("https://x.test/b.wav").loop_(2))
                .child(Pause { length: None }),
        )
        .connect(
            Connect::new(
                Stream::new("wss://h.test/ws/twilio-media")
                    .name("agent")
                    .track("inbound_track")
                    .status_callback("https://h.test/webhook/stream_status?a=1&b=2")
                    .status_callback_method("POST")
                    .parameter("token", "a\"b'c<d>&e")
                    .parameter("call", "CA1"),
            )
            .action("/webhook/stream_ended"),
        )
        .verb(Verb::Unknown("Leave".into()))
        .hangup()
}

#[test]
fn empty_response() {
    assert_eq!(Response::new().to_xml(), format!("{DECL}<Response/>"));
    assert_eq!(parse(&Response::new().to_xml()).unwrap(), Response::new());
}

#[test]
fn exact_output_of_fallback_shape() {
    let xml = Response::new()
        .say(Say::new("השאירו הודעה").language("he-IL"))
        .record(
            Record::new("/webhook/handle_recording")
                .max_length(120)
                .play_beep(true),
        )
        .hangup()
        .to_xml();
    assert_eq!(
        xml,
        format!(
            "{DECL}<Response><Say language=\"he-IL\">השאירו הודעה</Say>\
             <Record action=\"/webhook/handle_recording\" maxLength=\"120\" playBeep=\"true\"/>\
             <Hangup/></Response>"
        )
    );
}

#[test]
fn exact_output_of_connect_stream() {
    let xml = Response::new()
        .connect(
            Connect::new(
                Stream::new("wss://h.test/ws?a=1&b=2")
                    .parameter("token", "t0k")
                    .status_callback("https://h.test/s"),
            )
            .action("https://h.test/ended"),
        )
        .to_xml();
    assert_eq!(
        xml,
        format!(
            "{DECL}<Response><Connect action=\"https://h.test/ended\">\
             <Stream url=\"wss://h.test/ws?a=1&amp;b=2\" statusCallback=\"https://h.test/s\">\
             <Parameter name=\"token\" value=\"t0k\"/></Stream></Connect></Response>"
        )
    );
}

#[test]
fn escapes_text_and_attributes() {
    let xml = Response::new()
        .say(Say::new(r#"Tom & "Jerry" <3 'x'"#).voice("a&b\"c"))
        .play("https://x.test/p?a=1&b=<2>")
        .to_xml();
    assert!(
        xml.contains(
            "<Say voice=\"a&amp;b&quot;c\">Tom &amp; &quot;Jerry&quot; &lt;3 &apos;x&apos;</Say>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<Play>https://x.test/p?a=1&amp;b=&lt;2&gt;</Play>"),
        "{xml}"
    );
    let back = parse(&xml).unwrap();
    assert_eq!(
        back.verbs[0],
        Verb::Say(Say::new(r#"Tom & "Jerry" <3 'x'"#).voice("a&b\"c"))
    );
    assert_eq!(
        back.verbs[1],
        Verb::Play(Play::new("https://x.test/p?a=1&b=<2>"))
    );
}

#[test]
fn control_characters_never_break_the_document() {
    let text = "line1\nline2\ttab\r\u{0}\u{7}end";
    let xml = Response::new()
        .say(text)
        .connect(Connect::new(Stream::new("x").parameter("k", "a\nb\tc")))
        .to_xml();
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{7}'));
    let back = parse(&xml).unwrap();
    assert_eq!(back.verbs[0], Verb::Say(Say::new("line1\nline2\ttab\rend")));
    let Verb::Connect(c) = &back.verbs[1] else {
        panic!("{back:?}")
    };
    assert_eq!(c.stream.parameters, vec![("k".into(), "a\nb\tc".into())]);
}

#[test]
fn hebrew_is_kept_verbatim() {
    let text = "שלום! תודה שהתקשרתם לעסק שלנו.";
    let xml = Response::new().say(text).to_xml();
    assert!(xml.contains(text));
    assert_eq!(parse(&xml).unwrap().verbs, vec![Verb::Say(Say::new(text))]);
}

#[test]
fn round_trips_every_field() {
    let r = full_response();
    let xml = r.to_xml();
    assert_eq!(parse(&xml).unwrap(), r);
    assert_eq!(xml.parse::<Response>().unwrap(), r);
    assert_eq!(r.to_string(), xml);
}

#[test]
fn attribute_names_are_twilios() {
    let xml = full_response().to_xml();
    for needle in [
        "maxLength=\"120\"",
        "playBeep=\"true\"",
        "finishOnKey=\"#\"",
        "recordingStatusCallback=\"/webhook/recording_status\"",
        "trim=\"trim-silence\"",
        "callerId=\"+97231234567\"",
        "numDigits=\"1\"",
        "loop=\"2\"",
        "statusCallback=\"https://h.test/webhook/stream_status?a=1&amp;b=2\"",
        "statusCallbackMethod=\"POST\"",
        "track=\"inbound_track\"",
        "name=\"agent\"",
        "<Redirect method=\"GET\">/next</Redirect>",
        "<Pause length=\"1\"/>",
        "<Pause/>",
        "<Leave/>",
        "<Dial action=\"/dialed\" callerId=\"+97231234567\" timeout=\"20\">+972501234567</Dial>",
        "value=\"a&quot;b&apos;c&lt;d&gt;&amp;e\"",
    ] {
        assert!(xml.contains(needle), "missing {needle} in {xml}");
    }
}

#[test]
fn parses_docs_connect_stream_example() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
    <Connect>
        <Stream url="wss://example.com/audiostream">
            <Parameter name="aCustomParameter" value="aCustomValue that was set in TwiML" />
            <Parameter name="avalue" value="Another custom value" />
        </Stream>
    </Connect>
    <Say>This TwiML instruction is unreachable unless the Stream is ended by your WebSocket server.</Say>
</Response>"#;
    let r = parse(xml).unwrap();
    let Verb::Connect(c) = &r.verbs[0] else {
        panic!("{r:?}")
    };
    assert_eq!(c.stream.url, "wss://example.com/audiostream");
    assert_eq!(
        c.stream.parameters,
        vec![
            (
                "aCustomParameter".into(),
                "aCustomValue that was set in TwiML".into()
            ),
            ("avalue".into(), "Another custom value".into())
        ]
    );
    assert!(matches!(&r.verbs[1], Verb::Say(s) if s.text.starts_with("This TwiML")));
}

#[test]
fn parses_docs_gather_record_and_dial_examples() {
    let xml = r#"<Response>
    <Gather input="speech dtmf" timeout="3" numDigits="1" speechTimeout="auto">
        <Say>Please press 1 or say sales for sales.</Say>
    </Gather>
    <Record timeout="10" transcribe="true" />
    <Dial callerId="+15551112222"><Number sendDigits="wwww1928">415-123-4567</Number></Dial>
    <Play loop="10">https://api.twilio.com/cowbell.mp3</Play>
    <Enqueue waitUrl="wait-music.xml">support</Enqueue>
    <Connect><Room>DailyStandup</Room></Connect>
    <Say voice="woman" language="fr-FR"><![CDATA[Chapeau & co]]></Say>
</Response>"#;
    let r = parse(xml).unwrap();
    let Verb::Gather(g) = &r.verbs[0] else {
        panic!("{r:?}")
    };
    assert_eq!(
        (g.input.as_deref(), g.timeout, g.num_digits),
        (Some("speech dtmf"), Some(3), Some(1))
    );
    assert_eq!(
        g.children,
        vec![Verb::Say(Say::new(
            "Please press 1 or say sales for sales."
        ))]
    );
    assert_eq!(
        r.verbs[1],
        Verb::Record(Record {
            timeout: Some(10),
            ..Record::default()
        })
    );
    assert_eq!(
        r.verbs[2],
        Verb::Dial(Dial::new("415-123-4567").caller_id("+15551112222"))
    );
    assert_eq!(
        r.verbs[3],
        Verb::Play(Play::new("https://api.twilio.com/cowbell.mp3").loop_(10))
    );
    assert_eq!(r.verbs[4], Verb::Unknown("Enqueue".into()));
    assert_eq!(r.verbs[5], Verb::Unknown("Connect".into()));
    assert_eq!(
        r.verbs[6],
        Verb::Say(Say::new("Chapeau & co").voice("woman").language("fr-FR"))
    );
}

#[test]
fn rejects_bad_documents() {
    assert!(matches!(parse("<Say>x</Say>"), Err(TwimlError::NotResponse(n)) if n == "Say"));
    assert!(matches!(
        parse("<Response><Say>x</Response>"),
        Err(TwimlError::Xml(_))
    ));
    assert!(matches!(parse("<Response>"), Err(TwimlError::Xml(_))));
    assert!(matches!(parse(""), Err(TwimlError::Xml(_))));
    assert!(matches!(
        parse(r#"<Response><Pause length="soon"/></Response>"#),
        Err(TwimlError::InvalidAttribute { attribute, .. }) if attribute == "length"
    ));
    assert!(matches!(
        parse(r#"<Response><Record playBeep="maybe"/></Response>"#),
        Err(TwimlError::InvalidAttribute { .. })
    ));
    assert!(matches!(
        parse("<Response><Connect><Stream/></Connect></Response>"),
        Err(TwimlError::Missing { .. })
    ));
}

#[test]
fn start_recording_round_trips_before_a_stream() {
    use super::{Recording, Start};
    let doc = Response::new()
        .start(Start::recording(
            Recording::new()
                .status_callback("https://x.example/webhook/recording_status?a=1&b=2")
                .status_callback_event("completed")
                .channels("dual"),
        ))
        .connect(Connect::new(Stream::new("wss://x.example/ws")));
    let xml = doc.to_xml();
    assert!(xml.contains(
        "<Start><Recording recordingStatusCallback=\"https://x.example/webhook/recording_status?a=1&amp;b=2\" \
         recordingStatusCallbackEvent=\"completed\" channels=\"dual\"/></Start><Connect>"
    ), "{xml}");
    assert_eq!(parse(&xml).unwrap(), doc);
}

#[test]
fn start_with_children_we_do_not_model_still_parses() {
    let doc =
        parse("<Response><Start><Stream url=\"wss://a\"/></Start><Hangup/></Response>").unwrap();
    match &doc.verbs[0] {
        Verb::Start(s) => {
            assert!(s.recording.is_none());
            assert_eq!(s.other, vec!["Stream".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn character_references_and_unknown_entities() {
    let r =
        parse("<Response><Say>&#1513;&#x5DC;&#1493;&#1501; &amp; bye</Say></Response>").unwrap();
    assert_eq!(r.verbs, vec![Verb::Say(Say::new("שלום & bye"))]);
    assert!(matches!(
        parse("<Response><Say>&nbsp;</Say></Response>"),
        Err(TwimlError::Xml(_))
    ));
}
