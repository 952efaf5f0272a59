//! What the post-call jobs write on the call row (V10): the transcript, the summary and the
//! caller's details. Each write is idempotent so a job that runs twice (its worker died
//! after writing) changes nothing the second time.

use sqlx::FromRow;

use super::{Db, now_ms};
use crate::domain::CallDirection;

/// The call fields the post-call jobs read.
#[derive(Clone, Debug, FromRow)]
pub struct PostCall {
    pub call_sid: String,
    pub business_id: Option<i64>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub direction: CallDirection,
    pub transcription: Option<String>,
    pub call_summary: Option<String>,
    pub customer_id: Option<i64>,
    pub caller_name: Option<String>,
}

pub async fn get(db: &Db, call_sid: &str) -> Result<Option<PostCall>, sqlx::Error> {
    sqlx::query_as(
        "SELECT call_sid, business_id, from_number, to_number, direction, transcription, \
         call_summary, customer_id, caller_name FROM call_logs WHERE call_sid = $1",
    )
    .bind(call_sid)
    .fetch_optional(&db.pool)
    .await
}

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

/// Drops the call's summary so that it is made again; true when there was one.
pub async fn clear_summary(db: &Db, call_sid: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_logs SET call_summary = NULL, updated_at = $2 \
         WHERE call_sid = $1 AND call_summary IS NOT NULL",
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

/// Writes the summary and details; a detail already known is kept when none was found.
pub async fn set_extraction(
    db: &Db,
    call_sid: &str,
    x: &Extraction,
    customer_id: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_logs SET call_summary = $2, caller_name = COALESCE($3, caller_name), \
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

/// One turn of a streamed call as the summary reads it.
#[derive(Clone, Debug, FromRow)]
pub struct TurnText {
    pub caller_text: Option<String>,
    pub agent_text: Option<String>,
    pub caller_audio_path: Option<String>,
}

/// The turns of a call, in order.
pub async fn turns(db: &Db, call_sid: &str) -> Result<Vec<TurnText>, sqlx::Error> {
    sqlx::query_as(
        "SELECT caller_text, agent_text, caller_audio_path FROM call_turns \
         WHERE call_sid = $1 ORDER BY turn_index",
    )
    .bind(call_sid)
    .fetch_all(&db.pool)
    .await
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
