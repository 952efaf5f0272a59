//! Twilio's WhatsApp webhooks (W1) and sends through its Messages API.
//!
//! `POST /webhook/whatsapp/twilio` carries inbound messages and `POST
//! /webhook/whatsapp/status` delivery statuses; these are the only Twilio WhatsApp routes.
//! Both go through the shared [`TwilioRequest`] extractor (signature, lenient forms, 64 KB
//! limit, 403 on a bad signature) and always answer 200 with empty TwiML: Twilio needs no
//! instructions, and an error here must never become a 500 (V12). Unless
//! `WHATSAPP_PROVIDER=twilio`, both answer so and do nothing else (W5).

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::WhatsappProvider;
use crate::http::twilio::TwilioRequest;
use crate::store::whatsapp::{self as store, Message};
use crate::whatsapp::inbound::{self, Inbound, MediaRef};
use crate::whatsapp::send::{Accepted, DeliverError, Template};
use crate::whatsapp::state::WaState;
use crate::whatsapp::{parse_address, status};

/// `<Response/>`: nothing to do, answered at once.
pub fn empty_twiml() -> Response {
    static XML: OnceLock<String> = OnceLock::new();
    let xml = XML.get_or_init(|| telephony::twiml::Response::new().to_xml());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        xml.clone(),
    )
        .into_response()
}

/// Reads Twilio's inbound fields; unknown fields are ignored (Twilio adds them freely).
pub fn parse_inbound(req: &TwilioRequest) -> Result<Inbound, &'static str> {
    let sid = req
        .get("MessageSid")
        .or_else(|| req.get("SmsMessageSid"))
        .filter(|s| inbound::valid_message_id(s))
        .ok_or("no usable MessageSid")?;
    let from = req
        .get("From")
        .and_then(parse_address)
        .or_else(|| req.get("WaId").and_then(parse_address))
        .ok_or("no usable From")?;
    let to = req.get("To").and_then(parse_address);
    let count = req
        .get("NumMedia")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        .min(inbound::MAX_MEDIA);
    let media = (0..count)
        .filter_map(|i| {
            let url = req.get(&format!("MediaUrl{i}"))?;
            Some(MediaRef {
                url: Some(url.to_string()),
                content_type: req.get(&format!("MediaContentType{i}")).map(str::to_string),
                ..MediaRef::default()
            })
        })
        .collect();
    Ok(Inbound {
        provider: "twilio",
        provider_message_id: sid.to_string(),
        from,
        to,
        body: inbound::clean_body(req.get("Body")),
        media,
        profile_name: req.get("ProfileName").map(str::to_string),
        reply_to: req
            .get("OriginalRepliedMessageSid")
            .filter(|s| inbound::valid_message_id(s))
            .map(str::to_string),
    })
}

/// `POST /webhook/whatsapp/twilio`.
pub async fn inbound_webhook(State(state): State<WaState>, req: TwilioRequest) -> Response {
    if !inbound::provider_enabled(&state, WhatsappProvider::Twilio, "inbound") {
        return empty_twiml();
    }
    match parse_inbound(&req) {
        Ok(msg) => {
            inbound::receive_or_keep(&state, msg, Some(req.base.clone())).await;
        }
        Err(why) => tracing::warn!(why, "WhatsApp inbound webhook ignored"),
    }
    empty_twiml()
}

/// `POST /webhook/whatsapp/status`.
pub async fn status_webhook(State(state): State<WaState>, req: TwilioRequest) -> Response {
    if !inbound::provider_enabled(&state, WhatsappProvider::Twilio, "status") {
        return empty_twiml();
    }
    let sid = req
        .get("MessageSid")
        .or_else(|| req.get("SmsSid"))
        .filter(|s| inbound::valid_message_id(s));
    let raw = req.get("MessageStatus").or_else(|| req.get("SmsStatus"));
    let (Some(sid), Some(raw)) = (sid, raw) else {
        tracing::warn!("WhatsApp status webhook without MessageSid or MessageStatus: ignored");
        return empty_twiml();
    };
    let update = status::update(
        raw,
        req.get("ErrorCode").map(str::to_string),
        req.get("ErrorMessage").map(str::to_string),
    );
    match update {
        Some(update) => {
            record_status(&state, "twilio", sid, &update).await;
        }
        None => tracing::debug!(status = raw, "WhatsApp status ignored"),
    }
    empty_twiml()
}

