//! The order delivery statuses move in (W4), shared by every provider.
//!
//! Providers report statuses late, twice and out of order (a `sent` may land after
//! `read`; Meta may skip `delivered`), so each status maps to a rank and the store only
//! ever replaces a status with one of higher rank. `failed` and `undelivered` are terminal:
//! they outrank everything, so nothing moves a failed message again and its error stays.
//! The ranks live in the store because its queries order by them; the providers read
//! them here too (through `whatsapp::status`).

use super::StatusUpdate;

/// Inbound messages: below every outbound status.
pub const RECEIVED: i64 = 0;
pub const QUEUED: i64 = 10;
pub const SENDING: i64 = 15;
pub const SENT: i64 = 20;
pub const DELIVERED: i64 = 30;
pub const READ: i64 = 40;
pub const TERMINAL: i64 = 100;

/// A provider's status word → our canonical name and its rank; `None` for words that
/// are not delivery progress (e.g. Meta's `deleted`, Twilio's `receiving`).
pub fn parse(raw: &str) -> Option<(&'static str, i64)> {
    Some(match raw.trim().to_ascii_lowercase().as_str() {
        "accepted" | "scheduled" | "queued" | "pending" => ("queued", QUEUED),
        "sending" => ("sending", SENDING),
        "sent" | "server_ack" => ("sent", SENT),
        "delivered" | "delivery_ack" => ("delivered", DELIVERED),
        "read" | "played" => ("read", READ),
        "failed" | "error" | "canceled" => ("failed", TERMINAL),
        "undelivered" => ("undelivered", TERMINAL),
        _ => return None,
    })
}

/// The canonical name of a stored status (already canonical, or anything else as is).
pub fn canonical_name(stored: &str) -> &'static str {
    match parse(stored) {
        Some((name, _)) => name,
        None => "queued",
    }
}

/// A status update from a provider's words.
pub fn update(
    raw: &str,
    error_code: Option<String>,
    error_message: Option<String>,
) -> Option<StatusUpdate> {
    let (status, rank) = parse(raw)?;
    let terminal = rank == TERMINAL;
    Some(StatusUpdate {
        status,
        rank,
        // Error details belong to failures; a `read` carries none worth keeping.
        error_code: error_code.filter(|c| terminal && !c.is_empty() && c != "0"),
        error_message: error_message.filter(|m| terminal && !m.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_ordered() {
        let rank = |s| parse(s).unwrap().1;
        assert!(rank("queued") < rank("sent"));
        assert!(rank("sent") < rank("delivered"));
        assert!(rank("delivered") < rank("read"));
        assert!(rank("read") < rank("failed"));
        assert_eq!(rank("failed"), rank("undelivered"));
        assert_eq!(parse("deleted"), None);
        assert_eq!(parse("SENT"), Some(("sent", SENT)));
    }

    #[test]
    fn errors_stay_only_on_failures() {
        let u = update(
            "failed",
            Some("63016".into()),
            Some("outside window".into()),
        )
        .unwrap();
        assert_eq!(u.error_code.as_deref(), Some("63016"));
        let u = update("read", Some("0".into()), Some("x".into())).unwrap();
        assert_eq!((u.error_code, u.error_message), (None, None));
    }
}
