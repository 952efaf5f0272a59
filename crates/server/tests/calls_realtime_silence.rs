//! A silent caller on the Realtime engine (#18.1, V7), as on the cascade: after the
//! greeting the agent waits, asks whether the caller is still there (and the model is told
//! it asked), waits again, says goodbye and ends the call itself: no recording fallback,
//! and the caller never left without a word.

mod common;

use std::time::Duration;

use common::realtime::{Fault, Realtime};
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use sim::{CallSpec, CallerScript, Sim, SimConfig, TimelineKind};
use voice::session::{SILENCE_GOODBYE, SILENCE_PROMPT};

const NUMBER: &str = "+97231234570";

async fn a_silent_caller_is_prompted_then_told_goodbye(backend: Backend) {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let rt = Realtime::start(Vec::new(), Fault::None).await;
    let api = sim.api_base();
    let mut vars: Vec<(&str, String)> = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.into()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()),
        ("TWILIO_API_BASE", api),
    ];
    vars.extend(rt.env());
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &vars).await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מספרת רונית", &phone)
        .await
        .unwrap();

    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .silence(Duration::from_secs(45))
        .hang_up()
        .max_duration(Duration::from_secs(70));
    let report = sim
        .call(CallSpec::new(
            app.base.clone(),
            NUMBER,
            "+972501234570",
            script,
        ))
        .await
        .unwrap();
    let timeline = report.print_timeline();
    assert!(report.is_clean(), "{timeline}");
    let end = report
        .entries(TimelineKind::End)
        .map(|e| e.at)
        .next()
        .expect("the call ended");
    assert!(
        end < Duration::from_secs(45),
        "the agent ended the call, the caller did not have to:\n{timeline}"
    );
    assert!(
        !report
            .timeline
            .iter()
            .any(|e| e.kind == TimelineKind::RestUpdate || e.detail.starts_with("<Record")),
        "a silent caller is not a failure: no fallback\n{timeline}"
    );
    let said: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT agent_text FROM call_turns WHERE call_sid = $1 ORDER BY turn_index")
            .bind(&report.call_sid)
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    let said: Vec<String> = said.into_iter().filter_map(|(t,)| t).collect();
    assert_eq!(said.len(), 3, "greeting, prompt, goodbye: {said:?}");
    assert_eq!(said[1], SILENCE_PROMPT);
    assert_eq!(said[2], SILENCE_GOODBYE);
    // The model heard the prompt as the agent's own words.
    assert!(
        rt.events("conversation.item.create")
            .iter()
            .any(|e| e["item"]["content"][0]["text"] == SILENCE_PROMPT),
        "the model was told of the prompt"
    );
    let row = mokdan::store::calls::by_sid(&app.state.db, &report.call_sid)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.fallback_reason, None, "{row:?}");
    app.shutdown().await.unwrap();
}
dual_test!(a_silent_caller_is_prompted_then_told_goodbye);
