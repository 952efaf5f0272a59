//! What the post-call jobs write on the call row (V10): the transcript, the summary and the
//! caller's details. Each write is idempotent so a job that runs twice (its worker died
//! after writing) changes nothing the second time. The jobs read the call as
//! [`super::calls::CallRow`] and its turns as [`super::turns::Turn`].

use super::{Db, now_ms};

/// Saves the transcript unless one is already there; returns whether this call wrote it.
pub async fn set_transcription(db: &Db, call_sid: &str, text: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_logs SET transcription = $2, updated_at = $3 \
         WHERE call_sid = $1 AND transcription IS NULL",
    )
    .bind(call_sid)
    .bind(text)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Drops the call's summary so that it is made again; true when there was one. A summary
/// staff corrected by hand is kept.
pub async fn clear_summary(db: &Db, call_sid: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_logs SET call_summary = NULL, updated_at = $2 \
         WHERE call_sid = $1 AND call_summary IS NOT NULL AND summary_edited_at IS NULL",
    )
    .bind(call_sid)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The summary and the caller's details as extracted from the transcript.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Extraction {
    pub summary: String,
    pub name: Option<String>,
    pub reason: Option<String>,
    pub urgency: Option<String>,
    pub callback_time: Option<String>,
}

/// Writes the summary and details; a detail already known is kept when none was found, and
/// a summary staff corrected by hand is never replaced.
pub async fn set_extraction(
    db: &Db,
    call_sid: &str,
    x: &Extraction,
    customer_id: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_logs SET call_summary = CASE WHEN summary_edited_at IS NULL THEN $2 \
         ELSE call_summary END, caller_name = COALESCE($3, caller_name), \
         caller_reason = COALESCE($4, caller_reason), urgency = COALESCE($5, urgency), \
         callback_time = COALESCE($6, callback_time), customer_id = COALESCE($7, customer_id), \
         updated_at = $8 WHERE call_sid = $1",
    )
    .bind(call_sid)
    .bind(&x.summary)
    .bind(x.name.as_deref())
    .bind(x.reason.as_deref())
    .bind(x.urgency.as_deref())
    .bind(x.callback_time.as_deref())
    .bind(customer_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A business's own recording retention in days, by the call that made the recording.
pub async fn retention_days_of_call(db: &Db, call_sid: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT b.recording_retention_days FROM call_logs c \
         JOIN businesses b ON b.id = c.business_id WHERE c.call_sid = $1",
    )
    .bind(call_sid)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(d,)| d))
}
