//! WhatsApp over Twilio, sending, black-box on both databases (W3–W5): `POST
//! /api/whatsapp/send` through the `sim` crate's Messages API (which calls back with signed
//! statuses) and, where a test must control Twilio's answers, through a local stand-in of
//! `Messages.json`: forward-only statuses, the 24-hour window and templates, idempotent
//! sends, retries of momentary errors, and a send that survives a restart.

mod common;
mod whatsapp_support;

use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use mokdan::store::whatsapp as store;
use serde_json::{Value, json};
use whatsapp_support::twilio::*;
use whatsapp_support::*;

async fn statuses_only_move_forward_and_failures_keep_their_code(backend: Backend) {
    // Twilio calls back `sent` before its API answer reaches us: kept, then applied.
    let (api, _fake) = fake_twilio(vec![], Some("sent")).await;
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    customer_wrote_ago(&app, business_id, CUSTOMER, Some(60_000)).await;
    let (code, first) = send(
        &app,
        json!({"business_id": business_id, "to": CUSTOMER, "body": "תודה! 👍"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(
        first["status"], "queued",
        "answered before the send: {first}"
    );
    let id = first["id"].as_i64().unwrap();
    let first = eventually("the early status to be applied", || async {
        store::get(&app.state.db, business_id, id)
            .await
            .unwrap()
            .filter(|m| m.status == "sent")
    })
    .await;
    let sid = first.provider_message_id.unwrap();

    for s in ["read", "sent", "delivered", "queued", "sent"] {
        status(&app, &sid, s, None).await;
    }
    let m = store::by_provider_id(&app.state.db, business_id, "twilio", &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, "read");

    // A failure is terminal and keeps its code; nothing moves it afterwards.
    let (_, second) = send(
        &app,
        json!({"business_id": business_id, "to": CUSTOMER, "body": "שוב"}),
        None,
    )
    .await;
    let sid2 = settled_answer(&app, business_id, &second)
        .await
        .provider_message_id
        .unwrap();
    status(&app, &sid2, "sent", None).await;
    status(&app, &sid2, "undelivered", Some("63024")).await;
    status(&app, &sid2, "delivered", None).await;
    status(&app, &sid2, "read", None).await;
    status(&app, &sid2, "failed", Some("30008")).await;
    let m = store::by_provider_id(&app.state.db, business_id, "twilio", &sid2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.status.as_str(), m.error_code.as_deref()),
        ("undelivered", Some("63024"))
    );
    // A status for a message nobody sent is answered 200 and touches nothing.
    status(&app, "SMffffffffffffffffffffffffffffffff", "read", None).await;
    app.shutdown().await.unwrap();
}
dual_test!(statuses_only_move_forward_and_failures_keep_their_code);

async fn free_form_outside_the_window_is_refused_before_twilio_and_templates_go_out(
    backend: Backend,
) {
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;

    // Never wrote, then wrote 25 hours ago: refused, and Twilio never hears of it.
    let never = "+972502222222";
    customer_wrote_ago(&app, business_id, never, None).await;
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "to": never, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["code"], "template_required");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("template"),
        "{body}"
    );
    let stale = customer_wrote_ago(&app, business_id, CUSTOMER, Some(25 * 3600 * 1000)).await;
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": stale, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("25 hours"),
        "{body}"
    );
    assert!(log_of(&fake.log).is_empty());
    assert_eq!(
        store::count(&app.state.db, business_id, "out")
            .await
            .unwrap(),
        0
    );

    // A template is allowed: ContentSid plus ContentVariables as JSON.
    let content_sid = format!("HX{}", "a".repeat(32));
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": stale,
               "template": {"content_sid": content_sid, "variables": {"1": "דנה", "2": "10:00"}}}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "queued");
    let seen = seen_at_least(&fake.log, 1).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].field("ContentSid").as_deref(),
        Some(content_sid.as_str())
    );
    let vars: Value = serde_json::from_str(&seen[0].field("ContentVariables").unwrap()).unwrap();
    assert_eq!(vars, json!({"1": "דנה", "2": "10:00"}));
    assert_eq!(seen[0].field("Body"), None);
    assert_eq!(
        seen[0].field("To").as_deref(),
        Some("whatsapp:+972501234567")
    );
    assert_eq!(
        seen[0].field("StatusCallback").as_deref(),
        Some(app.url("/webhook/whatsapp/status").as_str())
    );
    // Inside the window, free text goes out.
    customer_wrote_ago(&app, business_id, CUSTOMER, Some(23 * 3600 * 1000)).await;
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": stale, "body": "מחכים לך 🙂"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        seen_at_least(&fake.log, 2).await[1]
            .field("Body")
            .as_deref(),
        Some("מחכים לך 🙂")
    );
    app.shutdown().await.unwrap();
}
dual_test!(free_form_outside_the_window_is_refused_before_twilio_and_templates_go_out);

