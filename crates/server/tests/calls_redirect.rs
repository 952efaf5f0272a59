//! A redirect to the recording fallback that Twilio does not take never hangs the caller
//! up (V8, V9): with no REST account, a REST API that fails for a moment or never answers,
//! the caller is still offered the recording — by a retried update, or by `stream_ended`
//! when the stream ends — exactly once.

mod common;

use std::time::Duration;

use common::flaky_rest::FlakyRest;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use mokdan::store::calls;
use sim::{CallReport, CallSpec, CallerScript, Sim, SimConfig, TimelineKind};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

/// How the server reaches Twilio's REST API in a test.
enum Rest {
    /// No `TWILIO_ACCOUNT_SID`: no REST client at all.
    None,
    /// The sim's API, through a front that fails the first `n` call updates.
    Flaky(usize),
    /// A closed port.
    Closed,
}

struct World {
    app: TestApp,
    sim: Sim,
    front: Option<FlakyRest>,
}

async fn world(backend: Backend, rest: Rest) -> World {
    world_with(backend, rest, &[]).await
}

async fn world_with(backend: Backend, rest: Rest, extra: &[(&str, String)]) -> World {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let front = match rest {
        Rest::Flaky(n) => Some(FlakyRest::start(&sim.api_base(), n).await),
        _ => None,
    };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let mut env = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
        ("MOKDAN_WATCHDOG_START_SECS", "2".to_string()),
        ("MOKDAN_WATCHDOG_MEDIA_SECS", "1.5".to_string()),
    ];
    match (&rest, &front) {
        (Rest::None, _) => {}
        (Rest::Flaky(_), Some(f)) => {
            env.push(("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()));
            env.push(("TWILIO_API_BASE", f.base.clone()));
        }
        _ => {
            env.push(("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()));
            env.push(("TWILIO_API_BASE", closed));
        }
    }
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &vars).await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מרפאת השיניים של ד\"ר לוי", &phone)
        .await
        .unwrap();
    World { app, sim, front }
}

impl World {
    fn spec(&self, script: CallerScript) -> CallSpec {
        CallSpec::new(self.app.base.clone(), NUMBER, CALLER, script)
    }

    /// REST Calls updates that reached the sim for this call.
    fn redirects(&self, call_sid: &str) -> usize {
        self.sim
            .rest_log()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/Calls/{call_sid}.json")))
            .count()
    }

    async fn row(&self, call_sid: &str) -> calls::CallRow {
        calls::by_sid(&self.app.state.db, call_sid)
            .await
            .unwrap()
            .expect("call row")
    }
}

/// `<Record>` verbs the caller reached: the fallback ran exactly this often.
fn records(report: &CallReport) -> usize {
    report
        .entries(TimelineKind::Verb)
        .filter(|e| e.detail.starts_with("<Record"))
        .count()
}

/// The caller keeps talking every few seconds until hanging up, so whenever the recording
/// starts (after a redirect, or after the stream gave up) it hears a message in time.
fn keeps_talking(mut script: CallerScript) -> CallerScript {
    for _ in 0..8 {
        script = script
            .say("שלום, זו הודעה. תחזרו אליי בבקשה")
            .silence(Duration::from_millis(1500));
    }
    script.hang_up().max_duration(Duration::from_secs(90))
}

/// A caller whose stream never connects (the sim's stream gives up after 15 s of call
/// time), and who leaves a message.
fn no_socket_caller() -> CallerScript {
    keeps_talking(
        CallerScript::new()
            .never_connect_socket()
            .silence(Duration::from_secs(4)),
    )
}

async fn assert_recorded_once(w: &World, report: &CallReport, rest_updates: usize) {
    let timeline = report.print_timeline();
    assert_eq!(
        records(report),
        1,
        "the caller reached the recording exactly once:\n{timeline}"
    );
    assert_eq!(
        w.redirects(&report.call_sid),
        rest_updates,
        "REST updates that reached Twilio:\n{timeline}"
    );
    assert!(
        !report
            .entries(TimelineKind::Verb)
            .take_while(|e| !e.detail.starts_with("<Record"))
            .any(|e| e.detail == "<Hangup/>"),
        "never hung up before the recording:\n{timeline}"
    );
    let row = w.row(&report.call_sid).await;
    assert!(row.fallback_reason.is_some(), "{row:?}");
    assert!(
        row.recording_url.is_some(),
        "the caller's message was recorded: {row:?}\n{timeline}"
    );
}

async fn without_a_rest_account_the_stream_end_offers_the_recording(backend: Backend) {
    let w = world(backend, Rest::None).await;
    let report = w.sim.call(w.spec(no_socket_caller())).await.unwrap();
    assert_recorded_once(&w, &report, 0).await;
    assert_eq!(
        w.row(&report.call_sid).await.fallback_reason.as_deref(),
        Some("stream_never_started")
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(without_a_rest_account_the_stream_end_offers_the_recording);

async fn a_failed_update_is_retried_until_twilio_takes_it(backend: Backend) {
    let w = world(backend, Rest::Flaky(2)).await;
    let report = w.sim.call(w.spec(no_socket_caller())).await.unwrap();
    let front = w.front.as_ref().unwrap();
    assert_eq!(front.failed(), 2, "two updates failed first");
    // The third try reached Twilio and moved the caller before the stream gave up.
    assert_recorded_once(&w, &report, 1).await;
    assert_eq!(
        w.row(&report.call_sid).await.fallback_reason.as_deref(),
        Some("no_stream_start")
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(a_failed_update_is_retried_until_twilio_takes_it);

async fn a_rest_api_that_never_answers_still_leaves_the_recording(backend: Backend) {
    let w = world(backend, Rest::Closed).await;
    let report = w.sim.call(w.spec(no_socket_caller())).await.unwrap();
    assert_recorded_once(&w, &report, 0).await;
    w.app.shutdown().await.unwrap();
}
dual_test!(a_rest_api_that_never_answers_still_leaves_the_recording);

async fn star_with_a_dead_rest_api_still_records(backend: Backend) {
    let w = world(backend, Rest::Closed).await;
    let script = keeps_talking(
        CallerScript::new()
            .silence(Duration::from_millis(800))
            .dtmf('*')
            .silence(Duration::from_secs(2)),
    );
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert_recorded_once(&w, &report, 0).await;
    let row = w.row(&report.call_sid).await;
    assert_eq!(row.stream_end_reason.as_deref(), Some("fallback"));
    w.app.shutdown().await.unwrap();
}
dual_test!(star_with_a_dead_rest_api_still_records);

/// The LLM stops answering mid-call: the agent apologises and asks for the fallback, the
/// REST update cannot be made, and the stream's end offers the recording instead.
async fn an_unreachable_llm_with_a_dead_rest_api_still_records(backend: Backend) {
    let ai = common::ai::Ai::start().await;
    let env: Vec<(&str, String)> = ai.env().into_iter().collect();
    let w = world_with(backend, Rest::Closed, &env).await;
    // The first turn is answered; from the second on, the provider fails.
    ai.fail_after(1, common::ai::Failure::Error500);
    let script = keeps_talking(
        CallerScript::new()
            .wait_for_agent(Duration::from_secs(20))
            .say("שלום, קוראים לי דני כהן")
            .wait_for_agent(Duration::from_secs(20))
            .say("אני רוצה לקבוע תור למחר")
            .wait_for_agent(Duration::from_secs(40)),
    );
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert_recorded_once(&w, &report, 0).await;
    let row = w.row(&report.call_sid).await;
    assert_eq!(
        row.stream_end_reason.as_deref(),
        Some("fallback"),
        "{row:?}"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(an_unreachable_llm_with_a_dead_rest_api_still_records);

/// The caller's media stops while the socket stays open, and the REST API is dead: the
/// stream is closed so that its end offers the recording, rather than leaving the caller on
/// a silent stream.
async fn media_that_stops_with_a_dead_rest_api_still_records(backend: Backend) {
    let w = world(backend, Rest::Closed).await;
    let script = keeps_talking(
        CallerScript::new()
            .stop_media_after(Duration::from_millis(500))
            .silence(Duration::from_secs(4)),
    );
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert_recorded_once(&w, &report, 0).await;
    let row = w.row(&report.call_sid).await;
    assert_eq!(
        row.stream_end_reason.as_deref(),
        Some("fallback"),
        "{row:?}"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(media_that_stops_with_a_dead_rest_api_still_records);
