//! Handing a recorded message to its provider (W3, W5), at most once, with retries.
//!
//! [`deliver`] is the unit of work the `whatsapp_send` job runs (`whatsapp::jobs`):
//! given a message id it claims the queued row (so two workers can never both send it),
//! calls the provider, and stores the provider's id and status, or the error. A momentary
//! failure (429, 5xx, a refused connection) puts the row back to `queued` and says
//! `retryable`, and the job queue retries it with backoff; anything else is stored as a
//! terminal `failed` with the provider's code. A timeout is not retried: the provider may
//! have sent the message, and a second copy is worse than a visible failure. For the same
//! reason a row found still `sending` (the process died between claiming it and storing
//! the provider's answer) is failed as interrupted rather than sent again.

use std::time::Duration;

use crate::store::whatsapp::{self as store, Message};
use crate::whatsapp::state::WaState;
use crate::whatsapp::status;

/// Attempts per message, first included.
pub const MAX_ATTEMPTS: i64 = 6;
/// Wait before the second attempt; doubled for each later one.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The wait after failed attempt `attempt` (1-based): 0.5 s, 1 s, 2 s, 4 s, … capped.
pub fn retry_delay(attempt: i64) -> Duration {
    crate::jobs::queue::backoff(FIRST_BACKOFF, attempt - 1, MAX_BACKOFF)
}

/// Why a delivery attempt did not hand the message over.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliverError {
    /// Worth trying again later (the row is back to `queued`).
    pub retryable: bool,
    /// The provider's error code, when it gave one.
    pub code: Option<String>,
    pub message: String,
}

impl DeliverError {
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliverError {
            retryable: false,
            code: None,
            message: message.into(),
        }
    }
    pub fn retryable(message: impl Into<String>) -> Self {
        DeliverError {
            retryable: true,
            code: None,
            message: message.into(),
        }
    }
    pub fn with_code(mut self, code: Option<String>) -> Self {
        self.code = code;
        self
    }
}

/// What a provider answered to a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub provider_message_id: String,
    /// The provider's status word (`queued`, `accepted`, `sent`…).
    pub status: String,
}

/// Sends message `message_id` if it is still queued; `Ok` also when there was nothing to
/// do (already sent, or another worker holds it).
pub async fn deliver(state: &WaState, message_id: i64) -> Result<(), DeliverError> {
    let db_err = |e: sqlx::Error| {
        tracing::error!(message_id, error = %e, "WhatsApp delivery: database error");
        DeliverError::retryable("database error")
    };
    let Some(msg) = store::for_delivery(&state.db, message_id)
        .await
        .map_err(db_err)?
    else {
        return Err(DeliverError::permanent("no such message"));
    };
    if msg.direction == "out" && msg.provider_message_id.is_none() && msg.status == "sending" {
        // An earlier attempt died between claiming the row and storing the answer: the
        // provider may have it. A visible failure beats a second copy.
        let why = "the send was interrupted (the service stopped mid-send); the message may \
                   or may not have reached the customer";
        store::failed(&state.db, message_id, None, why)
            .await
            .map_err(db_err)?;
        tracing::warn!(message_id, "WHATSAPP_SEND_INTERRUPTED");
        return Err(DeliverError::permanent(why));
    }
    if msg.direction != "out" || msg.provider_message_id.is_some() || msg.status != "queued" {
        return Ok(());
    }
    if !store::claim(&state.db, message_id).await.map_err(db_err)? {
        return Ok(());
    }
    let result = match msg.provider.as_str() {
        "twilio" => crate::whatsapp::twilio::send(state, &msg).await,
        "meta" => crate::whatsapp::meta::send(state, &msg).await,
        "baileys" => crate::whatsapp::baileys::send(state, &msg).await,
        other => Err(DeliverError::permanent(format!("unknown provider {other}"))),
    };
    match result {
        Ok(accepted) => {
            let (name, rank) =
                status::parse(&accepted.status).unwrap_or(("queued", status::QUEUED));
            store::accepted(
                &state.db,
                message_id,
                &accepted.provider_message_id,
                name,
                rank,
            )
            .await
            .map_err(db_err)?;
            // Statuses that raced ahead of the provider's answer land now.
            let early = store::apply_early_statuses(
                &state.db,
                &msg.provider,
                &accepted.provider_message_id,
            )
            .await
            .map_err(db_err)?;
            metrics::counter!("mokdan_whatsapp_sent_total", "provider" => msg.provider.clone())
                .increment(1);
            tracing::info!(
                message_id,
                provider = %msg.provider,
                provider_message_id = %accepted.provider_message_id,
                early_statuses = early,
                "WHATSAPP_SENT"
            );
            Ok(())
        }
        Err(e) => {
            let stored = if e.retryable {
                store::requeue(&state.db, message_id, e.code.as_deref(), &e.message).await
            } else {
                store::failed(&state.db, message_id, e.code.as_deref(), &e.message).await
            };
            stored.map_err(db_err)?;
            crate::telemetry::count_error("whatsapp_send");
            tracing::warn!(
                message_id,
                provider = %msg.provider,
                retryable = e.retryable,
                code = e.code.as_deref().unwrap_or("-"),
                error = %e.message,
                "WHATSAPP_SEND_FAILED"
            );
            Err(e)
        }
    }
}

/// The template of a stored message, if it is a template send.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Template {
    /// Twilio's Content SID (`HX…`), or Meta's template name.
    pub content_sid: String,
    /// Variables by position: `{"1": "דנה", "2": "10:00"}`.
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
    /// Meta's template language; Hebrew by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl Template {
    pub fn of(msg: &Message) -> Option<Template> {
        serde_json::from_str(msg.template.as_deref()?).ok()
    }

    /// The variables in position order (`"1"`, `"2"`, … `"10"`).
    pub fn ordered_values(&self) -> Vec<&str> {
        let mut pairs: Vec<(&String, &String)> = self.variables.iter().collect();
        pairs.sort_by_key(|(k, _)| (k.parse::<u64>().unwrap_or(u64::MAX), (*k).clone()));
        pairs.into_iter().map(|(_, v)| v.as_str()).collect()
    }
}

/// Classifies an HTTP answer from a provider: 429 and 5xx are worth retrying.
pub fn http_failure(status: u16, code: Option<String>, message: String) -> DeliverError {
    DeliverError {
        retryable: status == 429 || status >= 500,
        code,
        message,
    }
}

/// Classifies a transport failure: refused or broken connections are retried, a timeout
/// is not (the provider may have sent it).
pub fn transport_failure(provider: &str, e: reqwest::Error) -> DeliverError {
    if e.is_timeout() {
        DeliverError::permanent(format!(
            "{provider} did not answer in time; the message may or may not have been sent"
        ))
    } else {
        DeliverError::retryable(format!("{provider} unreachable: {}", e.without_url()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_variables_in_position_order() {
        let t: Template =
            serde_json::from_str(r#"{"content_sid":"HX1","variables":{"10":"j","2":"b","1":"a"}}"#)
                .unwrap();
        assert_eq!(t.ordered_values(), ["a", "b", "j"]);
    }

    #[test]
    fn only_momentary_http_failures_retry() {
        assert!(http_failure(429, None, String::new()).retryable);
        assert!(http_failure(503, None, String::new()).retryable);
        assert!(!http_failure(400, None, String::new()).retryable);
        assert!(!http_failure(401, None, String::new()).retryable);
    }
}