async fn idempotent_sends_reach_twilio_once(backend: Backend) {
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    customer_wrote_ago(&app, business_id, CUSTOMER, Some(1000)).await;
    let req = json!({"business_id": business_id, "to": CUSTOMER, "body": "נתראה מחר"});
    let (code, first) = send(&app, req.clone(), Some("key-1")).await;
    assert_eq!(code, 200, "{first}");
    // Retries of the request, while the send is queued and after it went out.
    let attempts =
        futures::future::join_all((0..5).map(|_| send(&app, req.clone(), Some("key-1")))).await;
    for (code, again) in attempts {
        assert_eq!(code, 200);
        assert_eq!(again["id"], first["id"]);
    }
    let sent = settled_answer(&app, business_id, &first).await;
    let (_, late) = send(&app, req.clone(), Some("key-1")).await;
    assert_eq!(late["id"], first["id"]);
    assert_eq!(
        late["provider_message_id"].as_str(),
        sent.provider_message_id.as_deref()
    );
    let (_, other) = send(&app, req.clone(), Some("key-2")).await;
    assert_ne!(other["id"], first["id"]);
    settled_answer(&app, business_id, &other).await;
    assert_eq!(log_of(&fake.log).len(), 2, "each key sent once");
    app.shutdown().await.unwrap();
}
dual_test!(idempotent_sends_reach_twilio_once);

/// 429 twice, then 201: the queue retries with backoff, one message is sent and its status
/// only moves forward. A 400 is stored on the message with its code and never retried.
async fn provider_errors_retry_when_momentary_and_stick_when_permanent(backend: Backend) {
    let (api, fake) = fake_twilio(vec![429, 429], None).await;
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    let customer = customer_wrote_ago(&app, business_id, CUSTOMER, Some(1000)).await;
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": customer, "body": "א"}),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["status"], "queued", "{body}");
    let id = body["id"].as_i64().unwrap();
    // Between attempts the message is back to queued, with the provider's answer on it.
    let waiting = eventually("the first refusal to be stored", || async {
        store::get(&app.state.db, business_id, id)
            .await
            .unwrap()
            .filter(|m| m.attempts >= 1 && m.status == "queued" && m.provider_message_id.is_none())
    })
    .await;
    assert_eq!(waiting.error_code.as_deref(), Some("20500"));
    let m = settled(&app, business_id, id).await;
    assert_eq!(
        m.status, "queued",
        "Twilio's own answer, ahead of its callbacks"
    );
    assert_eq!(m.attempts, 3);
    assert_eq!((m.error_code, m.error_message), (None, None));
    assert_eq!(log_of(&fake.log).len(), 3);
    let sid = m.provider_message_id.unwrap();
    status(&app, &sid, "delivered", None).await;
    status(&app, &sid, "sent", None).await;
    let m = store::get(&app.state.db, business_id, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, "delivered");
    let job = mokdan::store::jobs::by_kind(&app.state.db, "whatsapp_send")
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.payload_json()["message_id"] == json!(id))
        .unwrap();
    assert_eq!((job.state.as_str(), job.attempts), ("done", 3));

    // 400 (Twilio 21211, invalid number): stored as failed with the code, never retried.
    fake.script.lock().unwrap().push(400);
    let (_, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": customer, "body": "ב"}),
        None,
    )
    .await;
    assert_eq!(body["status"], "queued", "{body}");
    let m = settled_answer(&app, business_id, &body).await;
    assert_eq!(m.status, "failed");
    assert_eq!(m.error_code.as_deref(), Some("21211"));
    assert_eq!(m.attempts, 1);
    let r = get_as(
        &app,
        OPERATOR_EMAIL,
        &format!("/api/whatsapp/threads/{customer}?business_id={business_id}"),
    )
    .await;
    let thread: Value = r.json().await.unwrap();
    let shown = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == body["id"])
        .unwrap()
        .clone();
    assert_eq!(
        (shown["status"].as_str(), shown["error_code"].as_str()),
        (Some("failed"), Some("21211")),
        "{shown}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(log_of(&fake.log).len(), 4, "no retry of a permanent error");
    app.shutdown().await.unwrap();
}
dual_test!(provider_errors_retry_when_momentary_and_stick_when_permanent);

