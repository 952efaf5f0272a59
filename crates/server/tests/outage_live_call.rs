//! A live streamed call through a database outage longer than the media timeout (V8, O3).
//!
//! While PostgreSQL is away the node cannot write the call's frame times to the shared
//! registry, so when it returns the registry's row says "no media for seconds" although
//! the caller never stopped streaming. The node that holds the stream knows better: the
//! caller must not be cut off to the recording fallback.

mod common;

use std::time::Duration;

use common::TestApp;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use sim::{CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234567";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_call_outlasts_a_database_outage_without_a_fallback() {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let api = sim.api_base();
    let db = common::create_pg_database().await;
    let proxy = common::proxy::Proxy::start(&common::pg_host_port()).await;
    let url = common::pg_url(&proxy.addr.to_string(), &db);
    let app = TestApp::spawn_on(
        url,
        tempfile::tempdir().unwrap(),
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_API_BASE", api.as_str()),
            ("MOKDAN_WATCHDOG_START_SECS", "3"),
            ("MOKDAN_WATCHDOG_MEDIA_SECS", "2"),
        ],
    )
    .await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מספרת רונית", &phone)
        .await
        .unwrap();

    // The caller hears the greeting, then keeps the line open (silence is still media).
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .silence(Duration::from_secs(11))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let spec = sim::CallSpec::new(app.base.clone(), NUMBER, "+972501234567", script);
    let outage = async {
        // Well into the stream, the database goes away for twice the media timeout.
        tokio::time::sleep(Duration::from_secs(4)).await;
        proxy.cut().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        proxy.restore().await;
    };
    let (report, ()) = tokio::join!(sim.call(spec), outage);
    let report = report.unwrap();
    let timeline = report.print_timeline();
    // Give a late watchdog tick its chance to misfire.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let redirects = sim
        .rest_log()
        .into_iter()
        .filter(|r| {
            r.method == "POST"
                && r.path
                    .ends_with(&format!("/Calls/{}.json", report.call_sid))
        })
        .count();
    assert_eq!(redirects, 0, "the live caller was cut off:\n{timeline}");
    assert!(
        !report
            .timeline
            .iter()
            .any(|e| e.detail.starts_with("<Record")),
        "no recording fallback:\n{timeline}"
    );
    let row = mokdan::store::calls::by_sid(&app.state.db, &report.call_sid)
        .await
        .unwrap()
        .expect("call row");
    assert_eq!(row.fallback_reason, None, "{row:?}");
    app.shutdown().await.unwrap();
}

/// The caller keeps talking while the database is down (PostgreSQL cut, or SQLite's write
/// lock held): no turn of the conversation is lost — each waits in the outbox and lands
/// once the database is back, and the call is still summarised into a lead (#16.5, V7).
async fn turns_spoken_during_an_outage_are_kept(backend: common::Backend) {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(2.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let (app, mut sick) = common::sick::Sick::app_with(
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
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, קוראים לי דנה כהן")
        .wait_for_agent(Duration::from_secs(20))
        .say("אני רוצה לקבוע תור לבדיקה")
        .wait_for_agent(Duration::from_secs(20))
        .hang_up()
        .max_duration(Duration::from_secs(90));
    let spec = sim::CallSpec::new(app.base.clone(), NUMBER, "+972501234567", script);
    let call = sim.start_call(spec).await.unwrap();
    let sid = call.call_sid().to_string();
    let db = &app.state.db;
    let mut started = false;
    for _ in 0..200 {
        started = mokdan::store::calls::by_sid(db, &sid)
            .await
            .unwrap()
            .is_some_and(|r| r.stream_started_at.is_some());
        if started {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "the stream started");

    // From the stream's start to the caller's goodbye, the database is away.
    sick.start().await;
    let report = call.finish().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    sick.end().await;

    let timeline = report.print_timeline();
    let caller_turns = || async {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM call_turns WHERE call_sid = $1 AND caller_audio_path IS NOT NULL",
        )
        .bind(&sid)
        .fetch_one(&db.pool)
        .await
        .unwrap_or((0,));
        n
    };
    let mut kept = 0;
    for _ in 0..150 {
        kept = caller_turns().await;
        if kept >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        kept >= 2,
        "both answers given during the outage were stored: {kept}\n{timeline}"
    );
    let mut row = None;
    for _ in 0..300 {
        row = mokdan::store::calls::by_sid(db, &sid)
            .await
            .ok()
            .flatten()
            .filter(|r| r.call_summary.is_some());
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = row.expect("the call was summarised once the database was back");
    assert!(row.stream_end_reason.is_some(), "{row:?}");
    app.shutdown().await.unwrap();
}
dual_test!(turns_spoken_during_an_outage_are_kept);
