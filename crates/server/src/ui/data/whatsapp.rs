//! WhatsApp threads and messages, read from `whatsapp_messages` when that table exists
//! (the queries are the store's, [`crate::store::whatsapp`]).

pub use crate::store::whatsapp::{InboxThread as Thread, Message};
use crate::store::{Db, whatsapp as stored};

/// WhatsApp's customer-service window: free text only within 24 hours of the customer's
/// last message; after that only an approved template may be sent.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Threads by latest message; `unanswered_only` keeps those whose last message is the
/// customer's.
pub async fn threads(
    db: &Db,
    business_id: i64,
    unanswered_only: bool,
    limit: i64,
) -> Result<Vec<Thread>, sqlx::Error> {
    stored::inbox(db, business_id, unanswered_only, limit).await
}

/// The messages with one customer, oldest first (the last `limit`).
pub async fn messages(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    stored::thread(db, business_id, customer_id, limit).await
}

/// The ticks of an outgoing message's delivery status, and their meaning in Hebrew.
pub fn ticks(status: &str) -> (&'static str, &'static str) {
    match status {
        "read" => ("✓✓", "נקראה"),
        "delivered" => ("✓✓", "נמסרה"),
        "sent" => ("✓", "נשלחה"),
        "failed" | "undelivered" => ("✗", "נכשלה"),
        _ => ("🕓", "ממתינה"),
    }
}
