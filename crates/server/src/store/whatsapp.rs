//! WhatsApp messages (W2–W4): stored once, statuses moved only forward.
//!
//! Providers deliver webhooks more than once, concurrently and out of order, so the
//! database does the deduplication: an inbound message is one row per
//! `(provider, provider_message_id)` (a UNIQUE constraint, `ON CONFLICT DO NOTHING`), a
//! send is one row per idempotency key, and a status update only replaces one of lower
//! `status_rank`. Whoever inserted the row is told so, and only that delivery acts on it.

use sqlx::FromRow;

use super::{Db, now_ms};
use crate::domain::Phone;

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

const COLUMNS: &str = "id, business_id, customer_id, provider, provider_message_id, direction, \
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

/// Links a message to the business that owns `number` (one of its numbers, or its
/// WhatsApp number) and to that business's customer with phone `from`: created if new,
/// named if unnamed, `last_inbound_at` moved forward to `at`. One statement, safe under
/// concurrent deliveries; `None` when no business owns the number.
pub async fn link_customer(
    db: &Db,
    number: &Phone,
    from: &Phone,
    name: Option<&str>,
    at: i64,
) -> Result<Option<Linked>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO customers (business_id, name, phone, source, last_inbound_at, created_at, \
         updated_at) \
         SELECT id, $3, $2, 'whatsapp', $4, $4, $4 FROM businesses \
         WHERE id = (SELECT business_id FROM business_numbers WHERE number = $1) \
         OR whatsapp_number = $1 ORDER BY id LIMIT 1 \
         ON CONFLICT (business_id, phone) DO UPDATE SET \
         name = COALESCE(customers.name, excluded.name), \
         last_inbound_at = CASE WHEN customers.last_inbound_at IS NULL \
           OR customers.last_inbound_at < excluded.last_inbound_at \
           THEN excluded.last_inbound_at ELSE customers.last_inbound_at END, \
         updated_at = excluded.updated_at \
         RETURNING id AS customer_id, business_id, \
         (SELECT auto_reply FROM businesses b WHERE b.id = customers.business_id) AS auto_reply, \
         (SELECT name FROM businesses b WHERE b.id = customers.business_id) AS business_name",
    )
    .bind(number.as_str())
    .bind(from.as_str())
    .bind(name.map(str::trim).filter(|n| !n.is_empty()))
    .bind(at)
    .fetch_optional(&db.pool)
    .await
}

/// An inbound message as a webhook carried it.
#[derive(Clone, Debug, Default)]
pub struct NewInbound {
    pub business_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub provider: &'static str,
    pub provider_message_id: String,
    pub from_number: String,
    pub to_number: Option<String>,
    pub body: Option<String>,
    pub media: Option<String>,
    pub profile_name: Option<String>,
    pub reply_to: Option<String>,
}

/// What recording an inbound message did.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// `Some` only for the one delivery that inserted the message.
    pub message_id: Option<i64>,
    /// The business and customer, when a business owns the number written to.
    pub linked: Option<Linked>,
    /// The auto-reply job enqueued with the message, if any.
    pub reply_job: Option<i64>,
}

/// The auto-reply to enqueue with an inbound message, if its business has auto-reply on.
#[derive(Clone, Debug)]
pub struct ReplyJob {
    /// The job's kind.
    pub kind: &'static str,
    /// Our public base URL, for the reply's status callbacks.
    pub base: Option<String>,
    pub max_attempts: i64,
}

impl ReplyJob {
    /// The job's payload for inbound message `inbound_id`.
    pub fn payload(&self, inbound_id: i64) -> serde_json::Value {
        serde_json::json!({ "inbound_id": inbound_id, "base": self.base })
    }

    /// One reply job per inbound message.
    pub fn key(inbound_id: i64) -> String {
        format!("wa_reply:{inbound_id}")
    }
}

/// Links (see [`link_customer`]) and stores an inbound message unless already stored.
/// On PostgreSQL both writes are one statement: one round trip and one commit per webhook.
pub async fn record_inbound(
    db: &Db,
    to: Option<&Phone>,
    from: &Phone,
    m: &NewInbound,
) -> Result<Receipt, sqlx::Error> {
    record_inbound_with(db, to, from, m, None).await
}

