//! Delivery statuses (W4): forward only; a status that beats our own send's answer is kept
//! until the provider id is stored.

use crate::store::{Db, now_ms};

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
            status: super::delivery::canonical_name(status),
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
