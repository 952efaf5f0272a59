//! One inbound path for every provider: link the business and the customer, store once,
//! and let only the delivery that stored the message enqueue the auto-reply (W2, W4).
//!
//! On PostgreSQL the customer upsert (with its last-inbound time), the message insert and
//! the reply job are one statement: one round trip and one commit per webhook. On SQLite
//! they are one transaction.

use crate::config::WhatsappProvider;
use crate::domain::Phone;
use crate::outbox::Pending;
use crate::store::whatsapp as store;
use crate::whatsapp::state::WaState;

/// The providers' names as stored in `whatsapp_messages.provider`.
pub const PROVIDERS: [&str; 3] = ["twilio", "meta", "baileys"];
/// How long a webhook waits on the database before keeping a write (a message, a status)
/// in the outbox.
pub const STORE_BOUND: std::time::Duration = std::time::Duration::from_secs(2);

/// Most media items kept per message (Twilio allows 10).
pub const MAX_MEDIA: usize = 10;
/// Longest body kept; WhatsApp's own limit is 4,096 characters.
pub const MAX_BODY_CHARS: usize = 8192;

pub use crate::store::whatsapp::MediaRef;

/// A message from a customer, whichever provider carried it.
#[derive(Clone, Debug)]
pub struct Inbound {
    pub provider: &'static str,
    pub provider_message_id: String,
    pub from: Phone,
    /// The business's WhatsApp number the customer wrote to.
    pub to: Option<Phone>,
    pub body: Option<String>,
    pub media: Vec<MediaRef>,
    pub profile_name: Option<String>,
    pub reply_to: Option<String>,
}

impl Inbound {
    /// The message as the outbox keeps it while the database is down.
    pub fn to_pending(&self, base: Option<&str>) -> Pending {
        let msg = self;
        Pending::WhatsappInbound {
            provider: msg.provider.to_string(),
            provider_message_id: msg.provider_message_id.clone(),
            from: msg.from.to_string(),
            to: msg.to.as_ref().map(|p| p.to_string()),
            body: msg.body.clone(),
            media: msg.media.clone(),
            profile_name: msg.profile_name.clone(),
            reply_to: msg.reply_to.clone(),
            base: base.map(str::to_string),
        }
    }

    /// The kept WhatsApp message, as the inbound path takes it.
    pub fn from_pending(op: &Pending) -> Option<(Inbound, Option<String>)> {
        let Pending::WhatsappInbound {
            provider,
            provider_message_id,
            from,
            to,
            body,
            media,
            profile_name,
            reply_to,
            base,
        } = op
        else {
            return None;
        };
        let provider = PROVIDERS.iter().copied().find(|p| p == provider)?;
        let msg = Inbound {
            provider,
            provider_message_id: provider_message_id.clone(),
            from: crate::domain::Phone::parse(from).ok()?,
            to: to
                .as_deref()
                .and_then(|t| crate::domain::Phone::parse(t).ok()),
            body: body.clone(),
            media: media.clone(),
            profile_name: profile_name.clone(),
            reply_to: reply_to.clone(),
        };
        Some((msg, base.clone()))
    }
}

/// What storing an inbound message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Stored now (this delivery is the one that acts on it).
    Stored { message_id: i64, auto_reply: bool },
    /// Already stored by an earlier or concurrent delivery.
    Duplicate,
}

/// Provider message ids go in URLs and logs: plain printable ASCII, bounded.
pub fn valid_message_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-=+/:".contains(&b))
}

/// Trims a body and bounds its length; empty becomes `None`.
pub fn clean_body(body: Option<&str>) -> Option<String> {
    let b = body?.trim();
    if b.is_empty() {
        return None;
    }
    Some(b.chars().take(MAX_BODY_CHARS).collect())
}

