//! The call log as the API and the web app read it: filtered pages, one call with its
//! turns, a customer's calls, the calls live now and the chart's start times. Always per
//! business; every read returns the one call model, [`CallRow`], and the one turn model,
//! [`Turn`].

use const_format::formatcp;
use sqlx::AssertSqlSafe;

use super::calls::{COLUMNS, CallRow};
pub use super::turns::Turn;
use super::{Db, now_ms};
use crate::domain::{CallDirection, CallStatus};

/// Filters for the call list; times are epoch milliseconds, `to` exclusive.
#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub direction: Option<CallDirection>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub customer_id: Option<i64>,
    /// Words in the caller's or the lead's name, the reason or the summary, or digits of the
    /// other party's number (`050…` finds `+97250…`).
    pub search: Option<String>,
    /// What staff marked: `handled`, `callback`, `spam`, or `none` for calls not yet marked.
    pub disposition: Option<String>,
    /// Only calls that fell back to recording.
    pub fallback_only: bool,
    pub limit: i64,
    pub offset: i64,
}

/// The `WHERE` conditions (after `business_id = $1`) and text binds for a search, numbered
/// from `$first`.
fn search_filter(text: &str, first: usize) -> (String, Vec<String>) {
    let words = super::leads::like_pattern(&text.trim().to_lowercase());
    let mut binds = vec![words];
    let n = first;
    let mut any = vec![
        format!("LOWER(COALESCE(caller_name, '')) LIKE ${n} ESCAPE '\\'"),
        format!("LOWER(COALESCE(caller_reason, '')) LIKE ${n} ESCAPE '\\'"),
        format!("LOWER(COALESCE(call_summary, '')) LIKE ${n} ESCAPE '\\'"),
        format!(
            "customer_id IN (SELECT id FROM customers WHERE business_id = $1 \
             AND LOWER(COALESCE(name, '')) LIKE ${n} ESCAPE '\\')"
        ),
    ];
    if let Some(digits) = super::leads::phone_digits(text) {
        binds.push(format!("%{digits}%"));
        let d = first + 1;
        any.push(format!("from_number LIKE ${d}"));
        any.push(format!("to_number LIKE ${d}"));
    }
    (format!(" AND ({})", any.join(" OR ")), binds)
}

pub async fn list(
    db: &Db,
    business_id: i64,
    f: &CallFilter,
) -> Result<(Vec<CallRow>, i64), sqlx::Error> {
    let mut filter = String::from("business_id = $1");
    let mut texts: Vec<String> = Vec::new();
    let mut nums: Vec<i64> = Vec::new();
    if let Some(s) = &f.status {
        texts.push(s.as_str().to_string());
        filter.push_str(&format!(" AND status = ${}", texts.len() + 1));
    }
    if let Some(d) = &f.direction {
        texts.push(d.as_str().to_string());
        filter.push_str(&format!(" AND direction = ${}", texts.len() + 1));
    }
    match f.disposition.as_deref() {
        None => {}
        Some("none") => filter.push_str(" AND disposition IS NULL"),
        Some(d) => {
            texts.push(d.to_string());
            filter.push_str(&format!(" AND disposition = ${}", texts.len() + 1));
        }
    }
    if f.fallback_only {
        filter.push_str(" AND fallback_reason IS NOT NULL");
    }
    if let Some(text) = f.search.as_deref().filter(|t| !t.trim().is_empty()) {
        let (cond, binds) = search_filter(text, texts.len() + 2);
        filter.push_str(&cond);
        texts.extend(binds);
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
    // Safe: the filter is fixed fragments and `$n` placeholders (every value is bound).
    let mut q = sqlx::query_as::<_, CallRow>(AssertSqlSafe(sql)).bind(business_id);
    for t in &texts {
        q = q.bind(t.as_str());
    }
    for v in &nums {
        q = q.bind(*v);
    }
    let rows = q.bind(f.limit).bind(f.offset).fetch_all(&db.pool).await?;
    let sql = format!("SELECT COUNT(*) FROM call_logs WHERE {filter}");
    // Safe: the filter is fixed fragments and `$n` placeholders (every value is bound).
    let mut q = sqlx::query_as::<_, (i64,)>(AssertSqlSafe(sql)).bind(business_id);
    for t in &texts {
        q = q.bind(t.as_str());
    }
    for v in &nums {
        q = q.bind(*v);
    }
    let (total,) = q.fetch_one(&db.pool).await?;
    Ok((rows, total))
}

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<CallRow>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// The turns of a call of this business, in order.
pub async fn turns(db: &Db, business_id: i64, call_id: i64) -> Result<Vec<Turn>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.turn_index, t.caller_text, t.agent_text, t.heard_text, t.barged_in, t.stt_ms, \
         t.llm_first_token_ms, t.tts_first_audio_ms, t.first_frame_out_ms, t.created_at, \
         CASE WHEN t.caller_audio_path IS NULL THEN 0 ELSE 1 END AS has_audio, \
         t.caller_audio_path, t.tool_calls FROM call_turns t JOIN call_logs c ON c.call_sid = t.call_sid \
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
) -> Result<Vec<CallRow>, sqlx::Error> {
    sqlx::query_as(formatcp!(
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

/// Statuses of a call still in progress.
pub const LIVE: &str = "('queued', 'initiated', 'ringing', 'in-progress', 'answered')";

/// Calls since an instant, newest first.
pub async fn since(
    db: &Db,
    business_id: i64,
    from_ms: i64,
    limit: i64,
) -> Result<Vec<CallRow>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM call_logs WHERE business_id = $1 AND created_at >= $2 \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .bind(business_id)
    .bind(from_ms)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Calls ringing or in progress now (rows older than two hours are stale, not live).
pub async fn live(db: &Db, business_id: i64) -> Result<Vec<CallRow>, sqlx::Error> {
    sqlx::query_as(formatcp!(
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

/// The id of a call of this business by its SID.
pub async fn id_of(db: &Db, business_id: i64, call_sid: &str) -> Result<Option<i64>, sqlx::Error> {
    Ok(sqlx::query_as::<_, (i64,)>(
        "SELECT id FROM call_logs WHERE business_id = $1 AND call_sid = $2",
    )
    .bind(business_id)
    .bind(call_sid)
    .fetch_optional(&db.pool)
    .await?
    .map(|(id,)| id))
}

/// Calls per business, for the operator: (business_id, calls).
pub async fn counts_by_business(db: &Db) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT business_id, COUNT(*) FROM call_logs WHERE business_id IS NOT NULL GROUP BY business_id",
    )
    .fetch_all(&db.pool)
    .await
}

/// Whether the business has had any call, and any inbound one (which proves its number's
/// webhooks reach the service), for the set-up checklist. Each stops at the first row.
pub async fn firsts(db: &Db, business_id: i64) -> Result<(bool, bool), sqlx::Error> {
    let (any, inbound): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM call_logs WHERE business_id = $1 LIMIT 1) a), \
         (SELECT COUNT(*) FROM (SELECT 1 FROM call_logs WHERE business_id = $1 \
         AND direction = 'inbound' LIMIT 1) b)",
    )
    .bind(business_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((any > 0, inbound > 0))
}