/// Applies a status from any provider, within the webhooks' bound: when the database fails
/// or is slow past it, the status goes to the local outbox and is applied once the database
/// is back, so a status the provider was told we have is never lost (W4, V12).
/// False when it was kept rather than applied (the database is not answering).
pub async fn record_status(
    state: &WaState,
    provider: &'static str,
    provider_message_id: &str,
    update: &store::StatusUpdate,
) -> bool {
    let failure = match tokio::time::timeout(
        inbound::STORE_BOUND,
        apply_status(state, provider, provider_message_id, update),
    )
    .await
    {
        Ok(Ok(outcome)) => {
            tracing::info!(
                provider,
                provider_message_id,
                status = update.status,
                outcome = ?outcome,
                "WHATSAPP_STATUS"
            );
            return true;
        }
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", inbound::STORE_BOUND.as_secs()),
    };
    crate::telemetry::count_error("webhook_db");
    tracing::error!(provider, error = %failure, "WHATSAPP_DB_ERROR: status kept in the outbox");
    keep_status(state, provider, provider_message_id, update).await;
    false
}

/// Puts a status straight into the outbox (the database is known to be down).
pub async fn keep_status(
    state: &WaState,
    provider: &'static str,
    provider_message_id: &str,
    update: &store::StatusUpdate,
) {
    let kept = crate::outbox::Pending::whatsapp_status(provider, provider_message_id, update);
    if let Err(e) = state.outbox.push(&kept).await {
        crate::telemetry::count_error("outbox");
        tracing::error!(error = %e, "OUTBOX: cannot keep the WhatsApp status");
    }
}

/// Moves the message forward; a status for a send whose id we do not know yet is kept
/// until the id is stored (and applied at once if it was stored meanwhile). Safe to
/// repeat: statuses only move forward.
pub async fn apply_status(
    state: &WaState,
    provider: &str,
    provider_message_id: &str,
    update: &store::StatusUpdate,
) -> Result<store::StatusOutcome, sqlx::Error> {
    let outcome = store::apply_status(&state.db, provider, provider_message_id, update).await?;
    if outcome == store::StatusOutcome::Unknown {
        store::save_early_status(&state.db, provider, provider_message_id, update).await?;
        // The send may have stored its id between our update and our insert.
        store::apply_early_statuses(&state.db, provider, provider_message_id).await?;
    }
    Ok(outcome)
}

/// Sends a stored message through Twilio's Messages API.
pub async fn send(state: &WaState, msg: &Message) -> Result<Accepted, DeliverError> {
    let client = state.twilio.as_ref().ok_or_else(|| {
        DeliverError::permanent("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)")
    })?;
    let from = msg
        .from_number
        .as_deref()
        .ok_or_else(|| DeliverError::permanent("no WhatsApp sender number"))?;
    let to = msg
        .to_number
        .as_deref()
        .ok_or_else(|| DeliverError::permanent("no recipient"))?;
    let template = Template::of(msg);
    let request = telephony::rest::CreateMessage {
        to: format!("whatsapp:{to}"),
        from: format!("whatsapp:{from}"),
        body: if template.is_some() {
            None
        } else {
            msg.body.clone()
        },
        status_callback: msg.status_callback.clone(),
        content_sid: template.as_ref().map(|t| t.content_sid.clone()),
        content_variables: template
            .as_ref()
            .map(|t| serde_json::to_string(&t.variables).unwrap_or_else(|_| "{}".into())),
        media_url: Vec::new(),
    };
    match client.create_message(&request).await {
        Ok(resource) if !resource.sid.is_empty() => Ok(Accepted {
            provider_message_id: resource.sid,
            status: if resource.status.is_empty() {
                "queued".into()
            } else {
                resource.status
            },
        }),
        Ok(_) => Err(DeliverError::permanent(
            "Twilio answered without a message SID",
        )),
        Err(e) => Err(twilio_failure(e)),
    }
}

fn twilio_failure(e: telephony::rest::TwilioError) -> DeliverError {
    use telephony::rest::TwilioError as E;
    match e {
        E::Api {
            status,
            code,
            message,
            ..
        } => crate::whatsapp::send::http_failure(
            status,
            code.map(|c| c.to_string()),
            format!("Twilio: {message}"),
        ),
        E::Timeout(_) => DeliverError::permanent(
            "Twilio did not answer in time; the message may or may not have been sent",
        ),
        E::Transport(t) => DeliverError::retryable(format!("Twilio unreachable: {t}")),
        other => DeliverError::permanent(format!("Twilio: {other}")),
    }
}
