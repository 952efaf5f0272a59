//! The call log (V3): one row per call, written at once and only ever moved forward.
//!
//! Twilio retries webhooks and delivers them out of order, so every write here is
//! idempotent: the insert ignores a repeat of the same `call_sid`, and a status only
//! replaces one of lower rank (a late `ringing` never overwrites `completed`).

use const_format::formatcp;
use sqlx::FromRow;

use super::{Db, now_ms};
use crate::domain::{CallDirection, CallStatus};

/// A call as stored: the one model of a `call_logs` row, read by the webhooks, the jobs, the
/// API and the web app alike. Serialised it is the API's `Call`: Twilio's recording URL and
/// the provider ids stay inside (a recording is served from the service's own copy).
#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct CallRow {
    pub id: i64,
    pub call_sid: String,
    pub business_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub duration_secs: Option<i64>,
    #[serde(skip_serializing)]
    pub recording_sid: Option<String>,
    #[serde(skip_serializing)]
    pub recording_url: Option<String>,
    pub recording_duration: Option<i64>,
    pub transcription: Option<String>,
    pub call_summary: Option<String>,
    pub caller_name: Option<String>,
    pub caller_reason: Option<String>,
    pub callback_time: Option<String>,
    pub urgency: Option<String>,
    #[serde(skip_serializing)]
    pub stream_sid: Option<String>,
    pub stream_started_at: Option<i64>,
    pub stream_ended_at: Option<i64>,
    pub stream_end_reason: Option<String>,
    pub fallback_reason: Option<String>,
    /// 1 when Twilio reported a recording for the call (its URL is never shown).
    pub has_recording: i64,
    /// What staff marked came of the call: `handled`, `callback` or `spam` (see
    /// [`crate::domain::Disposition`]).
    pub disposition: Option<String>,
    /// When staff last corrected the summary; the post-call job never overwrites it then.
    pub summary_edited_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The columns of a [`CallRow`], for every read of whole calls.
pub(crate) const COLUMNS: &str = "id, call_sid, business_id, customer_id, from_number, \
     to_number, direction, status, duration_secs, recording_sid, recording_url, \
     recording_duration, transcription, call_summary, caller_name, caller_reason, \
     callback_time, urgency, stream_sid, stream_started_at, stream_ended_at, \
     stream_end_reason, fallback_reason, \
     CASE WHEN recording_url IS NULL THEN 0 ELSE 1 END AS has_recording, disposition, \
     summary_edited_at, created_at, updated_at";

/// A new call, as the first webhook (or the outbound API) sees it.
pub struct NewCall<'a> {
    pub call_sid: &'a str,
    pub business_id: Option<i64>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub direction: CallDirection,
    pub status: CallStatus,
}

/// Inserts the call unless it exists; returns whether this call created the row.
pub async fn insert(db: &Db, call: &NewCall<'_>) -> Result<bool, sqlx::Error> {
    let mut conn = db.pool.acquire().await?;
    insert_on(&mut conn, call).await
}

async fn insert_on(
    conn: &mut sqlx::AnyConnection,
    call: &NewCall<'_>,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO call_logs (call_sid, business_id, from_number, to_number, direction, \
         status, status_rank, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (call_sid) DO NOTHING",
    )
    .bind(call.call_sid)
    .bind(call.business_id)
    .bind(call.from)
    .bind(call.to)
    .bind(&call.direction)
    .bind(&call.status)
    .bind(call.status.rank())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn by_sid(db: &Db, call_sid: &str) -> Result<Option<CallRow>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM call_logs WHERE call_sid = $1"
    ))
    .bind(call_sid)
    .fetch_optional(&db.pool)
    .await
}

/// A call of one business by id (C4: another tenant's id finds nothing).
pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<CallRow>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Moves the status forward only; returns whether it changed. Duration is kept when given.
pub async fn advance_status(
    db: &Db,
    call_sid: &str,
    status: &CallStatus,
    duration_secs: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_logs SET status = $2, status_rank = $3, \
         duration_secs = COALESCE($4, duration_secs), updated_at = $5 \
         WHERE call_sid = $1 AND status_rank < $3",
    )
    .bind(call_sid)
    .bind(status)
    .bind(status.rank())
    .bind(duration_secs)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 0 && duration_secs.is_some() {
        sqlx::query(
            "UPDATE call_logs SET duration_secs = $2, updated_at = $3 \
             WHERE call_sid = $1 AND duration_secs IS NULL",
        )
        .bind(call_sid)
        .bind(duration_secs)
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Stores a recording's identity on the call and moves it to `recorded`.
pub async fn set_recording(
    db: &Db,
    call_sid: &str,
    recording_sid: &str,
    recording_url: &str,
    duration_secs: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_logs SET recording_sid = $2, recording_url = $3, \
         recording_duration = COALESCE($4, recording_duration), updated_at = $5 \
         WHERE call_sid = $1",
    )
    .bind(call_sid)
    .bind(recording_sid)
    .bind(recording_url)
    .bind(duration_secs)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    advance_status(db, call_sid, &CallStatus::Recorded, None).await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the stream as started, keeping the first start time.
pub async fn stream_started(db: &Db, call_sid: &str, stream_sid: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_logs SET stream_sid = $2, stream_started_at = COALESCE(stream_started_at, $3), \
         updated_at = $3 WHERE call_sid = $1",
    )
    .bind(call_sid)
    .bind(stream_sid)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    advance_status(db, call_sid, &CallStatus::InProgress, None).await?;
    Ok(())
}

