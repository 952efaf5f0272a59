//! A local stand-in for Google's OAuth token endpoint and Google Calendar API v3, following
//! their published request and response shapes: the service-account JWT bearer grant
//! (RFC 7523; the assertion's RS256 signature is verified with the test key's public half,
//! and its `iss`, `aud` and `scope`), `freeBusy.query`, and `events.insert`, `patch` and
//! `delete`. Every Calendar request must carry a Bearer token it issued. A test can make it
//! answer 503 (Google down), give a calendar busy times, and read the events written.
//!
//! The key is crates/voice/tests/fixtures/google_test_key.pem: a throwaway RSA key made
//! for tests only, never used anywhere else.
#![allow(dead_code)]
// A stand-in handler hands back a whole refusal; its size does not matter in a test.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use serde_json::{Value, json};

pub const TEST_KEY: &str = include_str!("../../../voice/tests/fixtures/google_test_key.pem");
pub const TEST_PUB: &str = include_str!("../../../voice/tests/fixtures/google_test_key.pub.pem");
pub const CLIENT_EMAIL: &str = "mokdan-test@example-project.iam.gserviceaccount.com";
pub const SCOPE: &str = "https://www.googleapis.com/auth/calendar";

#[derive(Default)]
pub struct Inner {
    /// Access tokens issued.
    pub tokens: HashSet<String>,
    pub token_requests: usize,
    /// Busy times by calendar id: `(start, end)` RFC 3339.
    pub busy: HashMap<String, Vec<(String, String)>>,
    /// Calendars Google would say it cannot see (`notFound`).
    pub unknown: HashSet<String>,
    /// Events by (calendar id, event id).
    pub events: HashMap<(String, String), Value>,
    /// Every request: method, path, body.
    pub log: Vec<(String, String, Value)>,
    /// Answer 503 to every Calendar request while set.
    pub down: bool,
    /// Answer freeBusy only after 5 seconds while set.
    pub slow: bool,
    /// Problems seen with requests (a test asserts there were none).
    pub bad: Vec<String>,
}

#[derive(Clone)]
pub struct Google {
    pub base: String,
    pub inner: Arc<Mutex<Inner>>,
}

impl Google {
    pub async fn start() -> Google {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let g = Google {
            base: format!("http://{}", listener.local_addr().unwrap()),
            inner: Arc::default(),
        };
        let app = Router::new()
            .route("/token", post(token))
            .route("/calendar/v3/freeBusy", post(free_busy))
            .route("/calendar/v3/calendars/{cal}/events", post(insert))
            .route(
                "/calendar/v3/calendars/{cal}/events/{id}",
                patch(patch_event).delete(delete_event),
            )
            .with_state(g.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        g
    }

    /// The service account's key file, its token endpoint this stand-in.
    pub fn key_json(&self) -> String {
        json!({
            "type": "service_account",
            "project_id": "example-project",
            "private_key_id": "kid-1",
            "private_key": TEST_KEY,
            "client_email": CLIENT_EMAIL,
            "token_uri": format!("{}/token", self.base),
        })
        .to_string()
    }

    /// The environment that points the service at this stand-in.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GCP_CREDENTIALS_JSON", self.key_json()),
            (
                "GOOGLE_CALENDAR_API_BASE",
                format!("{}/calendar/v3", self.base),
            ),
            // Speech stays off Google in these tests.
            ("MOKDAN_TTS", "espeak".into()),
            ("GOOGLE_STT_BASE_URL", self.base.clone()),
        ]
    }

    pub fn set_busy(&self, calendar: &str, start: &str, end: &str) {
        self.inner
            .lock()
            .unwrap()
            .busy
            .entry(calendar.to_string())
            .or_default()
            .push((start.to_string(), end.to_string()));
    }

    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }

    pub fn event(&self, calendar: &str, id: &str) -> Option<Value> {
        self.inner
            .lock()
            .unwrap()
            .events
            .get(&(calendar.to_string(), id.to_string()))
            .cloned()
    }

    pub fn events(&self) -> Vec<((String, String), Value)> {
        self.inner
            .lock()
            .unwrap()
            .events
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn requests(&self, method: &str, path_part: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(m, p, _)| m == method && p.contains(path_part))
            .map(|(_, _, b)| b.clone())
            .collect()
    }

    pub fn bad(&self) -> Vec<String> {
        self.inner.lock().unwrap().bad.clone()
    }
}