/// Stores the message (linked to its business and customer) and, for the delivery that
/// stored it, enqueues the auto-reply in the same statement. `base` is our public URL, for
/// status callbacks of the reply.
pub async fn receive(
    state: &WaState,
    msg: Inbound,
    base: Option<String>,
) -> Result<Received, sqlx::Error> {
    let media = if msg.media.is_empty() {
        None
    } else {
        serde_json::to_string(&msg.media).ok()
    };
    let new = store::NewInbound {
        business_id: None,
        customer_id: None,
        provider: msg.provider,
        provider_message_id: msg.provider_message_id.clone(),
        from_number: msg.from.to_string(),
        to_number: msg.to.as_ref().map(Phone::to_string),
        body: msg.body.clone(),
        media,
        profile_name: msg.profile_name.clone(),
        reply_to: msg.reply_to.clone(),
    };
    let reply = can_send(state, msg.provider).then(|| crate::whatsapp::jobs::reply_job(base));
    let receipt =
        store::record_inbound_with(&state.db, msg.to.as_ref(), &msg.from, &new, reply.as_ref())
            .await?;
    let linked = receipt.linked;
    if linked.is_none() {
        tracing::warn!(
            provider = msg.provider,
            message_id = %msg.provider_message_id,
            to = msg.to.as_ref().map(Phone::as_str).unwrap_or("-"),
            "WHATSAPP_UNKNOWN_NUMBER: no business owns it; stored unlinked"
        );
    }
    let Some(message_id) = receipt.message_id else {
        tracing::debug!(provider = msg.provider, message_id = %msg.provider_message_id, "WHATSAPP_DUPLICATE");
        return Ok(Received::Duplicate);
    };
    let auto_reply = receipt.reply_job.is_some();
    if auto_reply {
        crate::jobs::wake();
    }
    if let Some(l) = &linked
        && !auto_reply
        && msg
            .body
            .as_deref()
            .and_then(crate::appointments::answers::parse)
            .is_some()
    {
        // With auto-reply off, an answer to an appointment ("1"/"2", #19) still gets its
        // own job; with it on, the reply job takes it first.
        answer_job(state, l.business_id, message_id).await;
    }
    if let Some(l) = &linked {
        // Signed webhooks out (#22); the message is stored, so a failure here is only logged.
        let data = serde_json::json!({
            "business_id": l.business_id,
            "message_id": message_id,
            "customer_id": l.customer_id,
            "provider": msg.provider,
            "provider_message_id": msg.provider_message_id,
            "from": msg.from.as_str(),
            "to": msg.to.as_ref().map(Phone::as_str),
            "body": msg.body,
            "media": msg.media.len(),
            "profile_name": msg.profile_name,
        });
        crate::hooks::emit_logged(
            &state.db,
            l.business_id,
            crate::hooks::Event::WhatsappReceived,
            data,
        )
        .await;
    }
    metrics::counter!("mokdan_whatsapp_inbound_total", "provider" => msg.provider).increment(1);
    tracing::info!(
        provider = msg.provider,
        message_id = %msg.provider_message_id,
        id = message_id,
        business_id = linked.as_ref().map(|l| l.business_id),
        media = msg.media.len(),
        auto_reply,
        "WHATSAPP_INBOUND"
    );
    Ok(Received::Stored {
        message_id,
        auto_reply,
    })
}

async fn answer_job(state: &WaState, business_id: i64, message_id: i64) {
    use crate::appointments::notices::{APPOINTMENT_ANSWER, AnswerPayload};
    let payload = serde_json::to_value(AnswerPayload {
        inbound_id: message_id,
    })
    .unwrap_or_default();
    let key = format!("appt_answer:{message_id}");
    if let Err(e) = crate::jobs::enqueue(&state.db, APPOINTMENT_ANSWER, &payload, Some(&key)).await
    {
        crate::telemetry::count_error("appointment_answer");
        tracing::error!(business_id, message_id, error = %e, "appointment answer not queued");
    } else {
        crate::jobs::wake();
    }
}

/// [`receive`] for a webhook that must answer 2xx whatever happens: when the database
/// fails or is slow past a bound, the message goes to the local outbox and is stored (and
/// answered) once the database is back — never dropped (W2, V12). False when it was kept
/// rather than stored (the database is not answering).
pub async fn receive_or_keep(state: &WaState, msg: Inbound, base: Option<String>) -> bool {
    let kept = msg.to_pending(base.as_deref());
    let failure = match tokio::time::timeout(STORE_BOUND, receive(state, msg, base)).await {
        Ok(Ok(_)) => return true,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", STORE_BOUND.as_secs()),
    };
    crate::telemetry::count_error("webhook_db");
    tracing::error!(error = %failure, "WHATSAPP_DB_ERROR: inbound message kept in the outbox");
    push(state, &kept).await;
    false
}

/// Puts a message straight into the outbox (the database is known to be down).
pub async fn keep(state: &WaState, msg: &Inbound, base: Option<&str>) {
    push(state, &msg.to_pending(base)).await;
}

async fn push(state: &WaState, kept: &crate::outbox::Pending) {
    if let Err(e) = state.outbox.push(kept).await {
        crate::telemetry::count_error("outbox");
        tracing::error!(error = %e, "OUTBOX: cannot keep the WhatsApp message");
    }
}

/// Whether the webhooks of `provider` act (W5): only those of the configured
/// `WHATSAPP_PROVIDER` do. Another provider's delivery (a webhook URL still configured at a
/// provider the service no longer uses, a test message) is answered as that provider
/// expects by the caller, but stores and sends nothing; this logs the one line that says so.
pub fn provider_enabled(state: &WaState, provider: WhatsappProvider, route: &str) -> bool {
    let configured = state.settings.whatsapp_provider;
    if configured == Some(provider) {
        return true;
    }
    metrics::counter!("mokdan_whatsapp_ignored_total", "provider" => crate::whatsapp::provider_name(provider))
        .increment(1);
    tracing::warn!(
        provider = crate::whatsapp::provider_name(provider),
        route,
        configured = configured
            .map(crate::whatsapp::provider_name)
            .unwrap_or("none"),
        "WHATSAPP_PROVIDER_OFF: webhook of a provider that is not WHATSAPP_PROVIDER ignored; \
         nothing stored or sent"
    );
    false
}

/// Whether replies can go out on `provider` (the channel the customer wrote on).
pub fn can_send(state: &WaState, provider: &str) -> bool {
    let s = &state.settings;
    match provider {
        "twilio" => state.twilio.is_some(),
        "meta" => s.meta_access_token.is_some() && s.meta_phone_number_id.is_some(),
        "baileys" => s.baileys_bridge_url.is_some(),
        _ => false,
    }
}
