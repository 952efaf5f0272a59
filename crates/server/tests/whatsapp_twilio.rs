//! WhatsApp over Twilio, black-box on both databases (W1–W5, S1): signed and unsigned
//! webhooks, Hebrew and emoji, media, concurrent duplicate deliveries, forward-only
//! statuses, the 24-hour window, idempotent sends, retries, tenant scoping. Sends go
//! through the `sim` crate's Messages API (which calls back with signed statuses) or,
//! where a test must control Twilio's answers, a local stand-in of `Messages.json`.

mod common;
mod whatsapp_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN, params};
use common::{Backend, TestApp};
use mokdan::store::whatsapp as store;
use serde_json::{Value, json};
use whatsapp_support::*;

fn inbound_form(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    let wa_id = from.trim_start_matches('+');
    params(&[
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ProfileName", "דנה כהן"),
        ("MessageType", "text"),
        ("SmsSid", sid),
        ("WaId", wa_id),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", &format!("whatsapp:{BUSINESS_NUMBER}")),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("whatsapp:{from}")),
        ("ApiVersion", "2010-04-01"),
    ])
}

fn new_sid() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}

async fn app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
    ];
    vars.extend_from_slice(extra);
    TestApp::spawn_with(backend, &vars).await
}

async fn inbound_is_signed_stored_and_linked_with_hebrew_emoji_and_media(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let sid = new_sid();
    let text = "שלום! אפשר לקבוע תור למחר ב-10:00? 🙏💇‍♀️";
    let mut form = inbound_form(&sid, CUSTOMER, text);
    form.retain(|(k, _)| k != "NumMedia");
    form.extend(params(&[
        ("NumMedia", "2"),
        (
            "MediaUrl0",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        ),
        ("MediaContentType0", "image/jpeg"),
        (
            "MediaUrl1",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2",
        ),
        ("MediaContentType1", "audio/ogg"),
        (
            "OriginalRepliedMessageSid",
            "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        ("SomeFieldTwilioAddsTomorrow", "whatever"),
    ]));

    // Unsigned and wrongly signed: refused, nothing stored.
    let r = app
        .http
        .post(app.url("/webhook/whatsapp/twilio"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .post_signed_as(
            "/webhook/whatsapp/twilio",
            "https://evil.example/webhook/whatsapp/twilio",
            &form,
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(app.url("/webhook/whatsapp/status"))
        .form(&params(&[("MessageSid", &sid), ("MessageStatus", "read")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        0
    );

    let r = app.post_signed("/webhook/whatsapp/twilio", &form).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let twiml = r.text().await.unwrap();
    assert!(
        telephony::twiml::parse(&twiml).unwrap().verbs.is_empty(),
        "{twiml}"
    );

    let m = store::by_provider_id(&app.state.db, business_id, "twilio", &sid)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(m.body.as_deref(), Some(text));
    assert_eq!(m.direction, "in");
    assert_eq!(m.from_number.as_deref(), Some(CUSTOMER));
    assert_eq!(m.to_number.as_deref(), Some(BUSINESS_NUMBER));
    assert_eq!(m.profile_name.as_deref(), Some("דנה כהן"));
    assert_eq!(
        m.reply_to.as_deref(),
        Some("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    );
    let media: Value = serde_json::from_str(m.media.as_deref().unwrap()).unwrap();
    assert_eq!(media[0]["content_type"], "image/jpeg");
    assert_eq!(
        media[1]["url"],
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"
    );
    let customer =
        mokdan::store::customers::get(&app.state.db, business_id, m.customer_id.unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(customer.phone, CUSTOMER);
    assert_eq!(customer.name.as_deref(), Some("דנה כהן"));
    assert!(customer.last_inbound_at.is_some());
    // Auto-reply is off for this business: nothing goes out.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        store::count(&app.state.db, business_id, "out")
            .await
            .unwrap(),
        0
    );

    // A number no business owns: answered, kept unlinked, no customer created anywhere.
    let mut stray = inbound_form(&new_sid(), "+972504444444", "מי זה?");
    stray.retain(|(k, _)| k != "To");
    stray.push(("To".into(), "whatsapp:+97237777777".into()));
    assert_eq!(
        app.post_signed("/webhook/whatsapp/twilio", &stray)
            .await
            .status(),
        200
    );
    let (unlinked,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM whatsapp_messages WHERE business_id IS NULL AND customer_id IS NULL",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(unlinked, 1);
    assert_eq!(customer_id(&app, business_id, "+972504444444").await, None);
    app.shutdown().await.unwrap();
}
dual_test!(inbound_is_signed_stored_and_linked_with_hebrew_emoji_and_media);

async fn ten_concurrent_duplicates_make_one_row_and_one_hebrew_reply_through_the_sim(
    backend: Backend,
) {
    let sim = sim::Sim::start(sim::SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let api = sim.api_base();
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    let sid = new_sid();
    let form = inbound_form(&sid, CUSTOMER, "היי, יש לכם תור פנוי? 😊");
    let mut deliveries = Vec::new();
    for _ in 0..10 {
        let (app_ref, form) = (&app, form.clone());
        deliveries.push(async move {
            app_ref
                .post_signed("/webhook/whatsapp/twilio", &form)
                .await
                .status()
        });
    }
    let statuses = futures::future::join_all(deliveries).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        1
    );
    let customer = customer_id(&app, business_id, CUSTOMER).await.unwrap();

    // One reply, in Hebrew, from the business's number, delivered and finally read.
    let reply = eventually("the reply to be read", || async {
        outbound(&app, business_id, customer)
            .await
            .into_iter()
            .find(|m| m.status == "read")
    })
    .await;
    let body = reply.body.clone().unwrap();
    assert!(body.contains(BUSINESS_NAME), "{body}");
    assert!(body.contains("מה השם שלך?"), "{body}");
    assert_eq!(reply.from_number.as_deref(), Some(BUSINESS_NUMBER));
    assert!(
        reply
            .provider_message_id
            .as_deref()
            .unwrap()
            .starts_with("SM")
    );
    let sent = sim.messages();
    assert_eq!(sent.len(), 1, "one reply only: {sent:?}");
    assert_eq!(sent[0].to, format!("whatsapp:{CUSTOMER}"));
    assert_eq!(sent[0].from, format!("whatsapp:{BUSINESS_NUMBER}"));
    assert_eq!(sent[0].body, body);
    assert_eq!(outbound(&app, business_id, customer).await.len(), 1);

    // The conversation goes on in text mode: the next answer gets the next question.
    let form = inbound_form(&new_sid(), CUSTOMER, "דנה");
    assert_eq!(
        app.post_signed("/webhook/whatsapp/twilio", &form)
            .await
            .status(),
        200
    );
    let second = eventually("the second reply", || async {
        let out = outbound(&app, business_id, customer).await;
        (out.len() == 2 && out[1].provider_message_id.is_some()).then(|| out[1].clone())
    })
    .await;
    assert!(
        second.body.as_deref().unwrap().contains("במה אפשר לעזור"),
        "{:?}",
        second.body
    );
    // Every status callback the sim made was accepted.
    eventually("the sim's callbacks", || async {
        let m = sim.messages();
        (m.len() == 2 && m.iter().all(|m| m.callbacks.len() == 4)).then_some(())
    })
    .await;
    for m in sim.messages() {
        assert!(
            m.callbacks.iter().all(|(_, code)| *code == 200),
            "{:?}",
            m.callbacks
        );
    }
    app.shutdown().await.unwrap();
    sim.shutdown().await;
}
dual_test!(ten_concurrent_duplicates_make_one_row_and_one_hebrew_reply_through_the_sim);

/// A stand-in of Twilio's `Messages.json` whose answers the test controls.
#[derive(Clone)]
struct FakeTwilio {
    log: Log,
    /// HTTP statuses to answer, in order; then 201.
    script: Arc<Mutex<Vec<u16>>>,
    /// Post this status to the StatusCallback before answering (Twilio's race).
    early_status: Option<&'static str>,
    counter: Arc<AtomicUsize>,
}

async fn fake_create(
    State(f): State<FakeTwilio>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let next = {
        let mut s = f.script.lock().unwrap();
        if s.is_empty() { 201 } else { s.remove(0) }
    };
    if next != 201 {
        let code = if next == 400 { 21211 } else { 20500 };
        return (
            StatusCode::from_u16(next).unwrap(),
            Json(json!({"code": code, "message": "nope", "more_info": "https://www.twilio.com/docs/errors", "status": next})),
        )
            .into_response();
    }
    let n = f.counter.fetch_add(1, Ordering::SeqCst);
    let sid = format!("SM{n:032}");
    if let (Some(status), Some((_, cb))) = (
        f.early_status,
        form.iter().find(|(k, _)| k == "StatusCallback"),
    ) {
        let cb_params = params(&[
            ("MessageSid", &sid),
            ("MessageStatus", status),
            ("AccountSid", ACCOUNT_SID),
        ]);
        let sig = telephony::signature::compute(AUTH_TOKEN, cb, &cb_params);
        let r = reqwest::Client::new()
            .post(cb)
            .header("X-Twilio-Signature", sig)
            .form(&cb_params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    (
        StatusCode::CREATED,
        Json(json!({"sid": sid, "status": "queued", "to": "x", "from": "y", "error_code": null})),
    )
        .into_response()
}

async fn fake_media() -> impl IntoResponse {
    (
        [("content-type", "image/jpeg")],
        vec![0xFFu8, 0xD8, 0xFF, 0xE0, 1, 2, 3],
    )
}

async fn fake_twilio(script: Vec<u16>, early_status: Option<&'static str>) -> (String, FakeTwilio) {
    let f = FakeTwilio {
        log: Log::default(),
        script: Arc::new(Mutex::new(script)),
        early_status,
        counter: Arc::new(AtomicUsize::new(1)),
    };
    let router = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(fake_create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{m}/Media/{me}",
            get(fake_media),
        )
        .with_state(f.clone());
    (serve(recording(router, f.log.clone())).await, f)
}

async fn status(app: &TestApp, sid: &str, status: &str, error: Option<&str>) {
    let mut form = params(&[
        ("AccountSid", ACCOUNT_SID),
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("ChannelPrefix", "whatsapp"),
    ]);
    if let Some(code) = error {
        form.extend(params(&[
            ("ErrorCode", code),
            ("ErrorMessage", "Message failed"),
        ]));
    }
    assert_eq!(
        app.post_signed("/webhook/whatsapp/status", &form)
            .await
            .status(),
        200
    );
}

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

async fn threads_and_media_are_tenant_scoped(backend: Backend) {
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(backend, &[("TWILIO_API_BASE", &api)]).await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let b = business(&app, "+97239999999", "מאפיית יוסי", false).await;
    operator(&app).await;
    user(
        &app,
        "owner-a@example.com",
        mokdan::store::users::Role::Owner,
        Some(a),
    )
    .await;
    let media_url = format!("{api}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1");
    let mut form = inbound_form(&new_sid(), CUSTOMER, "תמונה 📷");
    form.retain(|(k, _)| k != "NumMedia");
    form.extend(params(&[
        ("NumMedia", "1"),
        ("MediaUrl0", &media_url),
        ("MediaContentType0", "image/jpeg"),
    ]));
    app.post_signed("/webhook/whatsapp/twilio", &form).await;
    let mut to_b = inbound_form(&new_sid(), "+972503333333", "לחם");
    to_b.retain(|(k, _)| k != "To");
    to_b.push(("To".into(), "whatsapp:+97239999999".into()));
    app.post_signed("/webhook/whatsapp/twilio", &to_b).await;

    let r = get_as(&app, "owner-a@example.com", "/api/whatsapp/threads").await;
    assert_eq!(r.status(), 200);
    let threads: Value = r.json().await.unwrap();
    let list = threads["threads"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{threads}");
    assert_eq!(list[0]["phone"], CUSTOMER);
    assert_eq!(list[0]["last_body"], "תמונה 📷");
    let cust_a = list[0]["customer_id"].as_i64().unwrap();
    let cust_b = customer_id(&app, b, "+972503333333").await.unwrap();
    let r = get_as(
        &app,
        "owner-a@example.com",
        &format!("/api/whatsapp/threads/{cust_b}"),
    )
    .await;
    assert_eq!(r.status(), 404);
    // Another business is not found, exactly like one that does not exist (C4).
    let r = get_as(
        &app,
        "owner-a@example.com",
        &format!("/api/whatsapp/threads?business_id={b}"),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_of(r).await, "not_found");
    let r = get_as(&app, OPERATOR_EMAIL, "/api/whatsapp/threads").await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_of(r).await, "invalid");
    let r = get_as(
        &app,
        OPERATOR_EMAIL,
        &format!("/api/whatsapp/threads?business_id={b}"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let threads: Value = r.json().await.unwrap();
    assert_eq!(threads["threads"][0]["customer_id"], json!(cust_b));
    let r = app.get("/api/whatsapp/threads").await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_of(r).await, "unauthorized");

    let thread: Value = get_as(
        &app,
        "owner-a@example.com",
        &format!("/api/whatsapp/threads/{cust_a}"),
    )
    .await
    .json()
    .await
    .unwrap();
    let msg = &thread["messages"][0];
    assert_eq!(thread["window_open"], true);
    let url = msg["media"][0]["url"].as_str().unwrap().to_string();
    let r = get_as(&app, "owner-a@example.com", &url).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]
    );
    let seen = log_of(&fake.log);
    let auth = seen.last().unwrap().header("authorization").unwrap();
    assert!(
        auth.starts_with("Basic "),
        "fetched with Twilio credentials"
    );
    // Another business's message is not found; a missing item is 404.
    let r = get_as(&app, OPERATOR_EMAIL, &format!("{url}?business_id={b}")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_of(r).await, "not_found");
    let r = get_as(&app, OPERATOR_EMAIL, &format!("{url}?business_id={a}")).await;
    assert_eq!(r.status(), 200);
    let r = get_as(
        &app,
        "owner-a@example.com",
        &url.replace("/media/0", "/media/1"),
    )
    .await;
    assert_eq!(r.status(), 404);
    app.shutdown().await.unwrap();
}
dual_test!(threads_and_media_are_tenant_scoped);

async fn media_off_the_twilio_origin_is_never_fetched(backend: Backend) {
    let (api, _fake) = fake_twilio(vec![], None).await;
    let (elsewhere, other) = fake_twilio(vec![], None).await;
    let app = app_with(backend, &[("TWILIO_API_BASE", &api)]).await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    user(
        &app,
        "owner-a@example.com",
        mokdan::store::users::Role::Owner,
        Some(a),
    )
    .await;
    let mut form = inbound_form(&new_sid(), CUSTOMER, "");
    form.retain(|(k, _)| k != "NumMedia");
    let foreign = format!("{elsewhere}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1");
    form.extend(params(&[
        ("NumMedia", "1"),
        ("MediaUrl0", &foreign),
        ("MediaContentType0", "image/png"),
    ]));
    app.post_signed("/webhook/whatsapp/twilio", &form).await;
    let c = customer_id(&app, a, CUSTOMER).await.unwrap();
    let m = &thread(&app, a, c).await[0];
    assert_eq!(m.body, None);
    let r = get_as(
        &app,
        "owner-a@example.com",
        &format!("/api/whatsapp/messages/{}/media/0", m.id),
    )
    .await;
    assert_eq!(r.status(), 503);
    assert!(
        log_of(&other.log).is_empty(),
        "no request left for a foreign origin"
    );
    app.shutdown().await.unwrap();
}
dual_test!(media_off_the_twilio_origin_is_never_fetched);

async fn sends_are_per_business(backend: Backend) {
    use mokdan::store::users::Role;
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let b = business(&app, "+97239999999", "מאפיית יוסי", false).await;
    operator(&app).await;
    user(&app, "owner-a@example.com", Role::Owner, Some(a)).await;
    user(&app, "agent-a@example.com", Role::Agent, Some(a)).await;
    user(&app, "owner-b@example.com", Role::Owner, Some(b)).await;
    let cust_a = customer_wrote_ago(&app, a, CUSTOMER, Some(60_000)).await;
    let b_phone = "+972503333333";
    let cust_b = customer_wrote_ago(&app, b, b_phone, Some(60_000)).await;
    let path = "/api/whatsapp/send";

    // Owners and agents send for their own business, without naming it.
    for (n, who) in ["owner-a@example.com", "agent-a@example.com"]
        .into_iter()
        .enumerate()
    {
        let (code, m) = send_as(
            &app,
            who,
            path,
            json!({"customer_id": cust_a, "body": "שלום מהעסק"}),
            None,
        )
        .await;
        assert_eq!(code, 200, "{who}: {m}");
        assert_eq!(m["business_id"], json!(a));
        assert_eq!(m["customer_id"], json!(cust_a));
        let seen = seen_at_least(&fake.log, n + 1).await;
        assert_eq!(seen.len(), n + 1);
        assert_eq!(
            seen[n].field("From").as_deref(),
            Some(format!("whatsapp:{BUSINESS_NUMBER}").as_str())
        );
    }
    let (code, m) = send_as(
        &app,
        "owner-b@example.com",
        path,
        json!({"customer_id": cust_b, "body": "לחם טרי"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["business_id"], json!(b));
    assert_eq!(
        seen_at_least(&fake.log, 3).await[2]
            .field("From")
            .as_deref(),
        Some("whatsapp:+97239999999")
    );
    let sent = log_of(&fake.log).len();

    // Another tenant's customer, or another business named in the body or the query: 404,
    // as if it did not exist, and nothing reaches Twilio.
    for (who, path, body) in [
        (
            "agent-a@example.com",
            path.to_string(),
            json!({"customer_id": cust_b, "body": "x"}),
        ),
        (
            "owner-a@example.com",
            path.to_string(),
            json!({"business_id": b, "customer_id": cust_b, "body": "x"}),
        ),
        (
            "owner-a@example.com",
            format!("{path}?business_id={b}"),
            json!({"customer_id": cust_b, "body": "x"}),
        ),
        (
            OPERATOR_EMAIL,
            path.to_string(),
            json!({"business_id": a, "customer_id": cust_b, "body": "x"}),
        ),
        (
            OPERATOR_EMAIL,
            path.to_string(),
            json!({"business_id": 987_654, "customer_id": cust_b, "body": "x"}),
        ),
    ] {
        let (code, err) = send_as(&app, who, &path, body.clone(), None).await;
        assert_eq!(code, 404, "{who} {path} {body}: {err}");
        assert_eq!(error_code(&err), "not_found");
    }
    // Writing to B's customer's number from A reaches a customer of A, never B's thread:
    // a new customer of A, who never wrote, so free text is refused.
    let (code, err) = send_as(
        &app,
        "agent-a@example.com",
        path,
        json!({"to": b_phone, "body": "x"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(error_code(&err), "template_required");
    assert_eq!(thread(&app, b, cust_b).await.len(), 1);

    // An operator must name the business (body or query), consistently.
    let (code, err) = send_as(
        &app,
        OPERATOR_EMAIL,
        path,
        json!({"customer_id": cust_b, "body": "x"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(error_code(&err), "invalid");
    let (code, err) = send_as(
        &app,
        OPERATOR_EMAIL,
        &format!("{path}?business_id={a}"),
        json!({"business_id": b, "customer_id": cust_b, "body": "x"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(error_code(&err), "invalid");
    assert_eq!(
        log_of(&fake.log).len(),
        sent,
        "no refused send reached Twilio"
    );
    let (code, m) = send_as(
        &app,
        OPERATOR_EMAIL,
        &format!("{path}?business_id={b}"),
        json!({"customer_id": cust_b, "body": "מהמפעיל"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["business_id"], json!(b));
    let (code, m) = send_as(
        &app,
        OPERATOR_EMAIL,
        path,
        json!({"business_id": a, "customer_id": cust_a, "body": "מהמפעיל"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["business_id"], json!(a));
    assert_eq!(seen_at_least(&fake.log, sent + 2).await.len(), sent + 2);

    // The same Idempotency-Key in two businesses is two messages.
    let (_, in_a) = send_as(
        &app,
        "owner-a@example.com",
        path,
        json!({"customer_id": cust_a, "body": "k"}),
        Some("same-key"),
    )
    .await;
    let (_, in_b) = send_as(
        &app,
        "owner-b@example.com",
        path,
        json!({"customer_id": cust_b, "body": "k"}),
        Some("same-key"),
    )
    .await;
    assert_ne!(in_a["id"], in_b["id"]);
    assert_eq!(in_b["business_id"], json!(b));

    // Every error under /api/whatsapp has the one JSON shape, axum's own included.
    let r = app
        .http
        .post(app.url(path))
        .json(&json!({"customer_id": cust_a, "body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(error_of(r).await, "unauthorized");
    let (code, err) = send_as(&app, "owner-a@example.com", path, json!({"nope": 1}), None).await;
    assert_eq!(code, 422);
    assert_eq!(error_code(&err), "invalid");
    let r = get_as(&app, "owner-a@example.com", path).await;
    assert_eq!(r.status(), 405);
    assert_eq!(error_of(r).await, "method_not_allowed");
    let r = get_as(&app, "owner-a@example.com", "/api/whatsapp/threads/abc").await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_of(r).await, "bad_request");
    let r = get_as(
        &app,
        "owner-a@example.com",
        "/api/whatsapp/threads?business_id=x",
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_of(r).await, "invalid");
    app.shutdown().await.unwrap();
}
dual_test!(sends_are_per_business);
