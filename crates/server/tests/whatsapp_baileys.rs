//! WhatsApp through the Baileys bridge, black-box on both databases (W2–W5), following the
//! contract in docs/baileys-bridge.md: the shared secret both ways, message and status
//! events (single and batched), JIDs, media on the bridge, concurrent duplicates, statuses
//! out of order, the 24-hour window, idempotent sends and retries on a 503. The bridge is
//! played by a local stand-in.

mod common;
mod whatsapp_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{Backend, TestApp};
use mokdan::store::whatsapp as store;
use serde_json::{Value, json};
use whatsapp_support::*;

const SECRET: &str = "bridge-shared-secret-42";

#[derive(Clone)]
struct FakeBridge {
    log: Log,
    counter: Arc<AtomicUsize>,
    /// Statuses to answer /send with, in order; then 200.
    script: Arc<Mutex<Vec<u16>>>,
}

fn secret_ok(h: &HeaderMap) -> bool {
    h.get("x-bridge-secret").and_then(|v| v.to_str().ok()) == Some(SECRET)
}

async fn bridge_send(
    State(f): State<FakeBridge>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    if !secret_ok(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let next = {
        let mut s = f.script.lock().unwrap();
        if s.is_empty() { 200 } else { s.remove(0) }
    };
    if next == 503 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "not connected"})),
        )
            .into_response();
    }
    if next == 422 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "not on WhatsApp", "code": "not_registered"})),
        )
            .into_response();
    }
    assert!(body["to"].as_str().unwrap().starts_with('+'));
    let n = f.counter.fetch_add(1, Ordering::SeqCst);
    Json(json!({"id": format!("3EB0{n:016X}"), "status": "queued"})).into_response()
}

