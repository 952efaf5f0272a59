//! Pairing the business's own WhatsApp number through the Baileys bridge, in the web app
//! (#21, W3, W5), on both databases: the owner's page asks the bridge (with the shared
//! secret) and shows the state in Hebrew, the QR code as an inline SVG, connect and
//! disconnect buttons that reach the bridge; logged-out and banned say what to do; the
//! operator's health page lists every business's state. The bridge is a local stand-in
//! keeping the session endpoints of docs/baileys-bridge.md.

mod common;
mod whatsapp_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::crm::{PASSWORD, add_user};
use common::{Backend, TestApp};
use mokdan::store::users::Role;
use reqwest::Client;
use reqwest::header::{self, HeaderValue};
use serde_json::{Value, json};
use whatsapp_support::*;

const SECRET: &str = "pairing-secret-zqLEAKMARK-7";

type Sessions = Arc<Mutex<HashMap<String, Value>>>;

#[derive(Clone, Default)]
struct Bridge {
    sessions: Sessions,
    calls: Arc<Mutex<Vec<String>>>,
}

fn secret_ok(h: &HeaderMap) -> bool {
    h.get("x-bridge-secret").and_then(|v| v.to_str().ok()) == Some(SECRET)
}

async fn one(
    State(b): State<Bridge>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> axum::response::Response {
    if !secret_ok(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    match b.sessions.lock().unwrap().get(&id) {
        Some(s) => Json(s.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"state": "none"}))).into_response(),
    }
}

