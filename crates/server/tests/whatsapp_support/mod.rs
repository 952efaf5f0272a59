//! Shared helpers of the WhatsApp tests: a business, users, API calls, polling, and local
//! stand-ins for the providers we cannot reach (each a real HTTP server on port 0).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::Router;
use mokdan::store::whatsapp::{self as store, Message};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::common::TestApp;

pub mod meta;
pub mod twilio;

pub const BUSINESS_NUMBER: &str = "+97231234567";
pub const CUSTOMER: &str = "+972501234567";
pub const BUSINESS_NAME: &str = "מספרת רחל";
pub const OPERATOR_EMAIL: &str = "ops@example.com";

/// A business with its number, and auto-reply on or off.
pub async fn business(app: &TestApp, number: &str, name: &str, auto_reply: bool) -> i64 {
    let phone = mokdan::domain::Phone::parse(number).unwrap();
    let id = mokdan::store::businesses::create(&app.state.db, name, &phone)
        .await
        .unwrap();
    sqlx::query("UPDATE businesses SET auto_reply = $2 WHERE id = $1")
        .bind(id)
        .bind(i64::from(auto_reply))
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    id
}

/// A user with the test password.
pub async fn user(
    app: &TestApp,
    email: &str,
    role: mokdan::store::users::Role,
    business: Option<i64>,
) {
    crate::common::crm::add_user(app, email, role, business).await;
}

pub async fn operator(app: &TestApp) {
    user(
        app,
        OPERATOR_EMAIL,
        mokdan::store::users::Role::Operator,
        None,
    )
    .await;
}

/// Bearer tokens by (app, email): each user signs in once per app, so concurrent requests
/// never trip the login rate limit.
static TOKENS: LazyLock<Mutex<HashMap<(String, String), String>>> = LazyLock::new(Default::default);

/// `email`'s bearer token on `app`, signing in (`POST /api/auth/login`) the first time.
pub async fn token(app: &TestApp, email: &str) -> String {
    let key = (app.db_url.clone(), email.to_string());
    if let Some(t) = TOKENS.lock().unwrap().get(&key) {
        return t.clone();
    }
    let t = crate::common::crm::login(app, email).await;
    TOKENS.lock().unwrap().insert(key, t.clone());
    t
}

/// `POST /api/whatsapp/send` as the operator, with an optional Idempotency-Key.
pub async fn send(app: &TestApp, body: Value, key: Option<&str>) -> (u16, Value) {
    send_as(app, OPERATOR_EMAIL, "/api/whatsapp/send", body, key).await
}

/// `POST` of a send to `path` (which may carry `?business_id=`) as `email`.
pub async fn send_as(
    app: &TestApp,
    email: &str,
    path: &str,
    body: Value,
    key: Option<&str>,
) -> (u16, Value) {
    let token = token(app, email).await;
    let mut req = app.http.post(app.url(path)).bearer_auth(token).json(&body);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A GET on the API as `email`, with a bearer token.
pub async fn get_as(app: &TestApp, email: &str, path: &str) -> reqwest::Response {
    let token = token(app, email).await;
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// The customer's id by phone.
pub async fn customer_id(app: &TestApp, business_id: i64, phone: &str) -> Option<i64> {
    let phone = mokdan::domain::Phone::parse(phone).unwrap();
    mokdan::store::customers::by_phone(&app.state.db, business_id, &phone)
        .await
        .unwrap()
        .map(|c| c.id)
}

/// A customer who last wrote `ago_ms` ago (`None`: never).
pub async fn customer_wrote_ago(
    app: &TestApp,
    business_id: i64,
    phone: &str,
    ago_ms: Option<i64>,
) -> i64 {
    let p = mokdan::domain::Phone::parse(phone).unwrap();
    let id =
        mokdan::store::customers::upsert_by_phone(&app.state.db, business_id, &p, None, "test")
            .await
            .unwrap();
    sqlx::query("UPDATE customers SET last_inbound_at = $2 WHERE id = $1")
        .bind(id)
        .bind(ago_ms.map(|a| mokdan::store::now_ms() - a))
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    id
}

/// Every message of a customer's thread, oldest first.
pub async fn thread(app: &TestApp, business_id: i64, customer_id: i64) -> Vec<Message> {
    store::thread(&app.state.db, business_id, customer_id, 1000)
        .await
        .unwrap()
}

/// Polls `check` every 25 ms until it returns `Some`, for up to 15 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The outbound messages of a business (polling helper).
pub async fn outbound(app: &TestApp, business_id: i64, customer_id: i64) -> Vec<Message> {
    thread(app, business_id, customer_id)
        .await
        .into_iter()
        .filter(|m| m.direction == "out")
        .collect()
}

/// A request a stand-in received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// The requests a stand-in has seen, shared with its handlers.
pub type Log = Arc<Mutex<Vec<Seen>>>;

pub fn log_of(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

/// Records every request into `log` before the router handles it.
pub fn recording(router: Router, log: Log) -> Router {
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                log.lock().unwrap().push(Seen {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    headers: parts.headers.clone(),
                    body: bytes.to_vec(),
                });
                next.run(axum::extract::Request::from_parts(
                    parts,
                    axum::body::Body::from(bytes),
                ))
                .await
            }
        },
    ))
}

/// Serves `router` on a loopback port; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// Asserts the API's one error shape, `{error:{code,message}}` as JSON; the code.
pub async fn error_of(r: reqwest::Response) -> String {
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = r.json().await.unwrap();
    error_code(&body)
}

/// The code of a body in the API's error shape (asserting the shape).
pub fn error_code(body: &Value) -> String {
    crate::common::crm::error_code(body).to_string()
}

/// Message `id` once its send job has settled it: handed over (a provider id) or failed.
/// Sends are recorded `queued` and sent by a worker, so the API answers before this.
pub async fn settled(app: &TestApp, business_id: i64, id: i64) -> Message {
    eventually("the send to settle", || async {
        store::get(&app.state.db, business_id, id)
            .await
            .unwrap()
            .filter(|m| m.provider_message_id.is_some() || m.status == "failed")
    })
    .await
}

/// The message of a send's API answer, once settled.
pub async fn settled_answer(app: &TestApp, business_id: i64, answer: &Value) -> Message {
    let id = answer["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {answer}"));
    settled(app, business_id, id).await
}

/// The requests a stand-in has seen, once there are at least `n`.
pub async fn seen_at_least(log: &Log, n: usize) -> Vec<Seen> {
    eventually(&format!("{n} requests at the provider"), || async {
        let seen = log_of(log);
        (seen.len() >= n).then_some(seen)
    })
    .await
}
