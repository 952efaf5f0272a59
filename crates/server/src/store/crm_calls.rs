//! The call log as the CRM reads it: filtered pages, one call with its turns, a customer's
//! calls, and (when that table exists) a customer's WhatsApp messages. Always per business.

use sqlx::FromRow;

use super::Db;
use crate::domain::{CallDirection, CallStatus};

/// A call as the CRM shows it, with what the caller told us.
#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct CallView {
    pub id: i64,
    pub call_sid: String,
    pub business_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub direction: CallDirection,
    pub status: CallStatus,
    pub duration_secs: Option<i64>,
    pub recording_duration: Option<i64>,
    pub transcription: Option<String>,
    pub call_summary: Option<String>,
    pub caller_name: Option<String>,
    pub caller_reason: Option<String>,
    pub callback_time: Option<String>,
    pub urgency: Option<String>,
    pub stream_started_at: Option<i64>,
    pub stream_ended_at: Option<i64>,
    pub stream_end_reason: Option<String>,
    pub fallback_reason: Option<String>,
    /// 1 when Twilio reported a recording for the call (its URL is never shown).
    pub has_recording: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, call_sid, business_id, customer_id, from_number, to_number, \
     direction, status, duration_secs, recording_duration, transcription, call_summary, \
     caller_name, caller_reason, callback_time, urgency, stream_started_at, stream_ended_at, \
     stream_end_reason, fallback_reason, \
     CASE WHEN recording_url IS NULL THEN 0 ELSE 1 END AS has_recording, created_at, updated_at";

/// Filters for the call list; times are epoch milliseconds, `to` exclusive.
#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub direction: Option<CallDirection>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub customer_id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

pub async fn list(
    db: &Db,
    business_id: i64,
    f: &CallFilter,
) -> Result<(Vec<CallView>, i64), sqlx::Error> {
    let mut filter = String::from("business_id = $1");
    let mut texts: Vec<&str> = Vec::new();
    let mut nums: Vec<i64> = Vec::new();
    if let Some(s) = &f.status {
        texts.push(s.as_str());
        filter.push_str(&format!(" AND status = ${}", texts.len() + 1));
    }
    if let Some(d) = &f.direction {
        texts.push(d.as_str());
        filter.push_str(&format!(" AND direction = ${}", texts.len() + 1));
    }
    let mut push_num = |cond: &str, v: Option<i64>, filter: &mut String| {
        if let Some(v) = v {
            nums.push(v);
            filter.push_str(&format!(" AND {cond} ${}", texts.len() + nums.len() + 1));
        }
    };
    push_num("created_at >=", f.from_ms, &mut filter);
    push_num("created_at <", f.to_ms, &mut filter);
    push_num("customer_id =", f.customer_id, &mut filter);
    let n = texts.len() + nums.len() + 2;
    let sql = format!(
        "SELECT {COLUMNS} FROM call_logs WHERE {filter} \
         ORDER BY created_at DESC, id DESC LIMIT ${n} OFFSET ${}",
        n + 1
    );
    let mut q = sqlx::query_as::<_, CallView>(&sql).bind(business_id);
    for t in &texts {
        q = q.bind(*t);
    }
    for v in &nums {
        q = q.bind(*v);
    }
    let rows = q.bind(f.limit).bind(f.offset).fetch_all(&db.pool).await?;
    let sql = format!("SELECT COUNT(*) FROM call_logs WHERE {filter}");
    let mut q = sqlx::query_as::<_, (i64,)>(&sql).bind(business_id);
    for t in &texts {
        q = q.bind(*t);
    }
    for v in &nums {
        q = q.bind(*v);
    }
    let (total,) = q.fetch_one(&db.pool).await?;
    Ok((rows, total))
}

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<CallView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// One turn of the live conversation, with its timings.
#[derive(Clone, Debug, FromRow, serde::Serialize)]
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
    /// 1 when the caller's answer is kept as audio (no speech-to-text heard it), served at
    /// `/api/calls/{id}/turns/{turn_index}/audio`.
    pub has_audio: i64,
}

/// The turns of a call of this business, in order.
pub async fn turns(db: &Db, business_id: i64, call_id: i64) -> Result<Vec<Turn>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.turn_index, t.caller_text, t.agent_text, t.heard_text, t.barged_in, t.stt_ms, \
         t.llm_first_token_ms, t.tts_first_audio_ms, t.first_frame_out_ms, t.created_at, \
         CASE WHEN t.caller_audio_path IS NULL THEN 0 ELSE 1 END AS has_audio \
         FROM call_turns t JOIN call_logs c ON c.call_sid = t.call_sid \
         WHERE c.business_id = $1 AND c.id = $2 ORDER BY t.turn_index",
    )
    .bind(business_id)
    .bind(call_id)
    .fetch_all(&db.pool)
    .await
}

/// Where a turn's caller audio is kept, for a call of this business.
pub async fn turn_audio_path(
    db: &Db,
    business_id: i64,
    call_id: i64,
    turn_index: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT t.caller_audio_path FROM call_turns t JOIN call_logs c ON c.call_sid = t.call_sid \
         WHERE c.business_id = $1 AND c.id = $2 AND t.turn_index = $3",
    )
    .bind(business_id)
    .bind(call_id)
    .bind(turn_index)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.and_then(|(p,)| p))
}

/// A customer's calls: linked by id, or from or to their phone; newest first.
pub async fn for_customer(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    phone: &str,
    limit: i64,
) -> Result<Vec<CallView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 \
         AND (customer_id = $2 OR from_number = $3 OR to_number = $3) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(business_id)
    .bind(customer_id)
    .bind(phone)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}