async fn all(State(b): State<Bridge>, headers: HeaderMap) -> axum::response::Response {
    if !secret_ok(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let list: Vec<Value> = b.sessions.lock().unwrap().values().cloned().collect();
    Json(json!({ "sessions": list })).into_response()
}

async fn action(
    State(b): State<Bridge>,
    headers: HeaderMap,
    Path((id, what)): Path<(String, String)>,
) -> axum::response::Response {
    if !secret_ok(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    b.calls.lock().unwrap().push(format!("{what} {id}"));
    let s = if what == "connect" {
        json!({"business": id, "state": "unpaired", "qr": "2@c3RhbmQtaW4,bm9pc2U=,aWRlbnRpdHk=,YWR2", "number": null, "reason": null})
    } else {
        json!({"business": id, "state": "logged_out", "qr": null, "number": "+97231234567", "reason": "logged_out"})
    };
    b.sessions.lock().unwrap().insert(id, s.clone());
    Json(s).into_response()
}

/// Sends to a logged-out session are refused at once, as the shipped bridge does.
async fn send_refused(headers: HeaderMap) -> axum::response::Response {
    if !secret_ok(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    (
        StatusCode::CONFLICT,
        Json(json!({"error": "WhatsApp logged this number out: pair again from the settings page", "code": "logged_out"})),
    )
        .into_response()
}

async fn bridge() -> (String, Bridge) {
    let b = Bridge::default();
    let router = axum::Router::new()
        .route("/send", post(send_refused))
        .route("/sessions", get(all))
        .route("/sessions/{id}", get(one))
        .route("/sessions/{id}/{what}", post(action))
        .with_state(b.clone());
    (serve(router).await, b)
}

/// A signed-in browser-like client (session cookie, CSRF, same origin), no redirects.
async fn client(app: &TestApp, email: &str) -> Client {
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "login {email}");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(header::ORIGIN, HeaderValue::from_str(&app.base).unwrap());
    common::web::signed_in(headers, &res)
}

async fn page(app: &TestApp, c: &Client, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn the_owner_pairs_sees_states_and_disconnects(backend: Backend) {
    let (url, b) = bridge().await;
    let app = TestApp::spawn_with(
        backend,
        &[
            ("WHATSAPP_PROVIDER", "baileys"),
            ("BAILEYS_BRIDGE_URL", url.as_str()),
            ("BAILEYS_SHARED_SECRET", SECRET),
        ],
    )
    .await;
    let biz = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    add_user(&app, "owner@pair.test", Role::Owner, Some(biz)).await;
    add_user(&app, "agent@pair.test", Role::Agent, Some(biz)).await;
    add_user(&app, "ops@pair.test", Role::Operator, None).await;
    let owner = client(&app, "owner@pair.test").await;
    const PAGE: &str = "/app/biz/settings/whatsapp";

    // Never started: not connected, a connect button.
    let (status, html) = page(&app, &owner, PAGE).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-state="none""#), "{html}");
    assert!(html.contains("לא מחובר") && html.contains(r#"id="wa-connect""#));
    let (_, settings) = page(&app, &owner, "/app/biz/settings").await;
    assert!(
        settings.contains(PAGE),
        "the settings page links to pairing"
    );

    // Connect: the bridge is asked with the secret; the QR code is shown as an SVG.
    let r = owner
        .post(app.url(&format!("{PAGE}/connect")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(*b.calls.lock().unwrap(), vec![format!("connect {biz}")]);
    let (_, html) = page(&app, &owner, PAGE).await;
    assert!(html.contains(r#"data-state="unpaired""#));
    assert!(html.contains("ממתין לסריקה") && html.contains("מכשירים מקושרים"));
    let qr = html.split(r#"id="wa-qr""#).nth(1).expect("a QR code");
    assert!(qr.contains("<svg") && qr.contains("<path"), "{qr}");
    assert!(
        !html.contains("2@c3RhbmQtaW4"),
        "the code text itself is not in the page"
    );
    assert!(
        html.contains(r#"http-equiv="refresh""#),
        "refreshes while pairing"
    );
    // The phone scanned it: connected, with the number, and a disconnect button.
    b.sessions.lock().unwrap().insert(
        biz.to_string(),
        json!({"business": biz.to_string(), "state": "connected", "qr": null, "number": BUSINESS_NUMBER, "reason": null}),
    );
    let (_, html) = page(&app, &owner, PAGE).await;
    assert!(html.contains(r#"data-state="connected""#) && html.contains(">מחובר<"));
    assert!(html.contains(BUSINESS_NUMBER) && html.contains(r#"id="wa-disconnect""#));
    assert!(!html.contains(r#"http-equiv="refresh""#));
    assert!(!html.contains("wa-mismatch"), "the business's own number");

    // Another phone paired: said plainly, since its messages would not reach this business.
    b.sessions.lock().unwrap().insert(
        biz.to_string(),
        json!({"business": biz.to_string(), "state": "connected", "qr": null, "number": "+97239998877", "reason": null}),
    );
    let (_, html) = page(&app, &owner, PAGE).await;
    assert!(html.contains(r#"id="wa-mismatch""#) && html.contains("אינו מספר הוואטסאפ"));
    b.sessions.lock().unwrap().insert(
        biz.to_string(),
        json!({"business": biz.to_string(), "state": "connected", "qr": null, "number": BUSINESS_NUMBER, "reason": null}),
    );

    // The operator's health page lists it.
    let ops = client(&app, "ops@pair.test").await;
    let (status, health) = page(&app, &ops, "/app/admin/health").await;
    assert_eq!(status, 200);
    let table = health
        .split(r#"id="wa-sessions""#)
        .nth(1)
        .expect("sessions table");
    assert!(table.contains(r#"data-state="connected""#) && table.contains("מחובר"));
    assert!(
        table.contains(&format!("{BUSINESS_NAME} (#{biz})")),
        "named"
    );

    // Disconnect: the bridge logs out; the page says what to do.
    let r = owner
        .post(app.url(&format!("{PAGE}/disconnect")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(
        b.calls.lock().unwrap().last().unwrap(),
        &format!("logout {biz}")
    );
    let (_, html) = page(&app, &owner, PAGE).await;
    assert!(html.contains(r#"data-state="logged_out""#) && html.contains("מנותק"));
    assert!(html.contains(r#"id="wa-connect""#), "pair again");

    // Banned: said plainly, with what to do.
    b.sessions.lock().unwrap().insert(
        biz.to_string(),
        json!({"business": biz.to_string(), "state": "logged_out", "qr": null, "number": BUSINESS_NUMBER, "reason": "banned"}),
    );
    let (_, html) = page(&app, &owner, PAGE).await;
    assert!(html.contains("נחסם") && html.contains("בדיקה חוזרת"));

    // A send to the logged-out session fails at once, and the thread says what to do.
    let event = json!({"event": "message", "id": "3EB0PAIR0001", "from": CUSTOMER, "to": BUSINESS_NUMBER, "text": "שלום"});
    let r = app
        .http
        .post(app.url("/webhook/whatsapp/baileys"))
        .header("x-bridge-secret", SECRET)
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let customer = customer_id(&app, biz, CUSTOMER).await.unwrap();
    let failed = eventually("the auto-reply refused", || async {
        outbound(&app, biz, customer)
            .await
            .into_iter()
            .find(|m| m.status == "failed")
    })
    .await;
    assert_eq!(failed.error_code.as_deref(), Some("logged_out"));
    assert_eq!(failed.attempts, 1, "not retried");
    let (_, thread) = page(&app, &owner, &format!("/app/biz/whatsapp/{customer}")).await;
    assert!(
        thread.contains("וואטסאפ של העסק מנותק") && thread.contains("חיבור מספר הוואטסאפ"),
        "{thread}"
    );

    // An agent cannot see or change it, nor post across origins.
    let agent = client(&app, "agent@pair.test").await;
    let (status, _) = page(&app, &agent, PAGE).await;
    assert_ne!(status, 200);
    let before = b.calls.lock().unwrap().len();
    let cross = app
        .http
        .post(app.url(&format!("{PAGE}/disconnect")))
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_ne!(cross.status().as_u16(), 303);
    assert_eq!(b.calls.lock().unwrap().len(), before);
    app.shutdown().await.unwrap();
}
dual_test!(the_owner_pairs_sees_states_and_disconnects);

async fn without_the_bridge_nothing_to_pair(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let biz = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    add_user(&app, "owner@nopair.test", Role::Owner, Some(biz)).await;
    let owner = client(&app, "owner@nopair.test").await;
    let (status, html) = page(&app, &owner, "/app/biz/settings/whatsapp").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-unavailable="pairing""#));
    app.shutdown().await.unwrap();
}
dual_test!(without_the_bridge_nothing_to_pair);
