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
