//! Calls as the app shows them: lists, one call with its turns, the live view, the chart.

use crate::domain::{CallDirection, CallStatus};
use crate::store::{Db, now_ms};

/// A call with what the intake agent learned.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Call {
    pub id: i64,
    pub call_sid: String,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub duration_secs: Option<i64>,
    pub recording_url: Option<String>,
    pub transcription: Option<String>,
    pub call_summary: Option<String>,
    pub stream_started_at: Option<i64>,
    pub stream_end_reason: Option<String>,
    pub fallback_reason: Option<String>,
    pub caller_name: Option<String>,
    pub caller_reason: Option<String>,
    pub callback_time: Option<String>,
    pub urgency: Option<String>,
    pub customer_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, call_sid, from_number, to_number, direction, status, duration_secs, \
     recording_url, transcription, call_summary, stream_started_at, stream_end_reason, \
     fallback_reason, caller_name, caller_reason, callback_time, urgency, customer_id, \
     created_at, updated_at";

/// Statuses of a call still in progress.
pub const LIVE: &str = "('queued', 'initiated', 'ringing', 'in-progress', 'answered')";

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<Call>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// A page of calls, newest first; `fallback_only` keeps the ones that fell back to recording.
pub async fn page(
    db: &Db,
    business_id: i64,
    fallback_only: bool,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Call>, i64), sqlx::Error> {
    let filter = if fallback_only {
        " AND fallback_reason IS NOT NULL"
    } else {
        ""
    };
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1{filter} \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(business_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM call_logs WHERE business_id = $1{filter}"
    ))
    .bind(business_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((rows, n))
}

/// Calls since an instant, newest first.
pub async fn since(
    db: &Db,
    business_id: i64,
    from_ms: i64,
    limit: i64,
) -> Result<Vec<Call>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 AND created_at >= $2 \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(business_id)
    .bind(from_ms)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// The newest calls that fell back to recording.
pub async fn fallbacks(db: &Db, business_id: i64, limit: i64) -> Result<Vec<Call>, sqlx::Error> {
    Ok(page(db, business_id, true, limit, 0).await?.0)
}

/// Calls ringing or in progress now (rows older than two hours are stale, not live).
pub async fn live(db: &Db, business_id: i64) -> Result<Vec<Call>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 AND status IN {LIVE} \
         AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT 50"
    ))
    .bind(business_id)
    .bind(now_ms() - 2 * 3_600_000)
    .fetch_all(&db.pool)
    .await
}

/// The start times of the calls since an instant (bucketed by local day by the caller).
pub async fn times_since(db: &Db, business_id: i64, from_ms: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT created_at FROM call_logs WHERE business_id = $1 AND created_at >= $2 LIMIT 100000",
    )
    .bind(business_id)
    .bind(from_ms)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// The calls of a lead: linked to it, or from or to its number.
pub async fn of_customer(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    phone: &str,
) -> Result<Vec<Call>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 \
         AND (customer_id = $2 OR from_number = $3 OR to_number = $3) \
         ORDER BY created_at DESC, id DESC LIMIT 200"
    ))
    .bind(business_id)
    .bind(customer_id)
    .bind(phone)
    .fetch_all(&db.pool)
    .await
}

/// One turn of the live conversation with its timings.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Turn {
    pub turn_index: i64,
    pub caller_text: Option<String>,
    pub agent_text: Option<String>,
    pub heard_text: Option<String>,
    pub barged_in: i64,
    pub stt_ms: Option<i64>,
    pub llm_first_token_ms: Option<i64>,
    pub tts_first_audio_ms: Option<i64>,
    pub first_frame_out_ms: Option<i64>,
    pub created_at: i64,
    pub has_audio: i64,
}

/// The turns of a call; the call must already be known to belong to the business.
pub async fn turns(db: &Db, call: &Call) -> Result<Vec<Turn>, sqlx::Error> {
    sqlx::query_as(
        "SELECT turn_index, caller_text, agent_text, heard_text, barged_in, stt_ms, \
         llm_first_token_ms, tts_first_audio_ms, first_frame_out_ms, created_at, \
         CASE WHEN caller_audio_path IS NULL THEN 0 ELSE 1 END AS has_audio \
         FROM call_turns WHERE call_sid = $1 ORDER BY turn_index",
    )
    .bind(&call.call_sid)
    .fetch_all(&db.pool)
    .await
}