/// [`record_inbound`], and with the message (in the same statement on PostgreSQL, the same
/// transaction on SQLite) the auto-reply job, when `reply` is given, the message is new and
/// its business has auto-reply on. A crash can never keep the message and lose its reply.
pub async fn record_inbound_with(
    db: &Db,
    to: Option<&Phone>,
    from: &Phone,
    m: &NewInbound,
    reply: Option<&ReplyJob>,
) -> Result<Receipt, sqlx::Error> {
    let at = now_ms();
    if let Some(to) = to
        && db.backend.has_writable_ctes()
    {
        return record_inbound_in_one(db, to, from, m, reply, at).await;
    }
    let linked = match to {
        Some(to) => link_customer(db, to, from, m.profile_name.as_deref(), at).await?,
        None => None,
    };
    let mut m = m.clone();
    m.business_id = linked.as_ref().map(|l| l.business_id);
    m.customer_id = linked.as_ref().map(|l| l.customer_id);
    let reply = reply.filter(|_| linked.as_ref().is_some_and(|l| l.auto_reply != 0));
    let Some(reply) = reply else {
        // No reply to enqueue: one short write, as SQLite likes them (a transaction would
        // hold the write lock across statements and make other writers wait).
        let message_id = insert_inbound(db, &m).await?;
        return Ok(Receipt {
            message_id,
            linked,
            reply_job: None,
        });
    };
    let mut tx = db.pool.begin().await?;
    let message_id = insert_inbound_on(&mut *tx, &m).await?;
    let mut reply_job = None;
    if let Some(id) = message_id {
        let payload = reply.payload(id);
        let key = ReplyJob::key(id);
        reply_job = super::jobs::insert_on(
            &mut *tx,
            &super::jobs::NewJob {
                kind: reply.kind,
                payload: &payload,
                idempotency_key: Some(&key),
                run_after: at,
                max_attempts: reply.max_attempts,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Receipt {
        message_id,
        linked,
        reply_job,
    })
}

/// [`link_customer`], [`insert_inbound`] and the reply job as one statement with writable
/// CTEs.
async fn record_inbound_in_one(
    db: &Db,
    to: &Phone,
    from: &Phone,
    m: &NewInbound,
    reply: Option<&ReplyJob>,
    at: i64,
) -> Result<Receipt, sqlx::Error> {
    type Row = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let (message_id, customer_id, business_id, auto_reply, business_name, reply_job): Row =
        sqlx::query_as(
            "WITH c AS ( \
           INSERT INTO customers (business_id, name, phone, source, last_inbound_at, \
             created_at, updated_at) \
           SELECT id, $3, $2, 'whatsapp', $4, $4, $4 FROM businesses \
           WHERE id = (SELECT business_id FROM business_numbers WHERE number = $1) \
           OR whatsapp_number = $1 ORDER BY id LIMIT 1 \
           ON CONFLICT (business_id, phone) DO UPDATE SET \
           name = COALESCE(customers.name, excluded.name), \
           last_inbound_at = CASE WHEN customers.last_inbound_at IS NULL \
             OR customers.last_inbound_at < excluded.last_inbound_at \
             THEN excluded.last_inbound_at ELSE customers.last_inbound_at END, \
           updated_at = excluded.updated_at \
           RETURNING id, business_id), \
         m AS ( \
           INSERT INTO whatsapp_messages (business_id, customer_id, provider, \
             provider_message_id, direction, from_number, to_number, body, media, status, \
             status_rank, profile_name, reply_to, created_at, updated_at) \
           SELECT c.business_id, c.id, $5, $6, 'in', $2, $7, $8, $9, 'received', 0, $3, \
             $10, $4, $4 FROM (SELECT 1 AS one) o LEFT JOIN c ON true \
           ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id), \
         j AS ( \
           INSERT INTO jobs (kind, payload, state, attempts, max_attempts, run_after, \
             idempotency_key, created_at, updated_at) \
           SELECT $11, json_build_object('inbound_id', m.id, 'base', $12::text)::text, \
             'queued', 0, $13, $4, 'wa_reply:' || m.id, $4, $4 \
           FROM m JOIN c ON true JOIN businesses b ON b.id = c.business_id \
           WHERE $11 IS NOT NULL AND b.auto_reply <> 0 \
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id) \
         SELECT (SELECT id FROM m), c.id, c.business_id, b.auto_reply, b.name, \
           (SELECT id FROM j) \
         FROM (SELECT 1 AS one) o LEFT JOIN c ON true \
         LEFT JOIN businesses b ON b.id = c.business_id",
        )
        .bind(to.as_str())
        .bind(from.as_str())
        .bind(
            m.profile_name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()),
        )
        .bind(at)
        .bind(m.provider)
        .bind(&m.provider_message_id)
        .bind(&m.to_number)
        .bind(&m.body)
        .bind(&m.media)
        .bind(&m.reply_to)
        .bind(reply.map(|r| r.kind))
        .bind(reply.and_then(|r| r.base.clone()))
        .bind(reply.map_or(1, |r| r.max_attempts))
        .fetch_one(&db.pool)
        .await?;
    let linked = match (customer_id, business_id) {
        (Some(customer_id), Some(business_id)) => Some(Linked {
            customer_id,
            business_id,
            auto_reply: auto_reply.unwrap_or(0),
            business_name: business_name.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(Receipt {
        message_id,
        linked,
        reply_job,
    })
}

/// Stores an inbound message unless it is already stored; `Some(id)` only for the one
/// delivery that inserted it.
pub async fn insert_inbound(db: &Db, m: &NewInbound) -> Result<Option<i64>, sqlx::Error> {
    insert_inbound_on(&db.pool, m).await
}

async fn insert_inbound_on<'c, E>(conn: E, m: &NewInbound) -> Result<Option<i64>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO whatsapp_messages (business_id, customer_id, provider, \
         provider_message_id, direction, from_number, to_number, body, media, status, \
         status_rank, profile_name, reply_to, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'in', $5, $6, $7, $8, 'received', 0, $9, $10, $11, $11) \
         ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id",
    )
    .bind(m.business_id)
    .bind(m.customer_id)
    .bind(m.provider)
    .bind(&m.provider_message_id)
    .bind(&m.from_number)
    .bind(&m.to_number)
    .bind(&m.body)
    .bind(&m.media)
    .bind(&m.profile_name)
    .bind(&m.reply_to)
    .bind(now_ms())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// A message to send, recorded `queued` before any provider sees it.
#[derive(Clone, Debug, Default)]
pub struct NewOutbound {
    pub customer_id: i64,
    pub provider: &'static str,
    pub from_number: Option<String>,
    pub to_number: String,
    pub body: Option<String>,
    pub template: Option<String>,
    pub status_callback: Option<String>,
    /// Unique across the table; callers prefix it with the business to scope it.
    pub idempotency_key: Option<String>,
    pub reply_to: Option<String>,
}

/// A send, recorded `queued`; nothing when its idempotency key is taken.
const INSERT_OUTBOUND: &str = "INSERT INTO whatsapp_messages (business_id, customer_id, \
     provider, direction, from_number, to_number, body, template, status, status_rank, \
     status_callback, idempotency_key, reply_to, created_at, updated_at) \
     VALUES ($1, $2, $3, 'out', $4, $5, $6, $7, 'queued', $8, $9, $10, $11, $12, $12) \
     ON CONFLICT (idempotency_key) DO NOTHING";

/// Records a send; for a key seen before, returns the earlier message and `false`.
pub async fn insert_outbound(
    db: &Db,
    business_id: i64,
    m: &NewOutbound,
) -> Result<(i64, bool), sqlx::Error> {
    let sql = format!("{INSERT_OUTBOUND} RETURNING id");
    let row: Option<(i64,)> = bind_outbound(sqlx::query_as(&sql), business_id, m)
        .fetch_optional(&db.pool)
        .await?;
    match row {
        Some((id,)) => Ok((id, true)),
        None => Ok((by_idempotency_key(db, business_id, m).await?, false)),
    }
}

/// Binds [`INSERT_OUTBOUND`]'s parameters.
fn bind_outbound<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    business_id: i64,
    m: &'q NewOutbound,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    q.bind(business_id)
        .bind(m.customer_id)
        .bind(m.provider)
        .bind(&m.from_number)
        .bind(&m.to_number)
        .bind(&m.body)
        .bind(&m.template)
        .bind(crate::whatsapp::status::QUEUED)
        .bind(&m.status_callback)
        .bind(&m.idempotency_key)
        .bind(&m.reply_to)
        .bind(now_ms())
}

/// The message an earlier send with the same key recorded.
async fn by_idempotency_key(
    db: &Db,
    business_id: i64,
    m: &NewOutbound,
) -> Result<i64, sqlx::Error> {
    let key = m.idempotency_key.as_deref().unwrap_or_default();
    id_by_key(db, business_id, key)
        .await?
        .ok_or(sqlx::Error::RowNotFound)
}

/// The id of the business's send recorded with idempotency key `key`, if any.
pub async fn id_by_key(db: &Db, business_id: i64, key: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM whatsapp_messages WHERE business_id = $1 AND idempotency_key = $2",
    )
    .bind(business_id)
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// The send job to enqueue with a new outbound message.
#[derive(Clone, Debug)]
pub struct SendJob {
    pub kind: &'static str,
    pub max_attempts: i64,
}

impl SendJob {
    /// One send job per message.
    pub fn key(message_id: i64) -> String {
        format!("wa_send:{message_id}")
    }
}

/// Records a send (like [`insert_outbound`]) and, in the same transaction, the job that
/// hands it to the provider: once the API has answered, the send survives any crash.
/// Returns the message as recorded (`queued`) and `true`; for a key seen before, the
/// earlier message as it is now and `false`, and enqueues nothing.
pub async fn queue_outbound(
    db: &Db,
    business_id: i64,
    m: &NewOutbound,
    job: &SendJob,
) -> Result<(Message, bool), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let sql = format!("{INSERT_OUTBOUND} RETURNING {COLUMNS}");
    let inserted: Option<Message> = bind_outbound(sqlx::query_as(&sql), business_id, m)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(msg) = &inserted {
        let payload = serde_json::json!({ "message_id": msg.id });
        let key = SendJob::key(msg.id);
        super::jobs::insert_on(
            &mut *tx,
            &super::jobs::NewJob {
                kind: job.kind,
                payload: &payload,
                idempotency_key: Some(&key),
                run_after: msg.created_at,
                max_attempts: job.max_attempts,
            },
        )
        .await?;
    }
    tx.commit().await?;
    if let Some(msg) = inserted {
        return Ok((msg, true));
    }
    let id = by_idempotency_key(db, business_id, m).await?;
    let msg = get(db, business_id, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((msg, false))
}

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM whatsapp_messages WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// A message by id alone, for the delivery worker (which is handed only the id).
pub async fn for_delivery(db: &Db, id: i64) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM whatsapp_messages WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Takes a queued send for one attempt; `false` when someone else holds or finished it,
/// so a message is never handed to the provider twice at once.
pub async fn claim(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE whatsapp_messages SET status = 'sending', status_rank = $2, \
         attempts = attempts + 1, updated_at = $3 \
         WHERE id = $1 AND status = 'queued' AND provider_message_id IS NULL",
    )
    .bind(id)
    .bind(crate::whatsapp::status::SENDING)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The provider accepted the send: keep its id and the status it reported. The row is
/// ours (claimed, `sending`), and no status can reach it before its id is stored.
pub async fn accepted(
    db: &Db,
    id: i64,
    provider_message_id: &str,
    status: &str,
    rank: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE whatsapp_messages SET provider_message_id = $2, status = $3, status_rank = $4, \
         error_code = NULL, error_message = NULL, updated_at = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(provider_message_id)
    .bind(status)
    .bind(rank)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A momentary failure: back to `queued` for the next attempt, keeping the reason.
pub async fn requeue(
    db: &Db,
    id: i64,
    code: Option<&str>,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE whatsapp_messages SET status = 'queued', status_rank = $2, error_code = $3, \
         error_message = $4, updated_at = $5 WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(crate::whatsapp::status::QUEUED)
    .bind(code)
    .bind(message)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A permanent failure: terminal, with the provider's code and message.
pub async fn failed(
    db: &Db,
    id: i64,
    code: Option<&str>,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE whatsapp_messages SET status = 'failed', status_rank = $2, error_code = $3, \
         error_message = $4, updated_at = $5 WHERE id = $1 AND status_rank < $2",
    )
    .bind(id)
    .bind(crate::whatsapp::status::TERMINAL)
    .bind(code)
    .bind(message)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A delivery status from a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusUpdate {
    pub status: &'static str,
    pub rank: i64,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

/// What became of a status update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusOutcome {
    /// The message moved forward.
    Applied,
    /// The message is already at this rank or beyond (a late or repeated status).
    Stale,
    /// No message has this provider id yet.
    Unknown,
}

/// Moves a message forward to `update` (never back; terminal states keep their code).
pub async fn apply_status(
    db: &Db,
    provider: &str,
    provider_message_id: &str,
    update: &StatusUpdate,
) -> Result<StatusOutcome, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE whatsapp_messages SET status = $3, status_rank = $4, \
         error_code = COALESCE($5, error_code), error_message = COALESCE($6, error_message), \
         updated_at = $7 \
         WHERE provider = $1 AND provider_message_id = $2 AND status_rank < $4",
    )
    .bind(provider)
    .bind(provider_message_id)
    .bind(update.status)
    .bind(update.rank)
    .bind(&update.error_code)
    .bind(&update.error_message)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(StatusOutcome::Applied);
    }
    let exists: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM whatsapp_messages WHERE provider = $1 AND provider_message_id = $2",
    )
    .bind(provider)
    .bind(provider_message_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(if exists.is_some() {
        StatusOutcome::Stale
    } else {
        StatusOutcome::Unknown
    })
}

/// How long a status for an unknown provider id is kept (a send's answer comes in seconds;
/// older ones belong to messages sent by something else on the same account).
pub const EARLY_STATUS_TTL_MS: i64 = 60 * 60 * 1000;

/// Keeps a status for a provider id we have not stored yet, and forgets stale ones.
pub async fn save_early_status(
    db: &Db,
    provider: &str,
    provider_message_id: &str,
    update: &StatusUpdate,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO whatsapp_early_statuses (provider, provider_message_id, status, \
         status_rank, error_code, error_message, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(provider)
    .bind(provider_message_id)
    .bind(update.status)
    .bind(update.rank)
    .bind(&update.error_code)
    .bind(&update.error_message)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    sqlx::query("DELETE FROM whatsapp_early_statuses WHERE created_at < $1")
        .bind(now_ms() - EARLY_STATUS_TTL_MS)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Applies every early status of a provider id, if its message is now stored, and forgets
/// them; returns how many were applied.
pub async fn apply_early_statuses(
    db: &Db,
    provider: &str,
    provider_message_id: &str,
) -> Result<usize, sqlx::Error> {
    type EarlyRow = (i64, String, i64, Option<String>, Option<String>);
    let rows: Vec<EarlyRow> = sqlx::query_as(
        "SELECT id, status, status_rank, error_code, error_message FROM whatsapp_early_statuses \
         WHERE provider = $1 AND provider_message_id = $2 ORDER BY status_rank, id",
    )
    .bind(provider)
    .bind(provider_message_id)
    .fetch_all(&db.pool)
    .await?;
    for (id, status, rank, error_code, error_message) in &rows {
        let update = StatusUpdate {
            status: crate::whatsapp::status::canonical_name(status),
            rank: *rank,
            error_code: error_code.clone(),
            error_message: error_message.clone(),
        };
        if apply_status(db, provider, provider_message_id, &update).await? == StatusOutcome::Unknown
        {
            // Still no message with this id: keep the status for when there is.
            return Ok(0);
        }
        sqlx::query("DELETE FROM whatsapp_early_statuses WHERE id = $1")
            .bind(id)
            .execute(&db.pool)
            .await?;
    }
    Ok(rows.len())
}

/// The latest `limit` messages of a conversation before message `before_id`, oldest first.
pub async fn history(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    before_id: i64,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut rows: Vec<Message> = sqlx::query_as(&format!(
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
    sqlx::query_as(&format!(
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
