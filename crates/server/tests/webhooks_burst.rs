//! A burst of `incoming_call` webhooks, with Twilio's retries among them (V3, V8): every
//! call gets its stream TwiML, its one row and, on PostgreSQL, its one watchdog entry. On
//! PostgreSQL the rows are written in shared commits (store::call_batch), so this is where
//! a batch holding the same call twice, or a call answered before its batch committed,
//! would show.

mod common;

use common::twilio::{self, AUTH_TOKEN, call_params, new_call_sid};
use common::{Backend, TestApp};
use mokdan::store::calls;

const BUSINESS_NUMBER: &str = "+97231234567";

async fn a_burst_of_calls_gets_one_row_each(backend: Backend) {
    let vars = [
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
    ];
    let app = TestApp::spawn_with(backend, &vars).await;
    let phone = mokdan::domain::Phone::parse(BUSINESS_NUMBER).unwrap();
    let business = mokdan::store::businesses::create(&app.state.db, "מספרת רחל", &phone)
        .await
        .unwrap();
    let sids: Vec<String> = (0..120).map(|_| new_call_sid()).collect();
    // Every fourth call is delivered twice, at the same moment, as a retry can be.
    let mut deliveries: Vec<&String> = sids.iter().collect();
    deliveries.extend(sids.iter().step_by(4));
    let answers = futures::future::join_all(deliveries.iter().map(|sid| {
        let form = call_params(sid, "+972501234567", BUSINESS_NUMBER);
        let app = &app;
        async move {
            (
                sid.to_string(),
                app.twiml("/webhook/incoming_call", &form).await,
            )
        }
    }))
    .await;

    for (sid, twiml) in &answers {
        let Some(connect) = twiml.stream_connect() else {
            panic!("{sid}: expected only <Connect>: {:?}", twiml.verbs);
        };
        assert!(
            connect
                .stream
                .parameters
                .iter()
                .any(|(k, v)| k == "call_id" && v == sid),
            "{sid}: the stream carries its own call id"
        );
        // Answered only once the row is committed: it is there now.
        let row = calls::by_sid(&app.state.db, sid).await.unwrap();
        let row = row.unwrap_or_else(|| panic!("{sid}: answered without its row"));
        assert_eq!(row.business_id, Some(business));
        assert_eq!(row.status, "ringing");
        assert_eq!(row.direction, "inbound");
    }
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_logs")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        sids.len() as i64,
        "one row per call, retries included"
    );
    if backend == Backend::Postgres {
        let (watched,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_watch")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
        assert_eq!(watched, sids.len() as i64, "one watchdog entry per call");
    }
}
dual_test!(a_burst_of_calls_gets_one_row_each);
