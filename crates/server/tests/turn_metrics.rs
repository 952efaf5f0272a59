//! The per-turn timings reach Prometheus (V7): a whole call through the sim, with the
//! OpenAI stand-in as speech-to-text and agent and the local voice, moves the
//! `mokdan_turn_latency_seconds` histogram of every stage by exactly the turns stored
//! with that timing.
//!
//! Metrics are process-wide, so this binary holds only this call, and the two databases'
//! runs take turns.

mod common;

use std::time::Duration;

use common::ai::Ai;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use sim::{CallSpec, CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";
const STAGES: [(&str, &str); 4] = [
    ("stt", "stt_ms"),
    ("llm_first_token", "llm_first_token_ms"),
    ("tts_first_audio", "tts_first_audio_ms"),
    ("first_frame_out", "first_frame_out_ms"),
];

/// One call at a time in this process: the counts read are this call's alone.
static ONE_CALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `mokdan_turn_latency_seconds_{part}` for `stage` in a `/metrics` page (0 if absent).
fn read(metrics: &str, part: &str, stage: &str) -> f64 {
    let name = format!("mokdan_turn_latency_seconds_{part}{{");
    let label = format!("stage=\"{stage}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with(&name) && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn every_stage_of_a_call_moves_its_histogram(backend: Backend) {
    let _alone = ONE_CALL.lock().await;
    let ai = Ai::start().await;
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
    mokdan::store::businesses::create(&app.state.db, "מרפאת השיניים", &phone)
        .await
        .unwrap();
    let before = app.get("/metrics").await.text().await.unwrap();

    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, קוראים לי דני כהן")
        .wait_for_agent(Duration::from_secs(20))
        .say("אני רוצה לקבוע תור")
        .wait_for_agent(Duration::from_secs(20))
        .silence(Duration::from_secs(2))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = sim
        .call(CallSpec::new(app.base.clone(), NUMBER, CALLER, script))
        .await
        .unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());
    // Every turn the socket took is stored (and counted) before it records the stream's end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let row = mokdan::store::calls::by_sid(&app.state.db, &report.call_sid)
            .await
            .unwrap()
            .expect("call row");
        if row.stream_end_reason.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream never ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = app.get("/metrics").await.text().await.unwrap();

    for (stage, column) in STAGES {
        // Safe: `column` comes from the test's own list of stage columns.
        let (stored,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT({column}) FROM call_turns WHERE call_sid = $1"
        )))
        .bind(&report.call_sid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
        assert!(
            stored >= 2,
            "both replies have a {stage} timing: {stored}\n{}",
            report.print_timeline()
        );
        let moved = read(&after, "count", stage) - read(&before, "count", stage);
        assert_eq!(
            moved, stored as f64,
            "{stage}: the histogram counts every stored turn\n{after}"
        );
        let sum = read(&after, "sum", stage) - read(&before, "sum", stage);
        assert!(sum >= 0.0 && sum < 60.0 * stored as f64, "{stage}: {sum} s");
        // The samples also land in the buckets: the `+Inf` bucket moved as far.
        let inf = |m: &str| {
            m.lines()
                .filter(|l| {
                    l.starts_with("mokdan_turn_latency_seconds_bucket{")
                        && l.contains(&format!("stage=\"{stage}\""))
                        && l.contains("le=\"+Inf\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        };
        assert_eq!(inf(&after) - inf(&before), moved, "{stage}");
    }
    app.shutdown().await.unwrap();
}
dual_test!(every_stage_of_a_call_moves_its_histogram);
