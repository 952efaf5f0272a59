//! PostgreSQL goes away mid-service: calls are still answered, nothing is lost (V3, V12, O1).
//! And on either backend a sick database (PostgreSQL unreachable, SQLite's write lock held
//! by another process) never holds a voice webhook for the pool's timeout.

mod common;

use std::time::{Duration, Instant};

use common::sick::Sick;
use common::twilio::{self, AUTH_TOKEN, call_params, new_call_sid, params};
use common::{Backend, TestApp};
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
            t.stream_connect().is_some(),
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
            ("WHATSAPP_PROVIDER", "twilio"),
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

/// Answers within the bound, whatever the database does.
fn quick_enough(what: &str, started: Instant) {
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "{what} answered in {took:?}"
    );
}

async fn jobs_keyed(app: &TestApp, key: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE idempotency_key = $1")
        .bind(key)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    n
}

/// stream_ended, handle_recording, recording_status and call_status `completed` answer at
/// once while the database is sick (never a 500); what they could not write, with the jobs
/// that follow it, lands from the outbox once the database is back.
async fn voice_webhooks_are_bounded_while_the_database_is_sick(backend: Backend) {
    let (app, mut sick) = Sick::app(backend).await;
    let phone = mokdan::domain::Phone::parse("+97231234567").unwrap();
    let business = mokdan::store::businesses::create(&app.state.db, "אינסטלטור", &phone)
        .await
        .unwrap();
    // `known` rang while all was well; `unknown` and `outbound` are first seen while sick.
    let (known, unknown, outbound) = (new_call_sid(), new_call_sid(), new_call_sid());
    let ring = call_params(&known, "+972501234567", "+97231234567");
    let t = app.twiml("/webhook/incoming_call", &ring).await;
    assert!(t.stream_connect().is_some(), "{:?}", t.verbs);

    sick.start().await;
    for sid in [&known, &unknown] {
        let form = params(&[
            ("CallSid", sid),
            ("From", "+972501234567"),
            ("To", "+97231234567"),
        ]);
        let started = Instant::now();
        let t = app.twiml("/webhook/stream_ended", &form).await;
        quick_enough("stream_ended", started);
        assert!(
            t.verbs.iter().any(|v| matches!(v, Verb::Record(_))),
            "the caller may still leave a message: {:?}",
            t.verbs
        );
    }
    let recording = |sid: &str, rec: &str| {
        params(&[
            ("CallSid", sid),
            ("RecordingSid", rec),
            ("RecordingUrl", &format!("https://api.twilio.com/rec/{rec}")),
            ("RecordingDuration", "7"),
            ("RecordingStatus", "completed"),
        ])
    };
    let (rec_known, rec_unknown) = (format!("RE{:032x}", 1), format!("RE{:032x}", 2));
    let started = Instant::now();
    let t = app
        .twiml("/webhook/handle_recording", &recording(&known, &rec_known))
        .await;
    quick_enough("handle_recording", started);
    assert!(
        matches!(t.verbs.last(), Some(Verb::Hangup)),
        "{:?}",
        t.verbs
    );
    let started = Instant::now();
    let r = app
        .post_signed(
            "/webhook/recording_status",
            &recording(&unknown, &rec_unknown),
        )
        .await;
    quick_enough("recording_status", started);
    assert_eq!(r.status(), 204);
    for (sid, direction) in [(&known, "inbound"), (&outbound, "outbound-api")] {
        let done = params(&[
            ("CallSid", sid),
            ("CallStatus", "completed"),
            ("CallDuration", "30"),
            ("Direction", direction),
            ("From", "+97231234567"),
            ("To", "+972501234567"),
        ]);
        let started = Instant::now();
        let r = app.post_signed("/webhook/call_status", &done).await;
        quick_enough("call_status", started);
        assert_eq!(r.status(), 204);
    }

    sick.end().await;
    let db = &app.state.db;
    let landed = || async {
        let k = mokdan::store::calls::by_sid(db, &known)
            .await
            .ok()
            .flatten()?;
        let u = mokdan::store::calls::by_sid(db, &unknown)
            .await
            .ok()
            .flatten()?;
        let o = mokdan::store::calls::by_sid(db, &outbound)
            .await
            .ok()
            .flatten()?;
        let ready = k.recording_sid.is_some()
            && k.fallback_reason.is_some()
            && k.duration_secs.is_some()
            && u.recording_sid.is_some()
            && u.fallback_reason.is_some()
            && o.status == "completed"
            && jobs_keyed(&app, &format!("call_recordings:{outbound}")).await == 1;
        ready.then_some((k, u))
    };
    let mut rows = None;
    for _ in 0..150 {
        rows = landed().await;
        if rows.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (k, u) = rows.expect("every kept write landed once the database was back");
    assert_eq!(k.business_id, Some(business));
    assert_eq!(k.recording_sid.as_deref(), Some(rec_known.as_str()));
    assert_eq!(k.duration_secs, Some(30));
    assert!(k.stream_end_reason.is_some(), "{k:?}");
    assert_eq!(u.recording_sid.as_deref(), Some(rec_unknown.as_str()));
    assert_eq!(u.recording_duration, Some(7));
    for rec in [&rec_known, &rec_unknown] {
        assert_eq!(jobs_keyed(&app, &format!("fetch:{rec}")).await, 1, "{rec}");
    }
    app.shutdown().await.unwrap();
}
dual_test!(voice_webhooks_are_bounded_while_the_database_is_sick);

/// `transfer_ended` for a transfer nobody answered, while the database is sick: the caller
/// is offered the recording at once, and the call-back request and the fallback's mark
/// land from the outbox once the database is back (#16.5).
async fn an_unanswered_transfer_is_bounded_and_kept_while_the_database_is_sick(backend: Backend) {
    let (app, mut sick) = Sick::app(backend).await;
    let phone = mokdan::domain::Phone::parse("+97231234567").unwrap();
    mokdan::store::businesses::create(&app.state.db, "מוסך", &phone)
        .await
        .unwrap();
    let sid = new_call_sid();
    let ring = call_params(&sid, "+972501234567", "+97231234567");
    app.twiml("/webhook/incoming_call", &ring).await;

    sick.start().await;
    let form = params(&[("CallSid", &sid), ("DialCallStatus", "no-answer")]);
    let started = Instant::now();
    let t = app.twiml("/webhook/transfer_ended", &form).await;
    quick_enough("transfer_ended", started);
    assert!(
        t.verbs.iter().any(|v| matches!(v, Verb::Record(_))),
        "the caller may leave a message: {:?}",
        t.verbs
    );
    sick.end().await;

    let mut row = None;
    for _ in 0..150 {
        row = mokdan::store::calls::by_sid(&app.state.db, &sid)
            .await
            .ok()
            .flatten()
            .filter(|r| r.fallback_reason.is_some());
        if row.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row = row.expect("the fallback's mark landed once the database was back");
    assert_eq!(row.fallback_reason.as_deref(), Some("transfer_unanswered"));
    let (when, reason): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT callback_time, caller_reason FROM call_logs WHERE call_sid = $1")
            .bind(&sid)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(
        when.as_deref(),
        Some(mokdan::calls::actions::CALLBACK_ASAP),
        "the call-back request landed"
    );
    assert_eq!(
        reason.as_deref(),
        Some(mokdan::calls::actions::ASKED_FOR_A_PERSON)
    );
    app.shutdown().await.unwrap();
}
dual_test!(an_unanswered_transfer_is_bounded_and_kept_while_the_database_is_sick);
/// A message we sent through `provider`, accepted with `provider_message_id`, now `sent`.
async fn sent_message(app: &TestApp, business: i64, provider: &'static str, id: &str) {
    let phone = mokdan::domain::Phone::parse("+972501234567").unwrap();
    let customer =
        mokdan::store::customers::upsert_by_phone(&app.state.db, business, &phone, None, "test")
            .await
            .unwrap();
    let new = mokdan::store::whatsapp::NewOutbound {
        customer_id: customer,
        provider,
        from_number: Some("+97231234567".into()),
        to_number: phone.to_string(),
        body: Some("שלום".into()),
        template: None,
        status_callback: None,
        idempotency_key: None,
        reply_to: None,
    };
    let (row, _) = mokdan::store::whatsapp::insert_outbound(&app.state.db, business, &new)
        .await
        .unwrap();
    let sent = mokdan::whatsapp::status::SENT;
    mokdan::store::whatsapp::accepted(&app.state.db, row, id, "sent", sent)
        .await
        .unwrap();
}

/// Delivery statuses from Twilio (one webhook each) and from Meta (one notification with
/// several) are answered within the bound while the database is sick, kept in the outbox,
/// and applied once it is back: `read` and `failed` with its code, none lost (#16.5, W4).
async fn whatsapp_statuses_are_kept_while_the_database_is_sick(backend: Backend) {
    for provider in ["twilio", "meta"] {
        let extra: &[(&str, &str)] = match provider {
            "twilio" => &[("WHATSAPP_PROVIDER", "twilio")],
            _ => &[
                ("WHATSAPP_PROVIDER", "meta"),
                ("META_ACCESS_TOKEN", "meta-token"),
                ("META_PHONE_NUMBER_ID", "1065"),
            ],
        };
        let mut vars = vec![
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
        ];
        vars.extend_from_slice(extra);
        let (app, mut sick) = Sick::app_with(backend, &vars).await;
        let phone = mokdan::domain::Phone::parse("+97231234567").unwrap();
        let business = mokdan::store::businesses::create(&app.state.db, "מספרה", &phone)
            .await
            .unwrap();
        let ids: Vec<String> = match provider {
            "twilio" => (1..=3).map(|i| format!("SM{i:032x}")).collect(),
            _ => (1..=3).map(|i| format!("wamid.HBgM{i:020}")).collect(),
        };
        for id in &ids {
            sent_message(&app, business, provider, id).await;
        }
        // The first two are read, the third failed with the provider's code.
        let updates = [
            (&ids[0], "delivered"),
            (&ids[0], "read"),
            (&ids[1], "read"),
            (&ids[2], "failed"),
        ];

        sick.start().await;
        let started = Instant::now();
        if provider == "twilio" {
            for (id, status) in updates {
                let mut form = params(&[
                    ("MessageSid", id),
                    ("MessageStatus", status),
                    ("AccountSid", twilio::ACCOUNT_SID),
                ]);
                if status == "failed" {
                    form.extend(params(&[
                        ("ErrorCode", "63016"),
                        ("ErrorMessage", "window"),
                    ]));
                }
                let one = Instant::now();
                let r = app.post_signed("/webhook/whatsapp/status", &form).await;
                assert_eq!(r.status(), 200, "Twilio is answered, not told to fail");
                assert!(
                    one.elapsed() < Duration::from_secs(4),
                    "{:?}",
                    one.elapsed()
                );
            }
        } else {
            let statuses: Vec<serde_json::Value> = updates
                .iter()
                .map(|(id, status)| {
                    let mut s = serde_json::json!({"id": id, "status": status,
                        "timestamp": "1700000000", "recipient_id": "972501234567"});
                    if *status == "failed" {
                        s["errors"] = serde_json::json!([{"code": 131047, "title": "window"}]);
                    }
                    s
                })
                .collect();
            let note = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1",
                "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "97231234567", "phone_number_id": "1065"},
                "statuses": statuses}}]}]});
            let r = app
                .http
                .post(app.url("/webhook/whatsapp/meta"))
                .json(&note)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "Meta is answered, not told to retry");
            // One bound for the whole batch, not one per status.
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "{:?}",
                started.elapsed()
            );
        }

        sick.end().await;
        let db = &app.state.db;
        let landed = || async {
            let mut rows = Vec::new();
            for id in &ids {
                let m = mokdan::store::whatsapp::by_provider_id(db, business, provider, id)
                    .await
                    .ok()
                    .flatten()?;
                rows.push(m);
            }
            let done =
                rows[0].status == "read" && rows[1].status == "read" && rows[2].status == "failed";
            done.then_some(rows)
        };
        let mut rows = None;
        for _ in 0..150 {
            rows = landed().await;
            if rows.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let rows =
            rows.unwrap_or_else(|| panic!("{provider}: every kept status applied once back"));
        let code = if provider == "twilio" {
            "63016"
        } else {
            "131047"
        };
        assert_eq!(rows[2].error_code.as_deref(), Some(code), "{provider}");
        app.shutdown().await.unwrap();
    }
}
dual_test!(whatsapp_statuses_are_kept_while_the_database_is_sick);
