//! Tools that return results, in the cascade, over a whole call (#18.3, V12): the sim
//! plays Twilio and the OpenAI stand-in plays the chat model. Asked for a call-back, the
//! model calls `request_callback`; mokdan carries it out (the call's call-back time), sends
//! the model the function's result as a `tool` message and asks for a new completion; the
//! model's confirmation is what the caller hears; and the call and its result are stored
//! with the turn.

mod common;

use std::time::Duration;

use common::ai::Ai;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use sim::{CallSpec, CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234569";
const CALLER: &str = "+972501234569";
const CONFIRMATION: &str = "רשמתי, נחזור אלייך מחר בעשר.";

async fn a_function_call_is_run_its_result_confirmed_and_stored(backend: Backend) {
    let ai = Ai::start().await;
    ai.call_tool_then_confirm("request_callback", r#"{"when":"מחר בעשר"}"#, CONFIRMATION);
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let env = ai.env();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_API_BASE", api.as_str()),
            (env[0].0, env[0].1.as_str()),
            (env[1].0, env[1].1.as_str()),
        ],
    )
    .await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מוסך הצפון", &phone)
        .await
        .unwrap();

    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("תחזרו אליי מחר בעשר בבקשה")
        .wait_for_agent(Duration::from_secs(20))
        .silence(Duration::from_secs(1))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = sim
        .call(CallSpec::new(app.base.clone(), NUMBER, CALLER, script))
        .await
        .unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());

    // The function's result went back to the model, as a tool message for its call.
    let results = ai.tool_results.lock().unwrap().clone();
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["tool_call_id"], "call_1");
    let output: serde_json::Value =
        serde_json::from_str(results[0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(output["ok"], true, "{output}");
    assert!(
        output["result"].as_str().unwrap().contains("מחר בעשר"),
        "{output}"
    );
    // The model's confirmation is what was spoken.
    assert!(
        ai.spoken.lock().unwrap().iter().any(|s| s == CONFIRMATION),
        "{:?}",
        ai.spoken.lock().unwrap()
    );

    // Stored with the turn: what the caller heard, and the call with its result.
    let call_sid = report.call_sid.clone();
    let (agent_text, tools): (String, String) = common::wait_for("the turn", 10, || async {
        sqlx::query_as(
            "SELECT agent_text, tool_calls FROM call_turns \
             WHERE call_sid = $1 AND tool_calls IS NOT NULL",
        )
        .bind(&call_sid)
        .fetch_optional(&app.state.db.pool)
        .await
        .unwrap()
    })
    .await;
    assert_eq!(agent_text, CONFIRMATION);
    let tools: serde_json::Value = serde_json::from_str(&tools).unwrap();
    assert_eq!(tools.as_array().unwrap().len(), 1, "{tools}");
    let t = &tools[0];
    assert_eq!(t["name"], "request_callback");
    assert_eq!(t["ok"], true);
    let args: serde_json::Value = serde_json::from_str(t["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["when"], "מחר בעשר");
    assert_eq!(
        t["output"].as_str().unwrap(),
        results[0]["content"].as_str().unwrap()
    );
    // And carried out: the call's call-back time.
    let row = mokdan::store::calls::by_sid(&app.state.db, &call_sid)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.callback_time.as_deref(), Some("מחר בעשר"));
    app.shutdown().await.unwrap();
}
dual_test!(a_function_call_is_run_its_result_confirmed_and_stored);