async fn bridge_media(Path(id): Path<String>, headers: HeaderMap) -> axum::response::Response {
    if !secret_ok(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    // An Ogg page's magic, so the served type is confirmed by the bytes.
    (
        [("content-type", "audio/ogg")],
        format!("OggS-voice-note-{id}"),
    )
        .into_response()
}

async fn fake_bridge(script: Vec<u16>) -> (String, FakeBridge) {
    let f = FakeBridge {
        log: Log::default(),
        counter: Arc::new(AtomicUsize::new(1)),
        script: Arc::new(Mutex::new(script)),
    };
    let router = axum::Router::new()
        .route("/send", post(bridge_send))
        .route("/media/{id}", get(bridge_media))
        .with_state(f.clone());
    (serve(recording(router, f.log.clone())).await, f)
}

fn sends(f: &FakeBridge) -> Vec<Seen> {
    log_of(&f.log)
        .into_iter()
        .filter(|s| s.path == "/send")
        .collect()
}

async fn app_with(backend: Backend, bridge: &str) -> TestApp {
    TestApp::spawn_with(
        backend,
        &[
            ("WHATSAPP_PROVIDER", "baileys"),
            ("BAILEYS_BRIDGE_URL", bridge),
            ("BAILEYS_SHARED_SECRET", SECRET),
        ],
    )
    .await
}

async fn post_event(app: &TestApp, event: &Value, secret: Option<&str>) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/webhook/whatsapp/baileys"))
        .json(event);
    if let Some(s) = secret {
        req = req.header("X-Bridge-Secret", s);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn message(id: &str, text: &str) -> Value {
    json!({"event": "message", "id": id, "from": "972501234567@s.whatsapp.net", "to": BUSINESS_NUMBER,
           "push_name": "דנה", "text": text, "timestamp": 1732190000})
}

async fn events_need_the_secret_and_keep_hebrew_emoji_and_media(backend: Backend) {
    let (bridge, f) = fake_bridge(vec![]).await;
    let app = app_with(backend, &bridge).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    user(
        &app,
        "owner@example.com",
        mokdan::store::users::Role::Owner,
        Some(business_id),
    )
    .await;
    let text = "בוקר טוב ☀️ אפשר להזמין עוגה ליום הולדת? 🎂";
    let ev = message("3EB0AAAA0001", text);
    assert_eq!(post_event(&app, &ev, None).await.0, 403);
    assert_eq!(post_event(&app, &ev, Some("wrong-secret")).await.0, 403);
    assert_eq!(
        post_event(&app, &ev, Some(&SECRET[..SECRET.len() - 1]))
            .await
            .0,
        403
    );
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        0
    );

    let (code, body) = post_event(&app, &ev, Some(SECRET)).await;
    assert_eq!((code, body["stored"].as_i64()), (200, Some(1)));
    let m = store::by_provider_id(&app.state.db, business_id, "baileys", "3EB0AAAA0001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body.as_deref(), Some(text));
    assert_eq!(m.from_number.as_deref(), Some(CUSTOMER));
    assert_eq!(m.profile_name.as_deref(), Some("דנה"));

    // A batch: a voice note on the bridge, a repeat, and an event kind we do not know.
    let batch = json!({"events": [
        {"event": "message", "id": "3EB0AAAA0002", "from": "972501234567:3@s.whatsapp.net", "to": "972-3-1234567",
         "quoted_id": "3EB0AAAA0001", "media": [{"url": format!("{bridge}/media/3EB0AAAA0002"), "content_type": "audio/ogg"}]},
        message("3EB0AAAA0001", text),
        {"event": "presence", "id": "x"},
    ]});
    let (code, body) = post_event(&app, &batch, Some(SECRET)).await;
    assert_eq!(code, 200);
    assert_eq!(
        (body["stored"].as_i64(), body["duplicates"].as_i64()),
        (Some(1), Some(1))
    );
    let voice = store::by_provider_id(&app.state.db, business_id, "baileys", "3EB0AAAA0002")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(voice.reply_to.as_deref(), Some("3EB0AAAA0001"));
    let r = get_as(
        &app,
        "owner@example.com",
        &format!("/api/whatsapp/messages/{}/media/0", voice.id),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/ogg");
    assert_eq!(r.text().await.unwrap(), "OggS-voice-note-3EB0AAAA0002");
    assert!(secret_ok(&log_of(&f.log).last().unwrap().headers));

    // Media that is not on the bridge is never fetched.
    let (elsewhere, other) = fake_bridge(vec![]).await;
    let ev = json!({"event": "message", "id": "3EB0AAAA0003", "from": CUSTOMER, "to": BUSINESS_NUMBER,
        "media": [{"url": format!("{elsewhere}/media/x"), "content_type": "image/png"}]});
    post_event(&app, &ev, Some(SECRET)).await;
    let m = store::by_provider_id(&app.state.db, business_id, "baileys", "3EB0AAAA0003")
        .await
        .unwrap()
        .unwrap();
    let r = get_as(
        &app,
        "owner@example.com",
        &format!("/api/whatsapp/messages/{}/media/0", m.id),
    )
    .await;
    assert_eq!(r.status(), 503);
    assert!(log_of(&other.log).is_empty());
    // Malformed events are refused so the bridge does not retry them.
    assert_eq!(
        post_event(&app, &json!({"event": "message", "id": 5}), Some(SECRET))
            .await
            .0,
        400
    );
    app.shutdown().await.unwrap();
}
dual_test!(events_need_the_secret_and_keep_hebrew_emoji_and_media);

async fn ten_concurrent_duplicates_make_one_row_and_one_reply(backend: Backend) {
    let (bridge, f) = fake_bridge(vec![]).await;
    let app = app_with(backend, &bridge).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    let ev = message("3EB0DDDD0001", "שלום 🌸");
    let all = futures::future::join_all((0..10).map(|_| post_event(&app, &ev, Some(SECRET)))).await;
    assert!(all.iter().all(|(c, _)| *c == 200));
    let stored: i64 = all.iter().map(|(_, b)| b["stored"].as_i64().unwrap()).sum();
    assert_eq!(stored, 1, "exactly one delivery stored it");
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        1
    );
    let customer = customer_id(&app, business_id, CUSTOMER).await.unwrap();
    let reply = eventually("the reply", || async {
        outbound(&app, business_id, customer)
            .await
            .into_iter()
            .find(|m| m.provider_message_id.is_some())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let seen = sends(&f);
    assert_eq!(seen.len(), 1);
    let body = seen[0].json();
    assert_eq!(body["to"], CUSTOMER);
    assert_eq!(body["reply_to"], "3EB0DDDD0001");
    assert_eq!(
        body["from"], BUSINESS_NUMBER,
        "the reply goes out through the business's own session"
    );
    assert!(secret_ok(&seen[0].headers));
    assert_eq!(body["text"].as_str(), reply.body.as_deref());
    assert!(reply.body.unwrap().contains(BUSINESS_NAME));
    app.shutdown().await.unwrap();
}
dual_test!(ten_concurrent_duplicates_make_one_row_and_one_reply);

async fn statuses_out_of_order_end_at_the_highest(backend: Backend) {
    let (bridge, _f) = fake_bridge(vec![]).await;
    let app = app_with(backend, &bridge).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    customer_wrote_ago(&app, business_id, CUSTOMER, Some(1_000)).await;
    let (_, sent) = send(
        &app,
        json!({"business_id": business_id, "to": CUSTOMER, "body": "היי"}),
        None,
    )
    .await;
    let id = settled_answer(&app, business_id, &sent)
        .await
        .provider_message_id
        .unwrap();
    let batch = json!({"events": [
        {"event": "status", "id": id, "status": "read"},
        {"event": "status", "id": id, "status": "delivery_ack"},
        {"event": "status", "id": id, "status": "sent"},
    ]});
    assert_eq!(post_event(&app, &batch, Some(SECRET)).await.0, 200);
    let m = store::by_provider_id(&app.state.db, business_id, "baileys", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, "read");
    let (_, second) = send(
        &app,
        json!({"business_id": business_id, "to": CUSTOMER, "body": "שוב"}),
        None,
    )
    .await;
    let id2 = settled_answer(&app, business_id, &second)
        .await
        .provider_message_id
        .unwrap();
    for ev in [
        json!({"event": "status", "id": id2, "status": "failed", "error_code": 463, "error_message": "not allowed"}),
        json!({"event": "status", "id": id2, "status": "read"}),
    ] {
        post_event(&app, &ev, Some(SECRET)).await;
    }
    let m = store::by_provider_id(&app.state.db, business_id, "baileys", &id2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.status.as_str(), m.error_code.as_deref()),
        ("failed", Some("463"))
    );
    app.shutdown().await.unwrap();
}
dual_test!(statuses_out_of_order_end_at_the_highest);

async fn window_templates_idempotency_and_retries(backend: Backend) {
    let (bridge, f) = fake_bridge(vec![503]).await;
    let app = app_with(backend, &bridge).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    // Outside the window: refused before the bridge; templates do not exist on WhatsApp Web.
    let c = customer_wrote_ago(&app, business_id, CUSTOMER, None).await;
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": c, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (422, Some("template_required"))
    );
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": c,
        "template": {"content_sid": "hello"}}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert!(sends(&f).is_empty());

    // Inside the window: the bridge says 503 once, the retry goes through; a retried
    // request with the same key returns the same message and sends nothing more.
    customer_wrote_ago(&app, business_id, CUSTOMER, Some(60_000)).await;
    let req = json!({"business_id": business_id, "customer_id": c, "body": "ההזמנה מוכנה 🎉"});
    let (code, first) = send(&app, req.clone(), Some("order-17")).await;
    assert_eq!((code, first["status"].as_str()), (200, Some("queued")));
    let id = first["id"].as_i64().unwrap();
    eventually("the retried send", || async {
        let m = store::get(&app.state.db, business_id, id)
            .await
            .unwrap()
            .unwrap();
        m.provider_message_id.is_some().then_some(())
    })
    .await;
    let (_, again) = send(&app, req.clone(), Some("order-17")).await;
    assert_eq!(again["id"], first["id"]);
    assert!(
        again["provider_message_id"]
            .as_str()
            .unwrap()
            .starts_with("3EB0")
    );
    // A 422 is permanent: failed with the bridge's code, never retried.
    f.script.lock().unwrap().push(422);
    let (_, failed) = send(&app, req.clone(), Some("order-18")).await;
    let failed = settled_answer(&app, business_id, &failed).await;
    assert_eq!(
        (failed.status.as_str(), failed.error_code.as_deref()),
        ("failed", Some("not_registered"))
    );
    assert_eq!(sends(&f).len(), 3);
    app.shutdown().await.unwrap();
}
dual_test!(window_templates_idempotency_and_retries);
