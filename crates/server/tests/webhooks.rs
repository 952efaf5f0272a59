//! The voice webhooks over real HTTP with signed requests, on both databases (V1–V3, V12, S1).

mod common;

use common::twilio::{self, AUTH_TOKEN, call_params, new_call_sid, params};
use common::{Backend, TestApp};
use mokdan::store::calls;
use telephony::twiml::Verb;

const BUSINESS_NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

async fn app_with_business(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, i64) {
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &vars).await;
    let phone = mokdan::domain::Phone::parse(BUSINESS_NUMBER).unwrap();
    let id = mokdan::store::businesses::create(&app.state.db, "מספרת רחל", &phone)
        .await
        .unwrap();
    (app, id)
}

async fn incoming_call_connects_the_stream_and_logs_the_call(backend: Backend) {
    let (app, business_id) = app_with_business(backend, &[]).await;
    let sid = new_call_sid();
    let twiml = app
        .twiml(
            "/webhook/incoming_call",
            &call_params(&sid, CALLER, "03-1234567"),
        )
        .await;

    // The whole call is recorded by Twilio from the first moment, both sides apart (V11):
    // `<Start><Recording>` comes before the stream, and nothing else does.
    let [Verb::Start(start), Verb::Connect(connect)] = twiml.verbs.as_slice() else {
        panic!(
            "expected <Start><Recording> then <Connect>: {:?}",
            twiml.verbs
        );
    };
    let recording = start.recording.as_ref().expect("<Recording>");
    assert_eq!(recording.channels.as_deref(), Some("dual"));
    assert_eq!(
        recording.recording_status_callback.as_deref(),
        Some(app.url("/webhook/recording_status").as_str())
    );
    assert_eq!(
        connect.action.as_deref(),
        Some(app.url("/webhook/stream_ended").as_str())
    );
    let ws = format!("ws://{}/ws/twilio-media", app.addr);
    assert_eq!(connect.stream.url, ws);
    assert_eq!(
        connect.stream.status_callback.as_deref(),
        Some(app.url("/webhook/stream_status").as_str())
    );
    let param = |n: &str| {
        connect
            .stream
            .parameters
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("call_id").as_deref(), Some(sid.as_str()));
    let token = param("token").expect("per-call token");
    assert!(mokdan::calls::token::verify(
        app.state.settings.jwt_secret.expose(),
        &sid,
        &token
    ));

    let row = calls::by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .expect("row written");
    assert_eq!(row.status, "ringing");
    assert_eq!(row.business_id, Some(business_id));
    assert_eq!(row.direction, "inbound");
    assert_eq!(row.from_number.as_deref(), Some(CALLER));
    assert!(
        row.recording_url.is_none() && row.transcription.is_none() && row.call_summary.is_none()
    );
    assert_eq!(app.state.calls.watchdog.armed(), 1);

    // Twilio retries: a repeat makes no second row and the same answer.
    let again = app
        .twiml(
            "/webhook/incoming_call",
            &call_params(&sid, CALLER, BUSINESS_NUMBER),
        )
        .await;
    assert_eq!(again.verbs.len(), 2);
    let list = calls::list(&app.state.db, business_id, 10).await.unwrap();
    assert_eq!(list.len(), 1);
    app.shutdown().await.unwrap();
}
dual_test!(incoming_call_connects_the_stream_and_logs_the_call);

/// A business that turned recording off answers with the stream alone (V11).
async fn a_business_that_records_nothing_answers_with_the_stream_alone(backend: Backend) {
    let (app, business_id) = app_with_business(backend, &[]).await;
    assert!(
        mokdan::store::businesses::set_record_calls(&app.state.db, business_id, false)
            .await
            .unwrap()
    );
    let sid = new_call_sid();
    let twiml = app
        .twiml(
            "/webhook/incoming_call",
            &call_params(&sid, CALLER, BUSINESS_NUMBER),
        )
        .await;
    assert!(
        matches!(twiml.verbs.as_slice(), [Verb::Connect(_)]),
        "{:?}",
        twiml.verbs
    );
    app.shutdown().await.unwrap();
}
dual_test!(a_business_that_records_nothing_answers_with_the_stream_alone);

