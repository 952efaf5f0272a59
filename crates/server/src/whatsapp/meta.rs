//! Meta's WhatsApp Cloud API: webhook verification, signed notifications, and sends.
//!
//! Meta signs each notification with `X-Hub-Signature-256: sha256=<hex>`, an HMAC-SHA256
//! of the raw body keyed by the app secret. The raw bytes matter: Meta signs its own wire
//! form, which escapes non-ASCII (Hebrew arrives as `\u05e9…`), so re-serialising the
//! parsed JSON would not match. The check runs on the bytes before anything is parsed,
//! and compares in constant time.
//! Payload: `entry[].changes[].value` holds `metadata.display_phone_number` (the business),
//! `contacts[]` (profile names), `messages[]` (text, image, audio, video, document, sticker
//! with a media id) and `statuses[]` (sent, delivered, read, failed with `errors[].code`).

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::WhatsappProvider;
use crate::crypto;
use crate::http::twilio::public_base;
use crate::store::whatsapp::Message;
use crate::whatsapp::inbound::{self, Inbound, MediaRef};
use crate::whatsapp::send::{Accepted, DeliverError, Template, http_failure, transport_failure};
use crate::whatsapp::state::WaState;
use crate::whatsapp::{parse_address, status, twilio};

/// Meta batches up to 1,000 updates per notification; a few MB at most.
pub const MAX_BODY: usize = 4 << 20;

/// `GET /webhook/whatsapp/meta`: echoes `hub.challenge` when the verify token matches.
pub async fn verify(
    State(state): State<WaState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mode = q.get("hub.mode").map(String::as_str);
    let token = q.get("hub.verify_token").map(String::as_str).unwrap_or("");
    let challenge = q.get("hub.challenge").cloned().unwrap_or_default();
    let expected = state.settings.meta_verify_token.as_ref();
    let ok = mode == Some("subscribe")
        && expected
            .is_some_and(|e| crypto::constant_time_eq(e.expose().as_bytes(), token.as_bytes()))
        && !challenge.is_empty()
        && challenge.len() <= 200;
    if ok {
        tracing::info!("Meta webhook verified");
        (StatusCode::OK, challenge).into_response()
    } else {
        crate::telemetry::count_error("webhook_rejected");
        tracing::warn!("Meta webhook verification refused");
        (StatusCode::FORBIDDEN, "verification failed").into_response()
    }
}

/// `sha256=<hex>` over `body` with `secret`, checked in constant time.
pub fn signature_valid(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    crypto::hmac_sha256_verify(secret.as_bytes(), body, &sig)
}

/// The header value Meta would send for `body` (tests and the stand-in use it).
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(crypto::hmac_sha256(secret.as_bytes(), body))
    )
}

