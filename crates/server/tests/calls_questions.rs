//! A business's own intake questions reach the scripted agent on a whole call through the
//! sim (V7, C2): the greeting asks the first, the next answer gets the second.

mod common;

use std::time::Duration;

use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use mokdan::store::businesses;
use sim::{CallSpec, CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";
const QUESTIONS: [&str; 2] = ["מה דגם הרכב?", "מה התקלה?"];

async fn the_scripted_agent_asks_the_business_questions(backend: Backend) {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
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
    let id = businesses::create(&app.state.db, "מוסך השלום", &phone)
        .await
        .unwrap();
    let settings = businesses::Settings {
        name: "מוסך השלום".into(),
        auto_reply: true,
        recording_retention_days: 30,
        intake_questions: Some(serde_json::to_string(&QUESTIONS).unwrap()),
        ..Default::default()
    };
    assert!(
        businesses::update(&app.state.db, id, &settings, None)
            .await
            .unwrap()
    );

    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("טויוטה קורולה")
        .wait_for_agent(Duration::from_secs(20))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = sim
        .call(CallSpec::new(app.base.clone(), NUMBER, CALLER, script))
        .await
        .unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());
    let mut said: Vec<(String,)> = Vec::new();
    for _ in 0..50 {
        said = sqlx::query_as(
            "SELECT agent_text FROM call_turns WHERE call_sid = $1 ORDER BY turn_index",
        )
        .bind(&report.call_sid)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
        if said.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(said.len() >= 2, "{said:?}\n{}", report.print_timeline());
    assert!(said[0].0.ends_with(QUESTIONS[0]), "greeting: {:?}", said[0]);
    assert!(said[1].0.contains(QUESTIONS[1]), "reply: {:?}", said[1]);
    assert!(
        !said.iter().any(|(t,)| t.contains("מה השם שלך")),
        "not the default questions: {said:?}"
    );
    app.shutdown().await.unwrap();
}
dual_test!(the_scripted_agent_asks_the_business_questions);