async fn urls_come_from_public_base_url(backend: Backend) {
    let (app, _) = app_with_business(
        backend,
        &[("PUBLIC_BASE_URL", "https://calls.example.co.il/")],
    )
    .await;
    let sid = new_call_sid();
    let form = call_params(&sid, CALLER, BUSINESS_NUMBER);
    // Twilio signs the public URL it called, not the address the server listens on.
    let r = app
        .post_signed_as(
            "/webhook/incoming_call",
            "https://calls.example.co.il/webhook/incoming_call",
            &form,
        )
        .await;
    assert_eq!(r.status(), 200);
    let t = telephony::twiml::parse(&r.text().await.unwrap()).unwrap();
    let Some(c) = t.stream_connect() else {
        panic!()
    };
    assert_eq!(c.stream.url, "wss://calls.example.co.il/ws/twilio-media");
    assert_eq!(
        c.action.as_deref(),
        Some("https://calls.example.co.il/webhook/stream_ended")
    );
    // The listener's own URL is not what Twilio signed: refused.
    let r = app.post_signed("/webhook/incoming_call", &form).await;
    assert_eq!(r.status(), 403);
    app.shutdown().await.unwrap();
}
dual_test!(urls_come_from_public_base_url);

#[tokio::test]
async fn forwarded_headers_make_the_urls_when_no_base_is_set() {
    let (app, _) = app_with_business(Backend::Sqlite, &[]).await;
    let form = call_params(&new_call_sid(), CALLER, BUSINESS_NUMBER);
    let sig = telephony::signature::compute(
        AUTH_TOKEN,
        "https://proxy.example/webhook/incoming_call",
        &form,
    );
    let r = app
        .http
        .post(app.url("/webhook/incoming_call"))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "proxy.example")
        .header("X-Twilio-Signature", sig)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = telephony::twiml::parse(&r.text().await.unwrap()).unwrap();
    let Some(c) = t.stream_connect() else {
        panic!()
    };
    assert_eq!(c.stream.url, "wss://proxy.example/ws/twilio-media");
    app.shutdown().await.unwrap();
}

async fn unknown_number_hears_an_apology_it_can_fetch(backend: Backend) {
    let (app, _) = app_with_business(backend, &[]).await;
    let sid = new_call_sid();
    let t = app
        .twiml(
            "/webhook/incoming_call",
            &call_params(&sid, CALLER, "+97229999999"),
        )
        .await;
    let [Verb::Play(play), Verb::Hangup] = t.verbs.as_slice() else {
        panic!("expected <Play/><Hangup/>: {:?}", t.verbs)
    };
    // The call is logged all the same (V3), with no business.
    let row = calls::by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .expect("the unknown number's call is logged");
    assert_eq!(row.business_id, None);
    assert_eq!(row.to_number.as_deref(), Some("+97229999999"));
    assert_eq!(row.from_number.as_deref(), Some(CALLER));
    assert_eq!(row.direction, "inbound");
    assert_eq!(row.status, "ringing");
    assert!(
        play.url.starts_with(&app.url("/static/tts/")),
        "{}",
        play.url
    );
    let r = app.http.get(&play.url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let wav = audio::wav::read(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(wav.sample_rate, 8000);
    assert!(wav.samples.len() > 8000, "the apology lasts over a second");
    let head = app.http.head(&play.url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "audio/wav");
    let cached = app
        .http
        .get(&play.url)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(
        app.get("/static/tts/p-0000000000000000000a.wav")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get("/static/tts/..%2F..%2Fetc%2Fpasswd").await.status(),
        404
    );
    app.shutdown().await.unwrap();
}
dual_test!(unknown_number_hears_an_apology_it_can_fetch);

async fn every_webhook_refuses_bad_signatures(backend: Backend) {
    let (app, _) = app_with_business(backend, &[]).await;
    let form = call_params(&new_call_sid(), CALLER, BUSINESS_NUMBER);
    for path in [
        "/webhook/incoming_call",
        "/webhook/outbound_call",
        "/webhook/call_status",
        "/webhook/stream_status",
        "/webhook/stream_ended",
        "/webhook/handle_recording",
        "/webhook/recording_status",
        "/webhook/transfer_ended",
    ] {
        let unsigned = app
            .http
            .post(app.url(path))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), 403, "unsigned {path}");
        let forged = app
            .http
            .post(app.url(path))
            .header("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "forged {path}");
        let wrong_url = app
            .post_signed_as(path, &app.url("/webhook/other"), &form)
            .await;
        assert_eq!(wrong_url.status(), 403, "wrong url {path}");
        let mut tampered = form.clone();
        let sig = telephony::signature::compute(AUTH_TOKEN, &app.url(path), &tampered);
        tampered.push(("Digits".into(), "1".into()));
        let r = app
            .http
            .post(app.url(path))
            .header("X-Twilio-Signature", sig)
            .form(&tampered)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "tampered {path}");
    }
    // Nothing was written by refused requests.
    let sid = &form.iter().find(|(k, _)| k == "CallSid").unwrap().1;
    assert!(calls::by_sid(&app.state.db, sid).await.unwrap().is_none());
    app.shutdown().await.unwrap();
}
dual_test!(every_webhook_refuses_bad_signatures);

