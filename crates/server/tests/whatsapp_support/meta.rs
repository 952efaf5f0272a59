//! Meta's Graph API as the WhatsApp tests see it: the app's credentials and a local
//! stand-in of the send and media endpoints that follows Meta's published shapes, with
//! answers a test can script (rate limits, permanent errors).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Log, Seen, log_of, recording, serve};
use crate::common::{Backend, TestApp};

pub const APP_SECRET: &str = "meta-app-secret-0123456789";
pub const VERIFY_TOKEN: &str = "meta-verify-token";
pub const ACCESS_TOKEN: &str = "EAAG-test-access-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
/// Phone number ids of the WhatsApp numbers of other businesses on the same Meta app.
pub const OTHER_PHONE_NUMBER_IDS: [&str; 2] = ["106540352242923", "106540352242924"];

/// A stand-in of Meta's Graph API: sends, media info and media bytes, behind a bearer token.
#[derive(Clone)]
pub struct FakeMeta {
    pub log: Log,
    /// Answers to give to sends, in order, before the usual 200: (HTTP status, body).
    pub script: Arc<Mutex<Vec<(u16, Value)>>>,
    base: Arc<std::sync::Mutex<String>>,
    counter: Arc<AtomicUsize>,
}

/// Whether a request carries the app's access token.
pub fn bearer_ok(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {ACCESS_TOKEN}"))
}

async fn fake_send(
    State(f): State<FakeMeta>,
    Path(phone_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    let known = phone_id == PHONE_NUMBER_ID || OTHER_PHONE_NUMBER_IDS.contains(&phone_id.as_str());
    if !bearer_ok(&headers) || !known {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190, "fbtrace_id": "A1"}}))).into_response();
    }
    let scripted = {
        let mut s = f.script.lock().unwrap();
        (!s.is_empty()).then(|| s.remove(0))
    };
    if let Some((status, body)) = scripted {
        return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    }
    let n = f.counter.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::OK,
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": format!("wamid.HBgM{n:020}")}],
        })),
    )
        .into_response()
}

async fn fake_media_info(
    State(f): State<FakeMeta>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> axum::response::Response {
    if !bearer_ok(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let base = f.base.lock().unwrap().clone();
    Json(json!({"messaging_product": "whatsapp", "url": format!("{base}/whatsapp_business/attachments/{id}"),
        "mime_type": "image/jpeg", "sha256": "abc", "file_size": "7", "id": id})).into_response()
}

async fn fake_media_bytes(headers: HeaderMap) -> axum::response::Response {
    if !bearer_ok(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    (
        [("content-type", "image/jpeg")],
        vec![0xFFu8, 0xD8, 0xFF, 9, 9],
    )
        .into_response()
}

/// Serves a [`FakeMeta`]; its base URL and handle.
pub async fn fake_meta() -> (String, FakeMeta) {
    let f = FakeMeta {
        log: Log::default(),
        script: Default::default(),
        base: Default::default(),
        counter: Arc::new(AtomicUsize::new(1)),
    };
    let router = axum::Router::new()
        .route("/v21.0/{phone_id}/messages", post(fake_send))
        .route("/v21.0/{media_id}", get(fake_media_info))
        .route("/whatsapp_business/attachments/{id}", get(fake_media_bytes))
        .with_state(f.clone());
    let base = serve(recording(router, f.log.clone())).await;
    *f.base.lock().unwrap() = base.clone();
    (base, f)
}

/// An app sending through Meta, whose Graph API is the stand-in at `graph`.
pub async fn app_with(backend: Backend, graph: &str) -> TestApp {
    let api = format!("{graph}/v21.0");
    TestApp::spawn_with(
        backend,
        &[
            ("WHATSAPP_PROVIDER", "meta"),
            ("META_APP_SECRET", APP_SECRET),
            ("META_VERIFY_TOKEN", VERIFY_TOKEN),
            ("META_ACCESS_TOKEN", ACCESS_TOKEN),
            ("META_PHONE_NUMBER_ID", PHONE_NUMBER_ID),
            ("META_API_BASE", &api),
        ],
    )
    .await
}

/// The sends (`POST …/messages`) the stand-in received.
pub fn sends(f: &FakeMeta) -> Vec<Seen> {
    log_of(&f.log)
        .into_iter()
        .filter(|s| s.path.ends_with("/messages"))
        .collect()
}