fn google_error(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message,
        "errors": [{ "domain": "global", "reason": reason, "message": message }] } });
    (StatusCode::from_u16(code).unwrap(), Json(body)).into_response()
}

async fn token(
    State(g): State<Google>,
    axum::extract::Form(form): axum::extract::Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut inner = g.inner.lock().unwrap();
    inner.token_requests += 1;
    if get("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        inner
            .bad
            .push(format!("grant_type {:?}", get("grant_type")));
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "unsupported_grant_type" })),
        )
            .into_response();
    }
    let assertion = get("assertion").unwrap_or_default();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[format!("{}/token", g.base)]);
    v.set_issuer(&[CLIENT_EMAIL]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUB.as_bytes()).unwrap();
    let checked = jsonwebtoken::decode::<Value>(&assertion, &key, &v);
    let ok = match &checked {
        Ok(data) => data.claims["scope"] == SCOPE && data.header.kid.as_deref() == Some("kid-1"),
        Err(_) => false,
    };
    if !ok {
        inner.bad.push(format!("assertion refused: {checked:?}"));
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "error": "invalid_grant", "error_description": "Invalid JWT Signature." }),
            ),
        )
            .into_response();
    }
    let token = format!("ya29.stand-in-{}", inner.token_requests);
    inner.tokens.insert(token.clone());
    Json(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }))
        .into_response()
}

/// Logs the request; `Err` with the answer when it must be refused.
fn admit(
    g: &Google,
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &Value,
) -> Result<(), Response> {
    let mut inner = g.inner.lock().unwrap();
    inner.log.push((method.into(), path.into(), body.clone()));
    let bearer = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_string);
    if bearer.is_none_or(|b| !inner.tokens.contains(&b)) {
        inner
            .bad
            .push(format!("{method} {path} without a valid Bearer token"));
        return Err(google_error(401, "authError", "Invalid Credentials"));
    }
    if inner.down {
        return Err(google_error(503, "backendError", "Backend Error"));
    }
    Ok(())
}

fn json_body(g: &Google, body: &Bytes, what: &str) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|_| {
        g.inner
            .lock()
            .unwrap()
            .bad
            .push(format!("{what}: body is not JSON"));
        google_error(400, "parseError", "Parse Error")
    })
}

