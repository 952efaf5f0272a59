//! kill -9 of the server mid-call and mid-job, then a restart on the same database and
//! data dir (V8, V10, O4): the job whose worker died is taken over once its lease runs out
//! (`MOKDAN_JOB_LEASE_SECS`), the chain after it runs once (one transcript, one customer),
//! and the call whose socket died with the process does not stay `in-progress`: the
//! restarted node's watchdog finds it (the shared registry on PostgreSQL, a re-arm from the
//! call log on SQLite), sees from Twilio that it is over, and settles it. A call still
//! waiting for its stream when its node dies is redirected, once, by the restarted node.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::ai::Ai;
use common::node::Node;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN, call_params, new_call_sid, params};
use common::{Backend, fresh_database};
use mokdan::store::{Db, calls, jobs};
use sim::{CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

async fn wait_for<T, Fut: Future<Output = Option<T>>>(
    what: &str,
    secs: u64,
    mut f: impl FnMut() -> Fut,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn signed(node: &Node, path: &str, form: &[(String, String)]) -> reqwest::Response {
    let url = format!("{}{path}", node.base());
    let sig = telephony::signature::compute(AUTH_TOKEN, &url, form);
    reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn killed_mid_call_and_mid_job(backend: Backend) {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let ai = Ai::start().await;
    let (db_url, dir) = fresh_database(backend).await;
    let db = Db::open(&db_url).await.unwrap();
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    let business = mokdan::store::businesses::create(&db, "קליניקה", &phone)
        .await
        .unwrap();
    let api = sim.api_base();
    let env = ai.env();
    let port = common::node::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let vars = [
        ("MOKDAN_ENV", "production"),
        ("DATABASE_URL", db_url.as_str()),
        ("PUBLIC_BASE_URL", public.as_str()),
        ("JWT_SECRET", "restart-test-jwt-secret-0123456789"),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_API_BASE", api.as_str()),
        (env[0].0, env[0].1.as_str()),
        (env[1].0, env[1].1.as_str()),
        ("MOKDAN_JOB_LEASE_SECS", "2"),
        ("MOKDAN_WATCHDOG_START_SECS", "3"),
        ("MOKDAN_WATCHDOG_MEDIA_SECS", "3"),
    ];
    let mut node = Node::start_on("node", port, &dir.path().join("data"), &vars).await;

    // A call in conversation...
    let call = sim
        .start_call(sim::CallSpec::new(
            node.base(),
            NUMBER,
            CALLER,
            CallerScript::new()
                .wait_for_agent(Duration::from_secs(20))
                .say("שלום, אני מחכה לתשובה")
                .silence(Duration::from_secs(60))
                .max_duration(Duration::from_secs(90)),
        ))
        .await
        .unwrap();
    let live_sid = call.call_sid().to_string();
    wait_for("the stream to start", 20, || async {
        calls::by_sid(&db, &live_sid)
            .await
            .ok()
            .flatten()
            .filter(|r| r.stream_started_at.is_some())
    })
    .await;

    // ...and a recording whose download hangs at a slow Twilio.
    sim.set_recording_delay(Duration::from_secs(600));
    let rec_call = new_call_sid();
    let r = signed(
        &node,
        "/webhook/incoming_call",
        &call_params(&rec_call, CALLER, NUMBER),
    )
    .await;
    assert_eq!(r.status(), 200);
    let rec = sim.add_recording(&rec_call, common::node::tone_wav(2.0));
    let mut form = call_params(&rec_call, CALLER, NUMBER);
    form.extend(params(&[
        ("RecordingSid", &rec.sid),
        ("RecordingUrl", &rec.url),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "2"),
    ]));
    assert_eq!(
        signed(&node, "/webhook/recording_status", &form)
            .await
            .status(),
        204
    );
    let fetches = || {
        sim.rest_log()
            .iter()
            .filter(|r| r.method == "GET" && r.path.contains(&rec.sid))
            .count()
    };
    wait_for("the download to start", 20, || async {
        (fetches() >= 1).then_some(())
    })
    .await;

    node.kill9().await;
    let report = call.finish().await;
    sim.set_recording_delay(Duration::ZERO);
    node.spawn().await;

    // The job is taken over after its lease and the chain runs once.
    let row = wait_for(
        "the recording to be transcribed and summarised",
        60,
        || async {
            calls::by_sid(&db, &rec_call)
                .await
                .ok()
                .flatten()
                .filter(|r| r.call_summary.is_some())
        },
    )
    .await;
    assert!(row.transcription.is_some());
    // The summary is written a moment before its job is marked done.
    wait_for("the summarise job to be done", 20, || async {
        jobs::by_kind(&db, "summarise")
            .await
            .ok()
            .filter(|js| js.iter().all(|j| j.state == "done"))
    })
    .await;
    for kind in ["fetch_recording", "transcribe", "summarise"] {
        let js = jobs::by_kind(&db, kind).await.unwrap();
        assert_eq!(js.len(), 1, "{kind}: {js:?}");
        assert_eq!(js[0].state, "done", "{kind}: {js:?}");
    }
    assert_eq!(
        fetches(),
        2,
        "the killed download, then the one after the lease"
    );
    let transcribe = jobs::by_kind(&db, "transcribe").await.unwrap();
    assert_eq!(transcribe[0].attempts, 1, "one transcript: {transcribe:?}");
    assert!(ai.transcriptions.load(Ordering::SeqCst) >= 1);
    let (customers,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM customers WHERE business_id = $1")
            .bind(business)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(customers, 1, "one customer");

    // The call whose socket died with the process ends consistent.
    let live = wait_for("the interrupted call to be settled", 30, || async {
        calls::by_sid(&db, &live_sid)
            .await
            .ok()
            .flatten()
            .filter(|r| r.status == "completed")
    })
    .await;
    assert!(live.stream_ended_at.is_some(), "{live:?}");
    assert!(live.stream_end_reason.is_some(), "{live:?}");
    assert_eq!(live.fallback_reason, None, "no fallback ran: {live:?}");
    assert_eq!(
        report.final_status,
        "completed",
        "{}",
        report.print_timeline()
    );
    assert!(
        node.lines_with(&["already ended unseen", &live_sid]).len() == 1,
        "{}",
        node.log()
    );
    assert!(node.terminate().await);
}
dual_test!(killed_mid_call_and_mid_job);

/// On PostgreSQL the watchdog's entry outlives the node that armed it (V8): a caller still
/// on the line when the node dies is sent to the recording fallback by the restarted node,
/// exactly once, and the message is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_call_survives_a_node_restart_on_postgres() {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let (db_url, dir) = fresh_database(Backend::Postgres).await;
    let db = Db::open(&db_url).await.unwrap();
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&db, "מספרה", &phone)
        .await
        .unwrap();
    let api = sim.api_base();
    let port = common::node::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let vars = [
        ("MOKDAN_ENV", "production"),
        ("DATABASE_URL", db_url.as_str()),
        ("PUBLIC_BASE_URL", public.as_str()),
        ("JWT_SECRET", "restart-test-jwt-secret-0123456789"),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_API_BASE", api.as_str()),
        ("MOKDAN_WATCHDOG_START_SECS", "3"),
        ("MOKDAN_WATCHDOG_MEDIA_SECS", "3"),
    ];
    let mut node = Node::start_on("node", port, &dir.path().join("data"), &vars).await;

    // Answered, but its stream never comes; the caller waits, then leaves a message.
    let call = sim
        .start_call(sim::CallSpec::new(
            node.base(),
            NUMBER,
            CALLER,
            CallerScript::new()
                .never_connect_socket()
                // Whenever the fallback's prompt comes, the message follows it.
                .wait_for_agent(Duration::from_secs(60))
                .say("שלום, זו הודעה. תחזרו אליי בבקשה")
                .silence(Duration::from_secs(2))
                .hang_up()
                .max_duration(Duration::from_secs(60)),
        ))
        .await
        .unwrap();
    let sid = call.call_sid().to_string();
    wait_for("the call to be armed", 10, || async {
        sqlx::query_as::<_, (i64,)>("SELECT armed_at FROM call_watch WHERE call_sid = $1")
            .bind(&sid)
            .fetch_optional(&db.pool)
            .await
            .ok()
            .flatten()
    })
    .await;
    let redirects = || {
        sim.rest_log()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/Calls/{sid}.json")))
            .collect::<Vec<_>>()
    };

    // The node dies before the start timeout, and comes back.
    node.kill9().await;
    assert!(redirects().is_empty(), "the first node did not fire");
    node.spawn().await;

    let first = wait_for("the restarted node's redirect", 15, || async {
        redirects().into_iter().next()
    })
    .await;
    assert!(first.basic_auth_ok);
    let twiml = telephony::twiml::parse(first.param("Twiml").expect("inline TwiML")).unwrap();
    assert!(
        twiml.verbs.iter().any(|v| matches!(
            v,
            telephony::twiml::Verb::Record(r)
                if r.action.as_deref() == Some(format!("{public}/webhook/handle_recording").as_str())
        )),
        "{twiml:?}"
    );
    let report = call.finish().await;
    let mut row = None;
    for _ in 0..100 {
        row = calls::by_sid(&db, &sid)
            .await
            .unwrap()
            .filter(|r| r.recording_url.is_some());
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(row) = row else {
        panic!(
            "the message was not recorded:\n{}\n{}",
            report.print_timeline(),
            node.log()
        )
    };
    assert_eq!(row.fallback_reason.as_deref(), Some("no_stream_start"));
    assert_eq!(
        redirects().len(),
        1,
        "redirected exactly once:\n{}",
        report.print_timeline()
    );
    assert_eq!(
        node.lines_with(&["WATCHDOG_REDIRECT", &sid]).len(),
        1,
        "{}",
        node.log()
    );
    assert!(node.terminate().await);
}
