//! The Baileys bridge: a separate WhatsApp-Web process that we talk to over HTTP (W5).
//!
//! The contract (docs/baileys-bridge.md) in short: the bridge POSTs events to
//! `/webhook/whatsapp/baileys` with `X-Bridge-Secret: <BAILEYS_SHARED_SECRET>` (compared in
//! constant time), either one event or `{"events": [...]}`; we send with
//! `POST {BAILEYS_BRIDGE_URL}/send {to, text, reply_to, from}` → `{id, status?}` with the same
//! header, and fetch media from URLs on the bridge's own origin with it.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::config::WhatsappProvider;
use crate::http::twilio::public_base;
use crate::store::whatsapp::Message;
use crate::whatsapp::inbound::{self, Inbound, MediaRef};
use crate::whatsapp::send::{Accepted, DeliverError, http_failure, transport_failure};
use crate::whatsapp::state::WaState;
use crate::whatsapp::{parse_address, status};

/// The header carrying the shared secret, both ways.
pub const SECRET_HEADER: &str = "x-bridge-secret";
/// Events are small; a batch of a few hundred fits easily.
pub const MAX_BODY: usize = 1 << 20;

/// One event from the bridge.
#[derive(Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BridgeEvent {
    Message(BridgeMessage),
    Status(BridgeStatus),
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BridgeMessage {
    pub id: String,
    /// `+972…`, `972…` or a JID `972…@s.whatsapp.net`.
    pub from: String,
    /// The bridge's own number (the business's WhatsApp number).
    pub to: Option<String>,
    pub push_name: Option<String>,
    pub text: Option<String>,
    pub quoted_id: Option<String>,
    pub media: Vec<MediaRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BridgeStatus {
    pub id: String,
    pub status: String,
    pub error_code: Option<Value>,
    pub error_message: Option<String>,
}

/// `POST /webhook/whatsapp/baileys`.
pub async fn webhook(State(state): State<WaState>, headers: HeaderMap, body: Body) -> Response {
    let given = headers
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let allowed = match &state.settings.baileys_shared_secret {
        Some(secret) => {
            !given.is_empty() && bool::from(secret.expose().as_bytes().ct_eq(given.as_bytes()))
        }
        None => !state.settings.is_production(),
    };
    if !allowed {
        crate::telemetry::count_error("webhook_rejected");
        tracing::warn!(
            signed = !given.is_empty(),
            "WEBHOOK_SECRET_INVALID: Baileys bridge event refused with 403"
        );
        return (StatusCode::FORBIDDEN, Json(json!({"error": "bad secret"}))).into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"error": "too large"})),
        )
            .into_response();
    };
    let events = match parse_events(&bytes) {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!(error = %e, "Baileys bridge sent an event we cannot read");
            return (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response();
        }
    };
    if !inbound::provider_enabled(&state, WhatsappProvider::Baileys, "events") {
        // Done as far as the bridge goes (no retry), and every event says it was ignored.
        return Json(json!({"ok": true, "stored": 0, "duplicates": 0, "ignored": events.len()}))
            .into_response();
    }
    let base = public_base(&state.settings, &headers);
    let (mut stored, mut duplicates) = (0, 0);
    for event in events {
        match event {
            BridgeEvent::Message(m) => {
                let Some(msg) = to_inbound(&m) else {
                    tracing::warn!("Baileys message without a usable id or sender: ignored");
                    continue;
                };
                match inbound::receive(&state, msg, Some(base.clone())).await {
                    Ok(inbound::Received::Stored { .. }) => stored += 1,
                    Ok(inbound::Received::Duplicate) => duplicates += 1,
                    Err(e) => {
                        crate::telemetry::count_error("webhook_db");
                        tracing::error!(error = %e, "WHATSAPP_DB_ERROR: Baileys message not stored");
                        // The bridge retries on 5xx: this one is worth retrying.
                        return (
                            StatusCode::SERVICE_UNAVAILABLE,
                            Json(json!({"error": "storage unavailable"})),
                        )
                            .into_response();
                    }
                }
            }
            BridgeEvent::Status(s) => {
                if !inbound::valid_message_id(&s.id) {
                    continue;
                }
                let code = s.error_code.as_ref().map(|c| match c {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                // Kept in the outbox if the database does not answer: the bridge is told
                // `ok` and does not send it again.
                if let Some(update) = status::update(&s.status, code, s.error_message.clone()) {
                    crate::whatsapp::twilio::record_status(&state, "baileys", &s.id, &update).await;
                }
            }
            BridgeEvent::Other => {}
        }
    }
    Json(json!({"ok": true, "stored": stored, "duplicates": duplicates})).into_response()
}

/// One event, or `{"events": [...]}`.
pub fn parse_events(bytes: &[u8]) -> Result<Vec<BridgeEvent>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let items = match value.get("events") {
        Some(Value::Array(items)) => items.clone(),
        _ => vec![value],
    };
    items
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(|e| format!("bad event: {e}")))
        .collect()
}

