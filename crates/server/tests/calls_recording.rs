//! The whole call, recorded by Twilio (V11): every inbound call answers with
//! `<Start><Recording>` (dual channel) before its stream, Twilio (the sim) records both
//! sides apart, the recording is fetched after the call and transcribed with the speakers
//! told apart, and it plays through the API. The answering TwiML is checked against the
//! `<Recording>` noun of Twilio's own Python library (PyPI `twilio`). Outbound calls are
//! recorded whole by the REST request that places them, dual channel as well.

mod common;

use std::time::Duration;

use common::ai::Ai;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN, call_params, new_call_sid};
use common::wait_for;
use common::{Backend, TestApp};
use mokdan::store::calls;
use sim::{CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

async fn world(backend: Backend, extra: &[(&str, String)]) -> (TestApp, Sim, i64) {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()),
        ("TWILIO_API_BASE", sim.api_base()),
        // The caller times its answers by the prompts: the local voice, not the stand-in's.
        ("MOKDAN_TTS", "espeak".to_string()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &vars).await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    let business = mokdan::store::businesses::create(&app.state.db, "מספרת רונית", &phone)
        .await
        .unwrap();
    (app, sim, business)
}

async fn a_call(sim: &Sim, app: &TestApp) -> sim::CallReport {
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, קוראים לי דנה כהן")
        .wait_for_agent(Duration::from_secs(20))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = sim
        .call(sim::CallSpec::new(app.base.clone(), NUMBER, CALLER, script))
        .await
        .unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());
    report
}

async fn a_whole_call_is_recorded_transcribed_by_speaker_and_played(backend: Backend) {
    let ai = Ai::start().await;
    let env: Vec<(&str, String)> = ai.env().into_iter().collect();
    let (app, sim, business) = world(backend, &env).await;
    let report = a_call(&sim, &app).await;
    // Twilio recorded the call from its first moment, both sides on their own channels.
    let [rec] = report.recordings.as_slice() else {
        panic!("one recording: {:?}", report.recordings)
    };
    assert_eq!(rec.source, "StartCallRecordingTwiML");
    assert_eq!(rec.channels, 2);
    // Fetched after the call and transcribed, each line saying who spoke.
    let sid = report.call_sid.clone();
    let row = wait_for("the recording's transcript", 60, || async {
        calls::by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .filter(|r| r.transcription.is_some())
    })
    .await;
    assert_eq!(row.recording_sid.as_deref(), Some(rec.sid.as_str()));
    let transcript = row.transcription.unwrap();
    assert!(
        transcript.contains("מתקשר/ת: ") && transcript.contains("מוקדן: "),
        "both speakers, told apart: {transcript}"
    );
    // The whole recording plays through the API, both channels.
    common::crm::add_user(
        &app,
        "owner@rec.test",
        mokdan::store::users::Role::Owner,
        Some(business),
    )
    .await;
    let token = common::crm::login(&app, "owner@rec.test").await;
    let r = app
        .http
        .get(app.url(&format!("/api/calls/{}/recording", row.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let wav = audio::wav::read(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(wav.channels, 2, "the owner hears both sides");
    app.shutdown().await.unwrap();
}
dual_test!(a_whole_call_is_recorded_transcribed_by_speaker_and_played);

/// An outbound call is recorded whole too, both sides apart (`RecordingChannels=dual` on
/// the REST request that places it), and transcribed by speaker like an inbound one.
async fn an_outbound_call_is_recorded_with_both_sides_apart(backend: Backend) {
    let ai = Ai::start().await;
    let env: Vec<(&str, String)> = ai.env().into_iter().collect();
    let (app, sim, business) = world(backend, &env).await;
    common::crm::add_user(
        &app,
        "owner@out.test",
        mokdan::store::users::Role::Owner,
        Some(business),
    )
    .await;
    let token = common::crm::login(&app, "owner@out.test").await;
    sim.set_callee_script(
        CallerScript::new()
            .wait_for_agent(Duration::from_secs(20))
            .say("הלו, כן, מדברת דנה")
            .wait_for_agent(Duration::from_secs(20))
            .hang_up()
            .max_duration(Duration::from_secs(60)),
    );
    let r = app
        .http
        .post(app.url("/api/calls"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "to": "054-1112222", "business_id": business }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let sid = r.json::<serde_json::Value>().await.unwrap()["call_sid"]
        .as_str()
        .unwrap()
        .to_string();
    let report = sim
        .wait_for_call(&sid, Duration::from_secs(60))
        .await
        .unwrap();
    let [rec] = report.recordings.as_slice() else {
        panic!("one recording: {:?}", report.recordings)
    };
    assert_eq!(rec.source, "OutboundAPI");
    assert_eq!(rec.channels, 2, "both sides apart");
    let row = wait_for("the outbound recording's transcript", 60, || async {
        calls::by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .filter(|r| r.transcription.is_some())
    })
    .await;
    let transcript = row.transcription.unwrap();
    assert!(
        transcript.contains("מוקדן: "),
        "the speakers told apart: {transcript}"
    );
    app.shutdown().await.unwrap();
}
dual_test!(an_outbound_call_is_recorded_with_both_sides_apart);

/// A business that turned recording off: no `<Start><Recording>`, no recording, and no
/// listing of recordings after the call.
async fn a_business_that_records_nothing_leaves_no_recording(backend: Backend) {
    let (app, sim, business) = world(backend, &[]).await;
    mokdan::store::businesses::set_record_calls(&app.state.db, business, false)
        .await
        .unwrap();
    let report = a_call(&sim, &app).await;
    assert!(report.recordings.is_empty(), "{:?}", report.recordings);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listings =
        mokdan::store::jobs::by_kind(&app.state.db, mokdan::calls::post_call::CALL_RECORDINGS)
            .await
            .unwrap();
    assert!(listings.is_empty(), "{listings:?}");
    app.shutdown().await.unwrap();
}
dual_test!(a_business_that_records_nothing_leaves_no_recording);

/// Twilio's own library writes the same `<Recording>` noun, before the stream.
#[tokio::test]
async fn the_recording_twiml_is_what_twilios_library_writes() {
    let Ok(python) = std::env::var("MOKDAN_TWILIO_PYTHON") else {
        eprintln!(
            "skipped: MOKDAN_TWILIO_PYTHON is not set (scripts/test.sh installs PyPI twilio)"
        );
        return;
    };
    let (app, _sim, _) = world(Backend::Sqlite, &[]).await;
    let sid = new_call_sid();
    let r = app
        .post_signed("/webhook/incoming_call", &call_params(&sid, CALLER, NUMBER))
        .await;
    let xml = r.text().await.unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/twiml_recording.py"
    );
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(&app.base)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}\n{xml}");
    assert_eq!(said.trim(), "ok");
    app.shutdown().await.unwrap();
}
