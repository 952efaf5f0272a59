//! Every call that ran on the media stream is summarised into a lead (V10), on both
//! databases, with and without speech-to-text: the end of the stream queues the post-call
//! work once, the summary is made from the conversation's turns, and the caller becomes
//! (or updates) a customer of the business — once, however often the work is queued.

mod common;

use std::time::Duration;

use common::ai::Ai;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::wait_for;
use common::{Backend, TestApp};
use mokdan::calls::post_call::{STREAMED_CALL, SUMMARISE, streamed};
use mokdan::store::{calls, customers, jobs};
use sim::{CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

/// A short conversation through the sim; the caller hangs up after answering twice.
async fn streamed_call(app: &TestApp, sim: &Sim) -> String {
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, קוראים לי דנה כהן")
        .wait_for_agent(Duration::from_secs(20))
        .say("אני רוצה לקבוע תור לבדיקה")
        .wait_for_agent(Duration::from_secs(20))
        .hang_up()
        .max_duration(Duration::from_secs(90));
    let spec = sim::CallSpec::new(app.base.clone(), NUMBER, CALLER, script);
    let report = sim.call(spec).await.unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());
    report.call_sid
}

async fn world(backend: Backend, extra: &[(&str, String)]) -> (TestApp, Sim, i64) {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()),
        ("TWILIO_API_BASE", api),
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

/// Waits for the call's summary and returns the call; the post-call work ran once.
async fn summarised(app: &TestApp, sid: &str) -> calls::CallRow {
    let row = wait_for("the call's summary", 60, || async {
        calls::by_sid(&app.state.db, sid)
            .await
            .unwrap()
            .filter(|r| r.call_summary.is_some())
    })
    .await;
    for kind in [STREAMED_CALL, SUMMARISE] {
        let of_call: Vec<_> = jobs::by_kind(&app.state.db, kind)
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.payload.contains(sid))
            .collect();
        assert_eq!(of_call.len(), 1, "one {kind} job per call: {of_call:?}");
    }
    row
}

/// The same work queued again (a retry, another node) adds nothing: one lead, one summary.
async fn queued_again_changes_nothing(app: &TestApp, business: i64, sid: &str) {
    streamed::enqueue(&app.state.db, sid, Duration::ZERO)
        .await
        .unwrap();
    streamed::call_completed(&app.state.db, sid).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for kind in [STREAMED_CALL, SUMMARISE] {
        let n = jobs::by_kind(&app.state.db, kind)
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.payload.contains(sid))
            .count();
        assert_eq!(n, 1, "still one {kind} job");
    }
    let (leads,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM customers WHERE business_id = $1 AND phone = $2")
            .bind(business)
            .bind(CALLER)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(leads, 1, "one lead for the caller");
}

async fn a_streamed_call_without_speech_to_text_becomes_a_lead(backend: Backend) {
    let (app, sim, business) = world(backend, &[]).await;
    let sid = streamed_call(&app, &sim).await;
    let row = summarised(&app, &sid).await;
    let summary = row.call_summary.clone().unwrap();
    assert!(
        summary.contains("הודעה קולית"),
        "the answers kept as audio are named in the summary: {summary}"
    );
    let (customer_id, turns_with_audio): (Option<i64>, i64) = sqlx::query_as(
        "SELECT c.customer_id, (SELECT COUNT(*) FROM call_turns t WHERE t.call_sid = c.call_sid \
         AND t.caller_audio_path IS NOT NULL) FROM call_logs c WHERE c.call_sid = $1",
    )
    .bind(&sid)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert!(turns_with_audio >= 2, "the caller's audio is kept");
    let phone = mokdan::domain::Phone::parse(CALLER).unwrap();
    let lead = customers::by_phone(&app.state.db, business, &phone)
        .await
        .unwrap()
        .expect("the caller is a lead of the business");
    assert_eq!(customer_id, Some(lead.id), "the call is filed on the lead");
    the_answers_can_be_heard(&app, business, row.id).await;
    queued_again_changes_nothing(&app, business, &sid).await;
    app.shutdown().await.unwrap();
}
dual_test!(a_streamed_call_without_speech_to_text_becomes_a_lead);

