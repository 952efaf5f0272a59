//! WhatsApp messages (W2–W4): stored once, statuses moved only forward.
//!
//! Providers deliver webhooks more than once, concurrently and out of order, so the
//! database does the deduplication: an inbound message is one row per
//! `(provider, provider_message_id)` (a UNIQUE constraint, `ON CONFLICT DO NOTHING`), a
//! send is one row per idempotency key, and a status update only replaces one of lower
//! `status_rank`. Whoever inserted the row is told so, and only that delivery acts on it.

//!
//! Split by what a message goes through: [`inbound`] (linked and stored once, with its
//! auto-reply job), [`outbound`] (recorded `queued` with its send job, then claimed and
//! settled by the worker) and [`status`] (forward-only delivery statuses, ranked by
//! [`delivery`]).

pub mod delivery;
mod inbound;
mod outbound;
mod status;

pub use inbound::*;
pub use outbound::*;
pub use status::*;

use const_format::formatcp;
use sqlx::FromRow;

use super::{Db, now_ms};

/// A message as stored.
#[derive(Clone, Debug, FromRow)]
pub struct Message {
    pub id: i64,
    pub business_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub provider: String,
    pub provider_message_id: Option<String>,
    pub direction: String,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub body: Option<String>,
    /// JSON array of `{url|id, content_type}`.
    pub media: Option<String>,
    /// JSON `{content_sid, variables, language}` of a template send.
    pub template: Option<String>,
    pub status: String,
    pub status_rank: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: i64,
    pub status_callback: Option<String>,
    pub idempotency_key: Option<String>,
    pub profile_name: Option<String>,
    pub reply_to: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const COLUMNS: &str = "id, business_id, customer_id, provider, provider_message_id, direction, \
     from_number, to_number, body, media, template, status, status_rank, error_code, \
     error_message, attempts, status_callback, idempotency_key, profile_name, reply_to, \
     created_at, updated_at";

/// A customer's message linked to its business.
#[derive(Clone, Debug, FromRow)]
pub struct Linked {
    pub customer_id: i64,
    pub business_id: i64,
    pub auto_reply: i64,
    pub business_name: String,
}

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM whatsapp_messages WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// The latest `limit` messages of a conversation before message `before_id`, oldest first.
pub async fn history(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    before_id: i64,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut rows: Vec<Message> = sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM whatsapp_messages WHERE business_id = $1 AND customer_id = $2 \
         AND id < $3 ORDER BY id DESC LIMIT $4"
    ))
    .bind(business_id)
    .bind(customer_id)
    .bind(before_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.reverse();
    Ok(rows)
}

/// A conversation's latest `limit` messages, oldest first.
pub async fn thread(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    history(db, business_id, customer_id, i64::MAX, limit).await
}

/// One conversation in the inbox: the customer and the latest message.
#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct ThreadSummary {
    pub customer_id: i64,
    pub name: Option<String>,
    pub phone: String,
    pub last_message_id: i64,
    pub last_direction: String,
    pub last_body: Option<String>,
    pub last_status: String,
    pub last_at: i64,
    pub messages: i64,
    pub last_inbound_at: Option<i64>,
}

/// The business's conversations, most recent first.
pub async fn threads(
    db: &Db,
    business_id: i64,
    limit: i64,
) -> Result<Vec<ThreadSummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id AS customer_id, c.name, c.phone, m.id AS last_message_id, \
         m.direction AS last_direction, m.body AS last_body, m.status AS last_status, \
         m.created_at AS last_at, t.n AS messages, c.last_inbound_at \
         FROM (SELECT customer_id, MAX(id) AS last_id, COUNT(*) AS n FROM whatsapp_messages \
               WHERE business_id = $1 AND customer_id IS NOT NULL GROUP BY customer_id) t \
         JOIN whatsapp_messages m ON m.id = t.last_id \
         JOIN customers c ON c.id = t.customer_id AND c.business_id = $1 \
         ORDER BY m.id DESC LIMIT $2",
    )
    .bind(business_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// One conversation in the web app's inbox: its last message and who it is with.
#[derive(Clone, Debug, FromRow)]
pub struct InboxThread {
    pub customer_id: i64,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub direction: String,
    pub body: Option<String>,
    pub status: String,
    pub created_at: i64,
}

/// Threads by latest message; `unanswered_only` keeps those whose last message is the
/// customer's.
pub async fn inbox(
    db: &Db,
    business_id: i64,
    unanswered_only: bool,
    limit: i64,
) -> Result<Vec<InboxThread>, sqlx::Error> {
    sqlx::query_as(either!(
        unanswered_only,
        "SELECT m.customer_id AS customer_id, c.name AS name, c.phone AS phone, \
         m.direction AS direction, m.body AS body, m.status AS status, m.created_at AS created_at \
         FROM whatsapp_messages m \
         JOIN (SELECT customer_id, MAX(id) AS last_id FROM whatsapp_messages \
               WHERE business_id = $1 AND customer_id IS NOT NULL GROUP BY customer_id) t \
           ON m.id = t.last_id \
         JOIN customers c ON c.id = m.customer_id AND c.business_id = $1 \
         WHERE m.business_id = $1{FILTER} ORDER BY m.id DESC LIMIT $2",
        FILTER = " AND m.direction = 'in'",
        "",
    ))
    .bind(business_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Counts a business's messages in one direction (tests and benchmarks read this).
pub async fn count(db: &Db, business_id: i64, direction: &str) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM whatsapp_messages WHERE business_id = $1 AND direction = $2",
    )
    .bind(business_id)
    .bind(direction)
    .fetch_one(&db.pool)
    .await?;
    Ok(n)
}

/// A stored message by its provider id (tests and the status path read this).
pub async fn by_provider_id(
    db: &Db,
    business_id: i64,
    provider: &str,
    provider_message_id: &str,
) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM whatsapp_messages WHERE business_id = $1 AND provider = $2 \
         AND provider_message_id = $3"
    ))
    .bind(business_id)
    .bind(provider)
    .bind(provider_message_id)
    .fetch_optional(&db.pool)
    .await
}

/// Names a customer the agent learned the name of, unless already named.
pub async fn name_customer(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    name: &str,
) -> Result<(), sqlx::Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Ok(());
    }
    sqlx::query(
        "UPDATE customers SET name = $3, updated_at = $4 \
         WHERE business_id = $1 AND id = $2 AND (name IS NULL OR name = '')",
    )
    .bind(business_id)
    .bind(customer_id)
    .bind(name)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// An attachment, kept as a reference and fetched lazily with the provider's auth.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaRef {
    /// Twilio and the bridge give a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Meta gives a media id, resolved to a URL through the Graph API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}