fn to_inbound(m: &BridgeMessage) -> Option<Inbound> {
    if !inbound::valid_message_id(&m.id) {
        return None;
    }
    Some(Inbound {
        provider: "baileys",
        provider_message_id: m.id.clone(),
        from: parse_address(&m.from)?,
        to: m.to.as_deref().and_then(parse_address),
        body: inbound::clean_body(m.text.as_deref()),
        media: m
            .media
            .iter()
            .take(inbound::MAX_MEDIA)
            .filter(|r| r.url.is_some())
            .cloned()
            .collect(),
        profile_name: m.push_name.clone(),
        reply_to: m.quoted_id.clone().filter(|q| inbound::valid_message_id(q)),
    })
}

fn bridge(state: &WaState) -> Result<&str, DeliverError> {
    state
        .settings
        .baileys_bridge_url
        .as_deref()
        .ok_or_else(|| DeliverError::permanent("BAILEYS_BRIDGE_URL is not set"))
}

/// Sends a stored message through the bridge's `POST /send`.
pub async fn send(state: &WaState, msg: &Message) -> Result<Accepted, DeliverError> {
    let base = bridge(state)?;
    if msg.template.is_some() {
        return Err(DeliverError::permanent(
            "the Baileys bridge cannot send templates",
        ));
    }
    let to = msg
        .to_number
        .as_deref()
        .ok_or_else(|| DeliverError::permanent("no recipient"))?;
    // `from` is the business's own number: a bridge serving several businesses sends
    // through that number's WhatsApp-Web session.
    let mut request = state.whatsapp.http.post(format!("{base}/send")).json(
        &json!({"to": to, "text": msg.body.clone().unwrap_or_default(),
                      "reply_to": msg.reply_to, "from": msg.from_number}),
    );
    if let Some(secret) = &state.settings.baileys_shared_secret {
        request = request.header(SECRET_HEADER, secret.expose());
    }
    let response = request
        .send()
        .await
        .map_err(|e| transport_failure("the Baileys bridge", e))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .filter(|i| inbound::valid_message_id(i))
            .ok_or_else(|| DeliverError::permanent("the bridge answered without an id"))?;
        return Ok(Accepted {
            provider_message_id: id.to_string(),
            status: body
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("queued")
                .to_string(),
        });
    }
    let code = body.get("code").map(|c| match c {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    });
    let message = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("request failed");
    Err(http_failure(
        status,
        code,
        format!("Baileys bridge: {message}"),
    ))
}

/// Media on the bridge's own origin, fetched with the secret; any other URL is refused so a
/// forged event cannot make us fetch internal addresses.
pub async fn fetch_media(state: &WaState, url: &str) -> Result<(Option<String>, Bytes), String> {
    let base = bridge(state).map_err(|e| e.message)?;
    let base = url::Url::parse(base).map_err(|_| "bad BAILEYS_BRIDGE_URL".to_string())?;
    let target = url::Url::parse(url).map_err(|_| "bad media URL".to_string())?;
    if target.origin() != base.origin() || !target.username().is_empty() {
        return Err("media URL is not on the bridge".into());
    }
    let mut request = state.whatsapp.http.get(target);
    if let Some(secret) = &state.settings.baileys_shared_secret {
        request = request.header(SECRET_HEADER, secret.expose());
    }
    let response = request
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("bridge media download failed: {}", e.without_url()))?;
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = crate::whatsapp::media::read_limited(response).await?;
    Ok((content_type, bytes))
}