/// With speech-to-text, each answer shows its transcript and still has a player for the
/// caller's own voice on the call's page (#22).
async fn each_answer_reads_and_plays(app: &TestApp, business: i64, call_id: i64) {
    use mokdan::store::users::Role;
    common::crm::add_user(app, "owner@stt.test", Role::Owner, Some(business)).await;
    let token = common::crm::login(app, "owner@stt.test").await;
    let (_, call) = common::crm::get(app, &format!("/api/calls/{call_id}"), &token).await;
    let both: Vec<&serde_json::Value> = call["turns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["has_audio"] == 1 && t["caller_text"].as_str().is_some_and(|c| !c.is_empty()))
        .collect();
    assert!(
        both.len() >= 2,
        "transcript and audio on each answer: {call}"
    );
    let web = common::web::sign_in(app, "owner@stt.test", common::crm::PASSWORD).await;
    let (status, _, page) = common::web::get(&web, app, &format!("/app/biz/calls/{call_id}")).await;
    assert_eq!(status, 200);
    for t in both {
        let text = t["caller_text"].as_str().unwrap();
        let audio = format!("/api/calls/{call_id}/turns/{}/audio", t["turn_index"]);
        let bubble = page
            .split("<p class=\"bubble in\">")
            .find(|b| b.contains(&audio))
            .unwrap_or_else(|| panic!("a player for {audio}: {page}"));
        let bubble = bubble.split("</p>").next().unwrap();
        assert!(
            bubble.contains(&askama_escape(text)),
            "the transcript beside its audio: {bubble}"
        );
    }
}

/// How askama writes text into HTML (the quotes and angle brackets a transcript may hold).
fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// The business hears the answers kept as audio through the API; another business cannot.
async fn the_answers_can_be_heard(app: &TestApp, business: i64, call_id: i64) {
    use mokdan::store::users::Role;
    common::crm::add_user(app, "owner@example.com", Role::Owner, Some(business)).await;
    let token = common::crm::login(app, "owner@example.com").await;
    let (status, call) = common::crm::get(app, &format!("/api/calls/{call_id}"), &token).await;
    assert_eq!(status, 200, "{call}");
    let turns = call["turns"].as_array().unwrap();
    let audio: Vec<i64> = turns
        .iter()
        .filter(|t| t["has_audio"] == 1)
        .map(|t| t["turn_index"].as_i64().unwrap())
        .collect();
    assert!(audio.len() >= 2, "{call}");
    let url = app.url(&format!("/api/calls/{call_id}/turns/{}/audio", audio[0]));
    let r = app.http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"RIFF"), "a WAV file");

    let other = common::crm::add_business(app, "מוסך אחר", "+97239998888").await;
    common::crm::add_user(app, "other@example.com", Role::Owner, Some(other)).await;
    let stranger = common::crm::login(app, "other@example.com").await;
    let r = app
        .http
        .get(&url)
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "another business's call (C4)");
    let none = app.url(&format!("/api/calls/{call_id}/turns/999/audio"));
    let r = app
        .http
        .get(&none)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

async fn a_streamed_call_with_speech_to_text_is_summarised_by_the_llm(backend: Backend) {
    let ai = Ai::start().await;
    let env: Vec<(&str, String)> = ai.env().into_iter().collect();
    let (app, sim, business) = world(backend, &env).await;
    let sid = streamed_call(&app, &sim).await;
    let row = summarised(&app, &sid).await;
    let summary = row.call_summary.clone().unwrap();
    assert!(
        summary.contains("דני כהן מבקש לקבוע תור"),
        "the LLM summarised the conversation: {summary}"
    );
    let phone = mokdan::domain::Phone::parse(CALLER).unwrap();
    let lead = customers::by_phone(&app.state.db, business, &phone)
        .await
        .unwrap()
        .expect("the caller is a lead of the business");
    assert_eq!(lead.name.as_deref(), Some("דני כהן"), "{lead:?}");
    each_answer_reads_and_plays(&app, business, row.id).await;
    queued_again_changes_nothing(&app, business, &sid).await;
    app.shutdown().await.unwrap();
}
dual_test!(a_streamed_call_with_speech_to_text_is_summarised_by_the_llm);

/// Speech-to-text configured after the call: at the next start the streamed call's
/// answers kept as audio are transcribed, and the call's one summary is made again with
/// them (the lead stays one lead).
async fn answers_kept_as_audio_are_heard_once_speech_to_text_comes(backend: Backend) {
    let (mut app, sim, business) = world(backend, &[]).await;
    let sid = streamed_call(&app, &sim).await;
    let first = summarised(&app, &sid).await;
    assert!(first.call_summary.unwrap().contains("הודעה קולית"));
    wait_for(
        "the post-call work to wait for speech-to-text",
        30,
        || async {
            jobs::by_kind(&app.state.db, STREAMED_CALL)
                .await
                .unwrap()
                .into_iter()
                .find(|j| j.payload.contains(&sid) && j.state == "waiting")
        },
    )
    .await;

    // The same database and data dir, now with speech-to-text and an LLM.
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    let db_url = app.db_url.clone();
    app.shutdown().await.unwrap();
    let ai = Ai::start().await;
    let env = ai.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_on(db_url, dir, &vars).await;
    // The summary (from the turns) and the whole recording's transcript are separate jobs
    // that may finish in either order: wait for both.
    let row = wait_for(
        "the summary made again, and the recording transcribed",
        60,
        || async {
            calls::by_sid(&app.state.db, &sid)
                .await
                .unwrap()
                .filter(|r| {
                    r.status == "transcribed"
                        && r.call_summary
                            .as_deref()
                            .is_some_and(|s| s.contains("דני כהן מבקש לקבוע תור"))
                })
        },
    )
    .await;
    assert_eq!(row.status, "transcribed", "{row:?}");
    let (unheard,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM call_turns WHERE call_sid = $1 AND caller_audio_path IS NOT NULL \
         AND (caller_text IS NULL OR caller_text = '')",
    )
    .bind(&sid)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(unheard, 0, "every answer kept as audio was transcribed");
    queued_again_changes_nothing(&app, business, &sid).await;
    app.shutdown().await.unwrap();
}
dual_test!(answers_kept_as_audio_are_heard_once_speech_to_text_comes);
