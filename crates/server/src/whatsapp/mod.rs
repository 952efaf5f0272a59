//! WhatsApp (W1–W5): inbound webhooks from Twilio, Meta's Cloud API and a Baileys bridge,
//! forward-only delivery statuses, Hebrew auto-replies, and sends from the CRM.
//!
//! Every provider's webhook is turned into the same [`inbound::Inbound`] and stored once
//! (the database enforces it); the one delivery that stored it enqueues the auto-reply
//! on the durable job queue, so webhooks answer in milliseconds and no reply is lost to a
//! crash. Sends are recorded `queued` with a `whatsapp_send` job and handed to the
//! provider by [`send::deliver`], which is safe to call again: a message reaches the
//! provider at most once, and 429s and 5xx are retried by the queue with backoff.

pub mod api;
pub mod attachment;
pub mod baileys;
pub mod inbound;
pub mod jobs;
pub mod media;
pub mod meta;
pub mod pairing;
pub mod reply;
pub mod routes;
pub mod send;
pub mod state;
pub mod status;
pub mod twilio;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Settings, WhatsappProvider};

/// What the WhatsApp context keeps for the life of the service.
pub struct Whatsapp {
    /// For Meta's Graph API and the Baileys bridge.
    pub http: reqwest::Client,
}

impl Whatsapp {
    pub fn new(settings: &Settings) -> Arc<Self> {
        if settings.meta_app_secret.is_none() && !settings.is_production() {
            tracing::debug!("META_APP_SECRET is not set: Meta webhook signatures are not checked");
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("mokdan/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Arc::new(Whatsapp { http })
    }
}

/// A provider's name as stored in `whatsapp_messages.provider`.
pub fn provider_name(p: WhatsappProvider) -> &'static str {
    match p {
        WhatsappProvider::Twilio => "twilio",
        WhatsappProvider::Meta => "meta",
        WhatsappProvider::Baileys => "baileys",
    }
}

/// `+972…` from `whatsapp:+972…`, a Meta `wa_id` (`972…`) or a bridge's JID
/// (`972…@s.whatsapp.net`).
pub fn parse_address(raw: &str) -> Option<crate::domain::Phone> {
    let s = raw.trim();
    let s = s.strip_prefix("whatsapp:").unwrap_or(s);
    let s = s.split(['@', ':']).next().unwrap_or(s).trim();
    if s.is_empty() {
        return None;
    }
    if s.starts_with('+') || s.starts_with('0') {
        return crate::domain::Phone::parse(s).ok();
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != s.chars().filter(|c| !" -()".contains(*c)).count() {
        return None;
    }
    crate::domain::Phone::parse(&format!("+{digits}")).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_address;

    #[test]
    fn addresses_of_every_provider() {
        for raw in [
            "whatsapp:+972501234567",
            "972501234567",
            "972501234567@s.whatsapp.net",
            "972501234567:12@s.whatsapp.net",
            "+972 50-123-4567",
            "050-1234567",
        ] {
            assert_eq!(
                parse_address(raw).map(|p| p.to_string()).as_deref(),
                Some("+972501234567"),
                "{raw}"
            );
        }
        assert_eq!(
            parse_address("15550001111").unwrap().as_str(),
            "+15550001111"
        );
        for bad in ["", "abc", "whatsapp:", "12ab34"] {
            assert!(parse_address(bad).is_none(), "{bad}");
        }
    }
}