async fn statuses_only_move_forward(backend: Backend) {
    let (app, _) = app_with_business(backend, &[]).await;
    let sid = new_call_sid();
    app.twiml(
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, BUSINESS_NUMBER),
    )
    .await;
    let status = |s: &str, d: Option<&str>| {
        let mut p = params(&[
            ("CallSid", &sid),
            ("CallStatus", s),
            ("AccountSid", twilio::ACCOUNT_SID),
        ]);
        if let Some(d) = d {
            p.push(("CallDuration".into(), d.into()));
        }
        p
    };
    for (s, d) in [
        ("in-progress", None),
        ("completed", Some("42")),
        ("ringing", None),
        ("in-progress", None),
        ("completed", Some("42")),
    ] {
        let r = app.post_signed("/webhook/call_status", &status(s, d)).await;
        assert_eq!(r.status(), 204, "{s}");
    }
    let row = calls::by_sid(&app.state.db, &sid).await.unwrap().unwrap();
    assert_eq!(row.status, "completed");
    assert_eq!(row.duration_secs, Some(42));
    assert_eq!(
        app.state.calls.watchdog.armed(),
        0,
        "completion disarms the watchdog"
    );

    // A status for a call that was never logged still lands.
    let lost = new_call_sid();
    let mut p = status("completed", Some("7"));
    p[0].1 = lost.clone();
    assert_eq!(
        app.post_signed("/webhook/call_status", &p).await.status(),
        204
    );
    assert_eq!(
        calls::by_sid(&app.state.db, &lost)
            .await
            .unwrap()
            .unwrap()
            .status,
        "completed"
    );
    app.shutdown().await.unwrap();
}
dual_test!(statuses_only_move_forward);