/// `POST /webhook/whatsapp/meta`.
pub async fn notify(State(state): State<WaState>, headers: HeaderMap, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response();
    };
    match &state.settings.meta_app_secret {
        Some(secret) => {
            let header = headers
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !signature_valid(secret.expose(), &bytes, header) {
                crate::telemetry::count_error("webhook_rejected");
                tracing::warn!(
                    signed = !header.is_empty(),
                    "WEBHOOK_SIGNATURE_INVALID: Meta notification refused with 403"
                );
                return (StatusCode::FORBIDDEN, "invalid signature").into_response();
            }
        }
        None if state.settings.is_production() => {
            tracing::warn!("Meta notification refused: META_APP_SECRET is not set");
            return (StatusCode::FORBIDDEN, "signatures cannot be checked").into_response();
        }
        None => {}
    }
    if !inbound::provider_enabled(&state, WhatsappProvider::Meta, "notification") {
        // Meta retries anything but 200; a notification we do not want is not retried.
        return StatusCode::OK.into_response();
    }
    let base = public_base(&state.settings, &headers);
    handle(&state, &bytes, &base).await;
    // Meta retries anything but 200 for days; a payload we cannot use is not retried.
    StatusCode::OK.into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Notification {
    pub object: String,
    pub entry: Vec<Entry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entry {
    pub id: String,
    pub changes: Vec<Change>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Change {
    pub field: String,
    pub value: ChangeValue,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ChangeValue {
    pub metadata: Metadata,
    pub contacts: Vec<Contact>,
    pub messages: Vec<Value>,
    pub statuses: Vec<StatusItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub display_phone_number: String,
    pub phone_number_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Contact {
    pub wa_id: String,
    pub profile: Profile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatusItem {
    pub id: String,
    pub status: String,
    pub recipient_id: String,
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorItem {
    pub code: Option<Value>,
    pub title: Option<String>,
    pub message: Option<String>,
}

/// A Meta message object → our inbound message (`None` for kinds we do not keep).
pub fn parse_message(msg: &Value, value: &ChangeValue) -> Option<Inbound> {
    let id = msg
        .get("id")?
        .as_str()
        .filter(|s| inbound::valid_message_id(s))?;
    let from_raw = msg.get("from")?.as_str()?;
    let from = parse_address(from_raw)?;
    let kind = msg.get("type").and_then(Value::as_str).unwrap_or("");
    let mut body = None;
    let mut media = Vec::new();
    match kind {
        "text" => body = msg.pointer("/text/body").and_then(Value::as_str),
        "image" | "audio" | "video" | "document" | "sticker" | "voice" => {
            let m = msg.get(kind)?;
            body = m.get("caption").and_then(Value::as_str);
            let media_id = m.get("id").and_then(Value::as_str).filter(|i| {
                !i.is_empty() && i.len() <= 64 && i.bytes().all(|b| b.is_ascii_alphanumeric())
            });
            if let Some(media_id) = media_id {
                media.push(MediaRef {
                    id: Some(media_id.to_string()),
                    content_type: m
                        .get("mime_type")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    filename: m
                        .get("filename")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    ..MediaRef::default()
                });
            }
        }
        "button" => body = msg.pointer("/button/text").and_then(Value::as_str),
        "interactive" => {
            body = msg
                .pointer("/interactive/button_reply/title")
                .or_else(|| msg.pointer("/interactive/list_reply/title"))
                .and_then(Value::as_str)
        }
        "reaction" => body = msg.pointer("/reaction/emoji").and_then(Value::as_str),
        "location" => {
            body = msg
                .pointer("/location/name")
                .or_else(|| msg.pointer("/location/address"))
                .and_then(Value::as_str)
        }
        _ => {}
    }
    let profile_name = value
        .contacts
        .iter()
        .find(|c| c.wa_id == from_raw)
        .or(value.contacts.first())
        .and_then(|c| c.profile.name.clone());
    let to = parse_address(&value.metadata.display_phone_number);
    Some(Inbound {
        provider: "meta",
        provider_message_id: id.to_string(),
        from,
        to,
        body: inbound::clean_body(body),
        media,
        profile_name,
        reply_to: msg
            .pointer("/context/id")
            .and_then(Value::as_str)
            .filter(|s| inbound::valid_message_id(s))
            .map(str::to_string),
    })
}

/// Stores every message and status of a verified notification.
async fn handle(state: &WaState, bytes: &Bytes, base: &str) {
    let notification: Notification = match serde_json::from_slice(bytes) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "Meta notification is not JSON we understand: ignored");
            return;
        }
    };
    // Once the database fails to answer within the bound, the rest of the notification goes
    // straight to the outbox: a batch of a thousand updates must not wait a bound each.
    let mut db_answers = true;
    for change in notification.entry.iter().flat_map(|e| &e.changes) {
        let value = &change.value;
        for raw in &value.messages {
            let Some(msg) = parse_message(raw, value) else {
                tracing::warn!("Meta message without id or sender: ignored");
                continue;
            };
            if db_answers {
                db_answers = inbound::receive_or_keep(state, msg, Some(base.to_string())).await;
            } else {
                inbound::keep(state, &msg, Some(base)).await;
            }
        }
        for s in &value.statuses {
            if !inbound::valid_message_id(&s.id) {
                continue;
            }
            let error = s.errors.first();
            let code = error.and_then(|e| e.code.as_ref()).map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let message = error.and_then(|e| e.message.clone().or_else(|| e.title.clone()));
            if let Some(update) = status::update(&s.status, code, message) {
                if db_answers {
                    db_answers = twilio::record_status(state, "meta", &s.id, &update).await;
                } else {
                    twilio::keep_status(state, "meta", &s.id, &update).await;
                }
            }
        }
    }
}

/// Meta error codes that mean "later" rather than "never" (rate limits, outages).
fn meta_code_retryable(code: i64) -> bool {
    matches!(
        code,
        1 | 2 | 4 | 17 | 341 | 80007 | 130429 | 131016 | 131056 | 133004
    )
}

/// The Meta phone number id a business's messages go out from (C4, W3): its own always;
/// without one, `META_PHONE_NUMBER_ID` — but never when another business has that id as its
/// own (its customers would see another business's number). `None`: no sender it may use.
pub async fn sender_id(
    state: &WaState,
    business: Option<&crate::store::businesses::Business>,
) -> Result<Option<String>, sqlx::Error> {
    if let Some(own) = business.and_then(|b| b.meta_phone_number_id.clone()) {
        return Ok(Some(own));
    }
    let Some(default) = state.settings.meta_phone_number_id.clone() else {
        return Ok(None);
    };
    let claimed = crate::store::businesses::meta_id_claimed_elsewhere(
        &state.db,
        business.map(|b| b.id),
        &default,
    )
    .await?;
    Ok(claimed.is_none().then_some(default))
}

/// Sends a stored message: `type: text`, or `type: template` outside the 24-hour window,
/// from the business's own Meta phone number id ([`sender_id`]).
pub async fn send(state: &WaState, msg: &Message) -> Result<Accepted, DeliverError> {
    let s = &state.settings;
    let Some(token) = &s.meta_access_token else {
        return Err(DeliverError::permanent(
            "Meta is not configured (META_ACCESS_TOKEN, META_PHONE_NUMBER_ID)",
        ));
    };
    let db_err = |e: sqlx::Error| {
        tracing::error!(error = %e, "Meta send: database error");
        DeliverError::retryable("database error")
    };
    let business = match msg.business_id {
        Some(id) => crate::store::businesses::get(&state.db, id)
            .await
            .map_err(db_err)?,
        None => None,
    };
    let phone_id = sender_id(state, business.as_ref())
        .await
        .map_err(db_err)?
        .ok_or_else(|| {
            DeliverError::permanent(
                "no Meta sender: the business has no meta_phone_number_id and \
                 META_PHONE_NUMBER_ID is unset or another business's",
            )
        })?;
    let to = msg
        .to_number
        .as_deref()
        .map(|t| t.trim_start_matches('+').to_string())
        .ok_or_else(|| DeliverError::permanent("no recipient"))?;
    let mut payload = match Template::of(msg) {
        Some(t) => {
            let parameters: Vec<Value> = t
                .ordered_values()
                .into_iter()
                .map(|v| json!({"type": "text", "text": v}))
                .collect();
            let mut template = json!({
                "name": t.content_sid,
                "language": {"code": t.language.clone().unwrap_or_else(|| "he".into())},
            });
            if !parameters.is_empty() {
                template["components"] = json!([{"type": "body", "parameters": parameters}]);
            }
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
                   "type": "template", "template": template})
        }
        None => json!({
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            "type": "text",
            "text": {"preview_url": false, "body": msg.body.clone().unwrap_or_default()},
        }),
    };
    if let Some(reply_to) = msg.reply_to.as_deref().filter(|r| r.starts_with("wamid.")) {
        payload["context"] = json!({ "message_id": reply_to });
    }
    let url = format!("{}/{phone_id}/messages", s.meta_api_base);
    let response = state
        .whatsapp
        .http
        .post(&url)
        .bearer_auth(token.expose())
        .json(&payload)
        .send()
        .await
        .map_err(|e| transport_failure("Meta", e))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        let id = body
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .filter(|i| inbound::valid_message_id(i))
            .ok_or_else(|| DeliverError::permanent("Meta answered without a message id"))?;
        let state_word = body
            .pointer("/messages/0/message_status")
            .and_then(Value::as_str)
            .unwrap_or("accepted");
        return Ok(Accepted {
            provider_message_id: id.to_string(),
            status: state_word.to_string(),
        });
    }
    let code = body.pointer("/error/code").and_then(Value::as_i64);
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("request failed");
    let mut e = http_failure(
        status,
        code.map(|c| c.to_string()),
        format!("Meta: {message}"),
    );
    if code.is_some_and(meta_code_retryable) {
        e.retryable = true;
    }
    Err(e)
}

/// Meta media: the id resolves (with the token) to a short-lived URL, fetched with the
/// same token.
pub async fn fetch_media(
    state: &WaState,
    media_id: &str,
) -> Result<(Option<String>, Bytes), String> {
    let s = &state.settings;
    let token = s
        .meta_access_token
        .as_ref()
        .ok_or("META_ACCESS_TOKEN is not set")?;
    if media_id.is_empty() || !media_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("bad media id".into());
    }
    let http = &state.whatsapp.http;
    let meta: Value = http
        .get(format!("{}/{media_id}", s.meta_api_base))
        .bearer_auth(token.expose())
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("Meta media lookup failed: {}", e.without_url()))?
        .json()
        .await
        .map_err(|e| format!("Meta media lookup: {}", e.without_url()))?;
    let url = meta
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .ok_or("Meta media lookup gave no URL")?;
    let content_type = meta
        .get("mime_type")
        .and_then(Value::as_str)
        .map(str::to_string);
    let response = http
        .get(url)
        .bearer_auth(token.expose())
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("Meta media download failed: {}", e.without_url()))?;
    let bytes = crate::whatsapp::media::read_limited(response).await?;
    Ok((content_type, bytes))
}