/// The process dies after a send was accepted and before it reached Twilio (here: it runs
/// no workers and is dropped, as kill -9 would leave it). The message and its job are in
/// the database, so the next start sends it, once; a further restart sends nothing more.
async fn a_send_survives_a_restart_and_goes_out_once(backend: Backend) {
    let (api, fake) = fake_twilio(vec![], None).await;
    let (db_url, dir) = common::fresh_database(backend).await;
    let vars = |workers: &'static str| {
        vec![
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_API_BASE", api.as_str()),
            ("WHATSAPP_PROVIDER", "twilio"),
            ("MOKDAN_JOB_WORKERS", workers),
            // As in production: sign-ins outlive a restart.
            ("JWT_SECRET", "restart-test-secret-0123456789"),
        ]
    };
    let doomed = TestApp::spawn_on(db_url.clone(), dir, &vars("0")).await;
    let business_id = business(&doomed, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&doomed).await;
    customer_wrote_ago(&doomed, business_id, CUSTOMER, Some(1000)).await;
    let req = json!({"business_id": business_id, "to": CUSTOMER, "body": "נשמר לפני הקריסה"});
    let (code, body) = send(&doomed, req.clone(), Some("crash-1")).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        log_of(&fake.log).is_empty(),
        "nothing was sent before the crash"
    );
    let TestApp { dir, .. } = doomed;

    let revived = TestApp::spawn_on(db_url.clone(), dir, &vars("2")).await;
    let m = settled_answer(&revived, business_id, &body).await;
    assert_eq!(m.status, "queued", "accepted by Twilio");
    assert!(m.provider_message_id.is_some());
    let seen = log_of(&fake.log);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].field("Body").as_deref(), Some("נשמר לפני הקריסה"));
    // The client retries its request after the restart: the same message, nothing sent.
    let (code, again) = send(&revived, req, Some("crash-1")).await;
    assert_eq!((code, &again["id"]), (200, &body["id"]), "{again}");
    let TestApp { dir, .. } = revived;

    let later = TestApp::spawn_on(db_url, dir, &vars("2")).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(log_of(&fake.log).len(), 1, "sent once across restarts");
    later.shutdown().await.unwrap();
}
dual_test!(a_send_survives_a_restart_and_goes_out_once);