async fn a_stream_that_never_started_falls_back_to_recording_once(backend: Backend) {
    let (app, _) = app_with_business(backend, &[]).await;
    let sid = new_call_sid();
    app.twiml(
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, BUSINESS_NUMBER),
    )
    .await;
    assert_eq!(
        app.post_signed(
            "/webhook/stream_status",
            &params(&[
                ("CallSid", &sid),
                ("StreamEvent", "stream-error"),
                ("StreamError", "31920")
            ])
        )
        .await
        .status(),
        204
    );
    let t = app
        .twiml(
            "/webhook/stream_ended",
            &call_params(&sid, CALLER, BUSINESS_NUMBER),
        )
        .await;
    let [Verb::Play(play), Verb::Record(rec), Verb::Hangup] = t.verbs.as_slice() else {
        panic!("expected fallback <Play/><Record/><Hangup/>: {:?}", t.verbs)
    };
    assert!(play.url.starts_with(&app.url("/static/tts/")));
    assert_eq!(
        rec.action.as_deref(),
        Some(app.url("/webhook/handle_recording").as_str())
    );
    assert!(rec.max_length.is_some());
    let row = calls::by_sid(&app.state.db, &sid).await.unwrap().unwrap();
    assert_eq!(row.status, "fallback_recording");
    assert_eq!(row.fallback_reason.as_deref(), Some("stream_never_started"));

    // Asked again (a retry, or a loop): it hangs up instead of recording twice.
    let t = app
        .twiml(
            "/webhook/stream_ended",
            &call_params(&sid, CALLER, BUSINESS_NUMBER),
        )
        .await;
    assert!(
        matches!(t.verbs.as_slice(), [Verb::Hangup]),
        "{:?}",
        t.verbs
    );

    // The recording arrives; the caller is thanked.
    let rec_form = params(&[
        ("CallSid", &sid),
        ("AccountSid", twilio::ACCOUNT_SID),
        (
            "RecordingUrl",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        ),
        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
        ("RecordingDuration", "9"),
    ]);
    let t = app.twiml("/webhook/handle_recording", &rec_form).await;
    assert!(
        matches!(t.verbs.as_slice(), [Verb::Play(_), Verb::Hangup]),
        "{:?}",
        t.verbs
    );
    assert_eq!(
        app.post_signed("/webhook/recording_status", &rec_form)
            .await
            .status(),
        204
    );
    let row = calls::by_sid(&app.state.db, &sid).await.unwrap().unwrap();
    assert_eq!(row.status, "recorded");
    assert_eq!(
        row.recording_sid.as_deref(),
        Some("RE0123456789abcdef0123456789abcdef")
    );
    assert_eq!(row.recording_duration, Some(9));
    assert!(row.recording_url.unwrap().contains("/Recordings/RE1"));
    // A late `completed` does not undo `recorded`.
    let done = params(&[
        ("CallSid", &sid),
        ("CallStatus", "completed"),
        ("CallDuration", "30"),
    ]);
    app.post_signed("/webhook/call_status", &done).await;
    assert_eq!(
        calls::by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .unwrap()
            .status,
        "recorded"
    );
    app.shutdown().await.unwrap();
}
dual_test!(a_stream_that_never_started_falls_back_to_recording_once);

async fn bad_input_never_gets_a_500(backend: Backend) {
    let (app, _) = app_with_business(backend, &[]).await;
    // Signed but missing every field Twilio normally sends.
    for path in [
        "/webhook/incoming_call",
        "/webhook/stream_ended",
        "/webhook/handle_recording",
        "/webhook/transfer_ended",
    ] {
        let t = app.twiml(path, &[]).await;
        assert!(
            matches!(t.verbs.last(), Some(Verb::Hangup)),
            "{path}: {:?}",
            t.verbs
        );
    }
    for path in [
        "/webhook/call_status",
        "/webhook/recording_status",
        "/webhook/stream_status",
    ] {
        assert_eq!(app.post_signed(path, &[]).await.status(), 204, "{path}");
    }
    // A CallSid that is not one.
    let t = app
        .twiml(
            "/webhook/incoming_call",
            &params(&[("CallSid", "'; DROP TABLE call_logs; --")]),
        )
        .await;
    assert!(matches!(t.verbs.last(), Some(Verb::Hangup)));
    // Bytes that are not a form, signed over no params.
    let sig = telephony::signature::compute(AUTH_TOKEN, &app.url("/webhook/incoming_call"), &[]);
    let r = app
        .http
        .post(app.url("/webhook/incoming_call"))
        .header("X-Twilio-Signature", &sig)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, 0x00, 0x26, 0x3d])
        .send()
        .await
        .unwrap();
    assert!(r.status() == 200 || r.status() == 403, "{}", r.status());
    // Oversized bodies are refused before any work.
    let big = "x".repeat(200 * 1024);
    let r = app
        .http
        .post(app.url("/webhook/incoming_call"))
        .header("X-Twilio-Signature", &sig)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    app.shutdown().await.unwrap();
}
dual_test!(bad_input_never_gets_a_500);

#[tokio::test]
async fn development_without_a_token_accepts_unsigned_webhooks() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let phone = mokdan::domain::Phone::parse(BUSINESS_NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "x", &phone)
        .await
        .unwrap();
    let r = app
        .http
        .post(app.url("/webhook/incoming_call"))
        .form(&call_params(&new_call_sid(), CALLER, BUSINESS_NUMBER))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.shutdown().await.unwrap();
}
