//! A caller who says nothing, through the sim (V7): after the greeting the agent waits,
//! prompts ("are you there?"), waits again, says goodbye and ends the call itself. The
//! call ends normally: no recording fallback, no redirect, and the caller was never left
//! in silence without a word from the agent.

mod common;

use std::time::Duration;

use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use sim::{CallerScript, Sim, SimConfig, TimelineKind};

const NUMBER: &str = "+97231234567";

async fn a_silent_caller_is_prompted_then_told_goodbye(backend: Backend) {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let api = sim.api_base();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_API_BASE", api.as_str()),
        ],
    )
    .await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מספרת רונית", &phone)
        .await
        .unwrap();

    // Silence (still streamed as media) far longer than the agent waits twice.
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .silence(Duration::from_secs(45))
        .hang_up()
        .max_duration(Duration::from_secs(70));
    let spec = sim::CallSpec::new(app.base.clone(), NUMBER, "+972501234567", script);
    let report = sim.call(spec).await.unwrap();
    let timeline = report.print_timeline();

    // The agent spoke three times: greeting, prompt, goodbye; and it ended the call well
    // before the caller would have hung up.
    let spoken: Vec<_> = report
        .entries(TimelineKind::AgentAudio)
        .map(|e| e.at)
        .collect();
    assert!(
        spoken.len() >= 3,
        "greeting, prompt and goodbye:\n{timeline}"
    );
    let end = report
        .entries(TimelineKind::End)
        .map(|e| e.at)
        .next()
        .expect("the call ended");
    assert!(
        end < Duration::from_secs(50),
        "the agent ended the call, the caller did not have to:\n{timeline}"
    );
    assert!(
        !report
            .timeline
            .iter()
            .any(|e| e.kind == TimelineKind::RestUpdate || e.detail.starts_with("<Record")),
        "a silent caller is not a failure: no fallback\n{timeline}"
    );

    let texts: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT agent_text FROM call_turns WHERE call_sid = $1 ORDER BY turn_index")
            .bind(&report.call_sid)
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    let said: Vec<String> = texts.into_iter().filter_map(|(t,)| t).collect();
    let joined = said.join(" | ");
    assert!(
        joined.contains(voice::session::SILENCE_PROMPT),
        "the prompt was said: {joined}\n{timeline}"
    );
    assert!(
        joined.contains(voice::session::SILENCE_GOODBYE),
        "the goodbye was said: {joined}\n{timeline}"
    );
    let row = mokdan::store::calls::by_sid(&app.state.db, &report.call_sid)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.fallback_reason, None, "{row:?}");
    app.shutdown().await.unwrap();
}
dual_test!(a_silent_caller_is_prompted_then_told_goodbye);
