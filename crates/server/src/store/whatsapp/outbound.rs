//! Sends (W3): recorded `queued` with their send job, then claimed for one attempt at a
//! time and settled with the provider's answer.

use super::{COLUMNS, Message, get};
use crate::store::{Db, now_ms};
use const_format::formatcp;

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
    let sql = formatcp!("{INSERT_OUTBOUND} RETURNING id");
    let row: Option<(i64,)> = bind_outbound(sqlx::query_as(sql), business_id, m)
        .fetch_optional(&db.pool)
        .await?;
    match row {
        Some((id,)) => Ok((id, true)),
        None => Ok((by_idempotency_key(db, business_id, m).await?, false)),
    }
}

/// Binds [`INSERT_OUTBOUND`]'s parameters.
fn bind_outbound<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    business_id: i64,
    m: &'q NewOutbound,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    q.bind(business_id)
        .bind(m.customer_id)
        .bind(m.provider)
        .bind(&m.from_number)
        .bind(&m.to_number)
        .bind(&m.body)
        .bind(&m.template)
        .bind(super::delivery::QUEUED)
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
    let sql = formatcp!("{INSERT_OUTBOUND} RETURNING {COLUMNS}");
    let inserted: Option<Message> = bind_outbound(sqlx::query_as(sql), business_id, m)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(msg) = &inserted {
        let payload = serde_json::json!({ "message_id": msg.id });
        let key = SendJob::key(msg.id);
        crate::store::jobs::insert_on(
            &mut *tx,
            &crate::store::jobs::NewJob {
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

/// A message by id alone, for the delivery worker (which is handed only the id).
pub async fn for_delivery(db: &Db, id: i64) -> Result<Option<Message>, sqlx::Error> {
    sqlx::query_as(formatcp!(
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
    .bind(super::delivery::SENDING)
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
    .bind(super::delivery::QUEUED)
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
    .bind(super::delivery::TERMINAL)
    .bind(code)
    .bind(message)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}