async fn free_busy(State(g): State<Google>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match json_body(&g, &body, "freeBusy") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = admit(&g, &headers, "POST", "/freeBusy", &req) {
        return r;
    }
    let slow = g.inner.lock().unwrap().slow;
    if slow {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
    let (Some(min), Some(max)) = (req["timeMin"].as_str(), req["timeMax"].as_str()) else {
        g.inner
            .lock()
            .unwrap()
            .bad
            .push(format!("freeBusy without timeMin/timeMax: {req}"));
        return google_error(400, "required", "Missing time range.");
    };
    let (Ok(min), Ok(max)) = (
        min.parse::<jiff::Timestamp>(),
        max.parse::<jiff::Timestamp>(),
    ) else {
        g.inner
            .lock()
            .unwrap()
            .bad
            .push(format!("freeBusy times not RFC 3339: {req}"));
        return google_error(400, "invalid", "Bad Request");
    };
    let inner = g.inner.lock().unwrap();
    let mut calendars = serde_json::Map::new();
    for item in req["items"].as_array().into_iter().flatten() {
        let Some(id) = item["id"].as_str() else {
            continue;
        };
        if inner.unknown.contains(id) {
            calendars.insert(
                id.into(),
                json!({ "errors": [{ "domain": "global", "reason": "notFound" }], "busy": [] }),
            );
            continue;
        }
        let busy: Vec<Value> = inner
            .busy
            .get(id)
            .into_iter()
            .flatten()
            .filter(|(s, e)| {
                let (s, e): (jiff::Timestamp, jiff::Timestamp) =
                    (s.parse().unwrap(), e.parse().unwrap());
                s < max && min < e
            })
            .map(|(s, e)| json!({ "start": s, "end": e }))
            .collect();
        calendars.insert(id.into(), json!({ "busy": busy }));
    }
    Json(json!({
        "kind": "calendar#freeBusy",
        "timeMin": req["timeMin"], "timeMax": req["timeMax"],
        "calendars": calendars,
    }))
    .into_response()
}

/// An event's start or end as Google requires it: `dateTime` RFC 3339 with an offset.
fn check_time(g: &Google, v: &Value, what: &str) -> bool {
    let ok = v["dateTime"]
        .as_str()
        .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok());
    if !ok {
        g.inner
            .lock()
            .unwrap()
            .bad
            .push(format!("{what} not an RFC 3339 dateTime: {v}"));
    }
    ok
}

fn valid_event_id(id: &str) -> bool {
    (5..=1024).contains(&id.len()) && id.bytes().all(|b| matches!(b, b'a'..=b'v' | b'0'..=b'9'))
}

async fn insert(
    State(g): State<Google>,
    Path(cal): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut ev = match json_body(&g, &body, "events.insert") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = admit(
        &g,
        &headers,
        "POST",
        &format!("/calendars/{cal}/events"),
        &ev,
    ) {
        return r;
    }
    if !check_time(&g, &ev["start"], "start") || !check_time(&g, &ev["end"], "end") {
        return google_error(400, "required", "Missing start or end time.");
    }
    let id = match ev["id"].as_str() {
        Some(id) if valid_event_id(id) => id.to_string(),
        Some(id) => {
            g.inner
                .lock()
                .unwrap()
                .bad
                .push(format!("invalid event id {id}"));
            return google_error(400, "invalid", "Invalid resource id value.");
        }
        None => format!("standin{}", g.inner.lock().unwrap().events.len() + 1),
    };
    let mut inner = g.inner.lock().unwrap();
    let key = (cal.clone(), id.clone());
    if inner.events.contains_key(&key) {
        return google_error(409, "duplicate", "The requested identifier already exists.");
    }
    ev["id"] = json!(id);
    ev["kind"] = json!("calendar#event");
    ev["status"] = ev.get("status").cloned().unwrap_or(json!("confirmed"));
    ev["htmlLink"] = json!(format!("https://www.google.com/calendar/event?eid={id}"));
    inner.events.insert(key, ev.clone());
    Json(ev).into_response()
}

async fn patch_event(
    State(g): State<Google>,
    Path((cal, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let changes = match json_body(&g, &body, "events.patch") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = admit(
        &g,
        &headers,
        "PATCH",
        &format!("/calendars/{cal}/events/{id}"),
        &changes,
    ) {
        return r;
    }
    let mut inner = g.inner.lock().unwrap();
    let Some(ev) = inner.events.get_mut(&(cal, id)) else {
        return google_error(404, "notFound", "Not Found");
    };
    for (k, v) in changes.as_object().into_iter().flatten() {
        ev[k] = v.clone();
    }
    Json(ev.clone()).into_response()
}

async fn delete_event(
    State(g): State<Google>,
    Path((cal, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(
        &g,
        &headers,
        "DELETE",
        &format!("/calendars/{cal}/events/{id}"),
        &Value::Null,
    ) {
        return r;
    }
    let mut inner = g.inner.lock().unwrap();
    match inner.events.remove(&(cal, id)) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => google_error(410, "deleted", "Resource has been deleted"),
    }
}
