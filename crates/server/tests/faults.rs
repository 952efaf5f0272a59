//! Faults in the middle of a call (V7, V8, V12): a speech provider that breaks after a
//! first good turn, and a media socket whose TCP connection is cut without a `stop`. In
//! both the caller must end in the recording fallback, exactly once, with a call row that
//! says what happened. kill -9 is in faults_restart.rs, a full disk in faults_disk.rs.

mod common;

use std::time::Duration;

use common::ai::{Ai, Failure};
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use sim::{CallerScript, Sim, SimConfig, TimelineKind};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

struct World {
    app: TestApp,
    sim: Sim,
}

async fn world(backend: Backend, extra: &[(&str, &str)]) -> World {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_API_BASE", api.as_str()),
        ("MOKDAN_WATCHDOG_START_SECS", "3"),
        ("MOKDAN_WATCHDOG_MEDIA_SECS", "3"),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &vars).await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מספרת רונית", &phone)
        .await
        .unwrap();
    World { app, sim }
}

impl World {
    fn spec(&self, script: CallerScript) -> sim::CallSpec {
        sim::CallSpec::new(self.app.base.clone(), NUMBER, CALLER, script)
    }

    /// The fallback TwiML documents the call was sent to (REST redirects and webhook answers).
    fn fallbacks(&self, report: &sim::CallReport) -> usize {
        let redirects = self
            .sim
            .rest_log()
            .into_iter()
            .filter(|r| {
                r.method == "POST"
                    && r.path
                        .ends_with(&format!("/Calls/{}.json", report.call_sid))
                    && r.param("Twiml").is_some_and(|t| t.contains("<Record"))
            })
            .count();
        let records = report
            .timeline
            .iter()
            .filter(|e| e.kind == TimelineKind::Verb && e.detail.starts_with("<Record"))
            .count();
        assert!(redirects <= records, "a redirect that did not record");
        records
    }

    async fn row(&self, sid: &str) -> mokdan::store::calls::CallRow {
        mokdan::store::calls::by_sid(&self.app.state.db, sid)
            .await
            .unwrap()
            .expect("call row")
    }
}

/// The caller listens to the greeting, speaks (first turn answered), speaks again (the
/// provider is broken by then), and stays on the line through the apology and fallback.
fn caller_through_a_broken_provider() -> CallerScript {
    CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, קוראים לי דני כהן")
        .wait_for_agent(Duration::from_secs(20))
        .say("אני רוצה לקבוע תור למחר")
        .wait_for_agent(Duration::from_secs(40))
        .silence(Duration::from_secs(12))
        .hang_up()
        .max_duration(Duration::from_secs(120))
}

/// When (since the call began) the first timeline entry matching `f` happened.
fn first_at(report: &sim::CallReport, f: impl Fn(&sim::TimelineEntry) -> bool) -> Option<Duration> {
    report.timeline.iter().find(|e| f(e)).map(|e| e.at)
}

async fn provider_breaks_mid_call(backend: Backend, failure: Failure) {
    let ai = Ai::start().await;
    let env = ai.env();
    // The local voice, whose apology lasts as long as its words (the stand-in's is a tone).
    let w = world(
        backend,
        &[
            (env[0].0, env[0].1.as_str()),
            (env[1].0, env[1].1.as_str()),
            ("MOKDAN_TTS", "espeak"),
        ],
    )
    .await;
    // The first caller turn is heard and answered; from the second on, the provider fails.
    ai.fail_after(1, failure);
    let report = w
        .sim
        .call(w.spec(caller_through_a_broken_provider()))
        .await
        .unwrap();
    let timeline = report.print_timeline();
    assert!(
        report.turn_latencies.len() >= 2,
        "the first turn was answered, the second got the apology:\n{timeline}"
    );
    assert!(ai.chats.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert!(
        ai.failed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "{timeline}"
    );
    assert_eq!(
        w.fallbacks(&report),
        1,
        "one recording fallback:\n{timeline}"
    );
    // The apology plays out before the redirect takes the call off the stream.
    let apology = first_at(&report, |e| e.detail.contains("replies to turn 2"))
        .expect("the apology was spoken");
    let redirect = first_at(&report, |e| e.kind == TimelineKind::RestUpdate)
        .expect("the redirect to the fallback");
    assert!(
        redirect >= apology + Duration::from_millis(1500),
        "the apology was cut short:\n{timeline}"
    );
    let row = w.row(&report.call_sid).await;
    assert_eq!(
        row.fallback_reason.as_deref(),
        Some("agent_failure"),
        "{row:?}"
    );
    let (apologies,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM call_turns WHERE call_sid = $1 AND agent_text LIKE $2",
    )
    .bind(&report.call_sid)
    .bind(format!("%{}%", voice::session::APOLOGY))
    .fetch_one(&w.app.state.db.pool)
    .await
    .unwrap();
    assert!(apologies >= 1, "the apology was spoken:\n{timeline}");
    w.app.shutdown().await.unwrap();
}

async fn a_provider_answering_500_mid_call(backend: Backend) {
    provider_breaks_mid_call(backend, Failure::Error500).await
}
dual_test!(a_provider_answering_500_mid_call);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_hangs_mid_call() {
    provider_breaks_mid_call(Backend::Sqlite, Failure::Hang).await
}

async fn a_socket_cut_mid_call_falls_back_once(backend: Backend) {
    let w = world(backend, &[]).await;
    let script = CallerScript::new()
        .cut_socket_after(Duration::from_secs(2))
        .silence(Duration::from_secs(9))
        .say("השיחה נותקה, אני משאיר הודעה")
        .silence(Duration::from_secs(2))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    let timeline = report.print_timeline();
    assert!(
        report
            .timeline
            .iter()
            .any(|e| e.detail.contains("TCP connection is cut")),
        "{timeline}"
    );
    // Twilio goes on to `stream_ended` (the Connect action), which sends the caller to
    // the recording; the watchdog must not add a second fallback later.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(w.fallbacks(&report), 1, "exactly one fallback:\n{timeline}");
    let row = w.row(&report.call_sid).await;
    assert!(row.stream_ended_at.is_some(), "{row:?}");
    assert!(
        matches!(
            row.stream_end_reason.as_deref(),
            Some("socket_closed" | "stream_broken")
        ),
        "{row:?}"
    );
    assert!(row.fallback_reason.is_some(), "{row:?}");
    assert!(row.recording_url.is_some(), "{timeline}");
    assert_eq!(row.status, "recorded", "not stuck in progress: {row:?}");
    w.app.shutdown().await.unwrap();
}
dual_test!(a_socket_cut_mid_call_falls_back_once);
