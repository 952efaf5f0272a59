//! PostgreSQL goes away mid-service: calls are still answered, nothing is lost (V3, V12, O1).

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use common::twilio::{self, AUTH_TOKEN, call_params, new_call_sid, params};
use telephony::twiml::Verb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_answered_and_kept_while_the_database_is_down() {
    let db = common::create_pg_database().await;
    let proxy = common::proxy::Proxy::start(&common::pg_host_port()).await;
    let url = common::pg_url(&proxy.addr.to_string(), &db);
    let app = TestApp::spawn_on(
        url,
        tempfile::tempdir().unwrap(),
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
        ],
    )
    .await;
    let phone = mokdan::domain::Phone::parse("+97231234567").unwrap();
    let business = mokdan::store::businesses::create(&app.state.db, "חשמלאי", &phone)
        .await
        .unwrap();

    proxy.cut().await;
    assert_eq!(app.get("/readyz").await.status(), 503);
    let sids: Vec<String> = (0..3).map(|_| new_call_sid()).collect();
    for sid in &sids {
        let started = Instant::now();
        let t = app
            .twiml(
                "/webhook/incoming_call",
                &call_params(sid, "+972501234567", "+97231234567"),
            )
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "answered in {:?}",
            started.elapsed()
        );
        assert!(
            matches!(t.verbs.as_slice(), [Verb::Connect(_)]),
            "the call proceeds: {:?}",
            t.verbs
        );
        let done = params(&[
            ("CallSid", sid),
            ("CallStatus", "completed"),
            ("CallDuration", "12"),
        ]);
        assert_eq!(
            app.post_signed("/webhook/call_status", &done)
                .await
                .status(),
            204
        );
    }

    proxy.restore().await;
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows.clear();
        for sid in &sids {
            if let Ok(Some(r)) = mokdan::store::calls::by_sid(&app.state.db, sid).await {
                rows.push(r);
            }
        }
        if rows.len() == sids.len() && rows.iter().all(|r| r.status == "completed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        rows.len(),
        sids.len(),
        "every call row written once the database returned"
    );
    for r in &rows {
        assert_eq!(r.status, "completed");
        assert_eq!(r.duration_secs, Some(12));
        assert_eq!(
            r.business_id,
            Some(business),
            "the business is found on replay"
        );
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_messages_are_kept_while_the_database_is_down() {
    let db = common::create_pg_database().await;
    let proxy = common::proxy::Proxy::start(&common::pg_host_port()).await;
    let url = common::pg_url(&proxy.addr.to_string(), &db);
    let app = TestApp::spawn_on(
        url,
        tempfile::tempdir().unwrap(),
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
        ],
    )
    .await;
    let phone = mokdan::domain::Phone::parse("+97231234567").unwrap();
    let business = mokdan::store::businesses::create(&app.state.db, "מספרה", &phone)
        .await
        .unwrap();

    proxy.cut().await;
    let sids: Vec<String> = (0..3).map(|i| format!("SM{i:032x}")).collect();
    for (i, sid) in sids.iter().enumerate() {
        let body = format!("שלום, אני רוצה לקבוע תור 🙏 {i}");
        let form = params(&[
            ("MessageSid", sid),
            ("AccountSid", twilio::ACCOUNT_SID),
            ("From", "whatsapp:+972501234567"),
            ("To", "whatsapp:+97231234567"),
            ("Body", &body),
            ("NumMedia", "0"),
            ("ProfileName", "דנה"),
        ]);
        let started = Instant::now();
        let r = app.post_signed("/webhook/whatsapp/twilio", &form).await;
        assert_eq!(r.status(), 200, "Twilio is answered, not told to fail");
        assert!(started.elapsed() < Duration::from_secs(4));
        // Twilio may deliver the same message twice: still one row in the end.
        if i == 0 {
            let again = app.post_signed("/webhook/whatsapp/twilio", &form).await;
            assert_eq!(again.status(), 200);
        }
    }

    proxy.restore().await;
    let mut stored = Vec::new();
    for _ in 0..100 {
        stored.clear();
        for sid in &sids {
            if let Ok(Some(m)) =
                mokdan::store::whatsapp::by_provider_id(&app.state.db, business, "twilio", sid)
                    .await
            {
                stored.push(m);
            }
        }
        if stored.len() == sids.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored.len(), sids.len(), "every message stored once back");
    for m in &stored {
        assert!(m.body.as_deref().unwrap_or("").starts_with("שלום"));
    }
    let count = mokdan::store::whatsapp::count(&app.state.db, business, "in")
        .await
        .unwrap();
    assert_eq!(count, 3, "the duplicate delivery was not stored twice");
    app.shutdown().await.unwrap();
}