/// An owner's API send, with an Idempotency-Key, goes through the `sim` crate's Messages
/// API: the message gets Twilio's SID, the sim's signed callbacks (queued, sent, delivered,
/// read) move the stored status forward to `read`, and retries of the request, while it is
/// in flight and after it was read, are the same message: one Messages create at Twilio.
async fn an_api_send_goes_through_the_sim_and_its_callbacks_reach_read(backend: Backend) {
    let sim = sim::Sim::start(sim::SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let api = sim.api_base();
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let owner = "owner@example.com";
    user(
        &app,
        owner,
        mokdan::store::users::Role::Owner,
        Some(business_id),
    )
    .await;
    let customer = customer_wrote_ago(&app, business_id, CUSTOMER, Some(60_000)).await;
    let text = "התור שלך אושר למחר ב-10:00 ✅ נתראה! 💇‍♀️";
    let req = json!({"customer_id": customer, "body": text});
    let path = "/api/whatsapp/send";

    // Without a token: refused, and Twilio never hears of it.
    let r = app
        .http
        .post(app.url(path))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let (code, first) = send_as(&app, owner, path, req.clone(), Some("sim-key-1")).await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(first["status"], "queued", "{first}");
    assert_eq!(first["body"], text);
    let id = first["id"].as_i64().unwrap();
    // The client retries while the send is queued or in flight.
    let retries = futures::future::join_all(
        (0..4).map(|_| send_as(&app, owner, path, req.clone(), Some("sim-key-1"))),
    )
    .await;
    for (code, again) in retries {
        assert_eq!((code, &again["id"]), (200, &first["id"]), "{again}");
    }

    let read = eventually(
        "the sim's callbacks to move the message to read",
        || async {
            store::get(&app.state.db, business_id, id)
                .await
                .unwrap()
                .filter(|m| m.status == "read")
        },
    )
    .await;
    let sid = read.provider_message_id.clone().unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert_eq!(read.body.as_deref(), Some(text));
    assert_eq!((read.error_code, read.error_message), (None, None));

    // Twilio's side: one message, with our SID, body and numbers, and every callback
    // (in Twilio's order) answered 200 by the status webhook.
    let messages = eventually("the sim's four callbacks", || async {
        let m = sim.messages();
        (m.len() == 1 && m[0].callbacks.len() == 4).then_some(m)
    })
    .await;
    let m = &messages[0];
    assert_eq!(m.sid, sid);
    assert_eq!(m.body, text);
    assert_eq!(m.to, format!("whatsapp:{CUSTOMER}"));
    assert_eq!(m.from, format!("whatsapp:{BUSINESS_NUMBER}"));
    assert_eq!(
        m.status_callback.as_deref(),
        Some(app.url("/webhook/whatsapp/status").as_str())
    );
    let callbacks: Vec<(&str, u16)> = m.callbacks.iter().map(|(s, c)| (s.as_str(), *c)).collect();
    assert_eq!(
        callbacks,
        [
            ("queued", 200),
            ("sent", 200),
            ("delivered", 200),
            ("read", 200)
        ]
    );

    // A late retry: the same message, with its SID and status; still nothing new sent.
    let (code, late) = send_as(&app, owner, path, req.clone(), Some("sim-key-1")).await;
    assert_eq!((code, &late["id"]), (200, &first["id"]), "{late}");
    assert_eq!(late["provider_message_id"].as_str(), Some(sid.as_str()));
    assert_eq!(late["status"], "read", "{late}");
    // A replayed `delivered` callback never moves it back.
    status(&app, &sid, "delivered", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let creates: Vec<_> = sim
        .rest_log()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/Messages.json"))
        .collect();
    assert_eq!(creates.len(), 1, "one Messages create: {creates:?}");
    assert!(creates[0].basic_auth_ok);
    assert_eq!(creates[0].param("Body"), Some(text));
    assert_eq!(sim.messages().len(), 1);
    assert_eq!(
        store::get(&app.state.db, business_id, id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "read"
    );
    assert_eq!(
        store::count(&app.state.db, business_id, "out")
            .await
            .unwrap(),
        1
    );
    assert!(sim.errors().is_empty(), "{:?}", sim.errors());
    app.shutdown().await.unwrap();
    sim.shutdown().await;
}
dual_test!(an_api_send_goes_through_the_sim_and_its_callbacks_reach_read);

async fn a_refused_send_creates_no_customer(backend: Backend) {
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    // Free text to a number the business has never heard from: refused, and the CRM is
    // left exactly as it was (no customer appears for a message that never went out).
    let stranger = "+972507777777";
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "to": stranger, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(body["error"]["code"], "template_required");
    assert_eq!(customer_id(&app, business_id, stranger).await, None);
    assert!(log_of(&fake.log).is_empty());

    // A template to the same number is accepted: now the customer exists, with the send.
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "to": stranger,
               "template": {"content_sid": format!("HX{}", "b".repeat(32))}}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let created = customer_id(&app, business_id, stranger).await;
    assert_eq!(created, body["customer_id"].as_i64());
    assert_eq!(seen_at_least(&fake.log, 1).await.len(), 1);
    app.shutdown().await.unwrap();
}
dual_test!(a_refused_send_creates_no_customer);