/// Marks the stream as ended and why; the first reason wins.
pub async fn stream_ended(db: &Db, call_sid: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_logs SET stream_ended_at = COALESCE(stream_ended_at, $2), \
         stream_end_reason = COALESCE(stream_end_reason, $3), updated_at = $2 \
         WHERE call_sid = $1",
    )
    .bind(call_sid)
    .bind(now_ms())
    .bind(reason)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records that the call was sent to the recording fallback; true only the first time.
pub async fn mark_fallback(db: &Db, call_sid: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE call_logs SET fallback_reason = $2, updated_at = $3 \
         WHERE call_sid = $1 AND fallback_reason IS NULL",
    )
    .bind(call_sid)
    .bind(reason)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 1 {
        advance_status(db, call_sid, &CallStatus::FallbackRecording, None).await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Completes the row of an outbound call the business placed: its business (the
/// `outbound_call` webhook may have written the row first, without knowing it) and why it
/// called. What is already set is kept.
pub async fn set_placed(
    db: &Db,
    call_sid: &str,
    business_id: i64,
    purpose: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_logs SET business_id = COALESCE(business_id, $2), \
         purpose = COALESCE(purpose, $3), updated_at = $4 WHERE call_sid = $1",
    )
    .bind(call_sid)
    .bind(business_id)
    .bind(purpose)
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// Gives a call whose business was unknown when it was stored (the database was down) its
/// business; a call that has one keeps it.
pub async fn set_business_if_unknown(
    db: &Db,
    call_sid: &str,
    business_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE call_logs SET business_id = $2 WHERE call_sid = $1 AND business_id IS NULL")
        .bind(call_sid)
        .bind(business_id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// Why the business placed the call, if it said.
pub async fn purpose(db: &Db, call_sid: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT purpose FROM call_logs WHERE call_sid = $1")
            .bind(call_sid)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.and_then(|(p,)| p))
}

/// The caller's details as the agent heard them; a detail not given keeps the one known.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Details {
    pub name: Option<String>,
    pub reason: Option<String>,
    pub callback_time: Option<String>,
    pub urgency: Option<String>,
}

pub async fn set_details(db: &Db, call_sid: &str, d: &Details) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_logs SET caller_name = COALESCE($2, caller_name), \
         caller_reason = COALESCE($3, caller_reason), \
         callback_time = COALESCE($4, callback_time), urgency = COALESCE($5, urgency), \
         updated_at = $6 WHERE call_sid = $1",
    )
    .bind(call_sid)
    .bind(d.name.as_deref())
    .bind(d.reason.as_deref())
    .bind(d.callback_time.as_deref())
    .bind(d.urgency.as_deref())
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// Stores that the caller wants a person to call back `when`, for `reason`; a time or a
/// reason already known is kept.
pub async fn request_callback(
    db: &Db,
    call_sid: &str,
    when: &str,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_logs SET callback_time = COALESCE(callback_time, $2), \
         caller_reason = COALESCE(caller_reason, $3), updated_at = $4 WHERE call_sid = $1",
    )
    .bind(call_sid)
    .bind(when)
    .bind(reason)
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// Calls not finished, with no stream end and no fallback, created between `since_ms` and
/// `before_ms`: the calls a node was serving when it stopped. (call_sid, stream_started_at).
pub async fn unwatched(
    db: &Db,
    since_ms: i64,
    before_ms: i64,
) -> Result<Vec<(String, Option<i64>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT call_sid, stream_started_at FROM call_logs WHERE created_at >= $1 \
         AND created_at < $3 AND status_rank <= $2 AND stream_end_reason IS NULL \
         AND fallback_reason IS NULL AND recording_sid IS NULL AND business_id IS NOT NULL \
         ORDER BY created_at LIMIT 1000",
    )
    .bind(since_ms)
    .bind(CallStatus::InProgress.rank())
    .bind(before_ms)
    .fetch_all(&db.pool)
    .await
}

/// A call that ended while nobody watched it: the fallback marked for it (`reason`) never
/// ran, its stream ended unseen, and its final status is Twilio's.
pub async fn settle_ended(
    db: &Db,
    call_sid: &str,
    reason: &str,
    status: &CallStatus,
    duration_secs: Option<i64>,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE call_logs SET fallback_reason = NULL, updated_at = $3 \
         WHERE call_sid = $1 AND fallback_reason = $2 AND recording_sid IS NULL",
    )
    .bind(call_sid)
    .bind(reason)
    .bind(now)
    .execute(&db.pool)
    .await?;
    stream_ended(db, call_sid, "ended_unwatched").await?;
    advance_status(db, call_sid, status, duration_secs).await?;
    Ok(())
}

/// The newest calls of a business, newest first.
pub async fn list(db: &Db, business_id: i64, limit: i64) -> Result<Vec<CallRow>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(business_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}
