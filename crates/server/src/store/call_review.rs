//! Staff's review of a call (V10, C2): a corrected summary and what came of the call. Both
//! writes land in one statement with the audit entry that describes them, so a review is
//! never half-kept, and a corrected summary is marked so the post-call job leaves it alone.

use super::audit;
use super::{Db, now_ms};

/// What a reviewer changes; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct Review<'a> {
    /// The corrected summary (empty text clears it).
    pub summary: Option<&'a str>,
    /// The new disposition; `Some(None)` clears it.
    pub disposition: Option<Option<&'a str>>,
}

/// Who reviews, for the audit log.
pub struct Reviewer {
    pub user_id: Option<i64>,
    pub token_id: Option<i64>,
}

/// Applies a review to a call of the business; false when the business has no such call.
pub async fn apply(
    db: &Db,
    business_id: i64,
    call_id: i64,
    review: &Review<'_>,
    by: &Reviewer,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    // A write first: it takes the row's lock (and SQLite's write lock) before the read, so
    // two reviews never interleave, and SQLite never has to upgrade a read snapshot that
    // another writer has since moved past (which it refuses: `SQLITE_BUSY_SNAPSHOT`).
    let touched = sqlx::query(
        "UPDATE call_logs SET updated_at = updated_at WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(call_id)
    .execute(&mut *tx)
    .await?;
    if touched.rows_affected() == 0 {
        return Ok(false);
    }
    let before: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT call_summary, disposition FROM call_logs WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(call_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((old_summary, old_disposition)) = before else {
        return Ok(false);
    };
    let summary = review
        .summary
        .map(|s| s.trim())
        .map(|s| (!s.is_empty()).then(|| s.to_string()));
    sqlx::query(
        "UPDATE call_logs SET \
         call_summary = CASE WHEN $3 = 1 THEN $4 ELSE call_summary END, \
         summary_edited_by = CASE WHEN $3 = 1 THEN $5 ELSE summary_edited_by END, \
         summary_edited_at = CASE WHEN $3 = 1 THEN $6 ELSE summary_edited_at END, \
         disposition = CASE WHEN $7 = 1 THEN $8 ELSE disposition END, \
         updated_at = $6 WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(call_id)
    .bind(i64::from(summary.is_some()))
    .bind(summary.clone().flatten())
    .bind(by.user_id)
    .bind(now)
    .bind(i64::from(review.disposition.is_some()))
    .bind(review.disposition.flatten())
    .execute(&mut *tx)
    .await?;
    let mut changes = serde_json::Map::new();
    if let Some(new) = &summary
        && *new != old_summary
    {
        changes.insert("summary".into(), serde_json::json!([old_summary, new]));
    }
    if let Some(new) = review.disposition
        && new != old_disposition.as_deref()
    {
        changes.insert(
            "disposition".into(),
            serde_json::json!([old_disposition, new]),
        );
    }
    if !changes.is_empty() {
        audit::record_on(
            &mut *tx,
            audit::Entry {
                business_id: Some(business_id),
                actor_user_id: by.user_id,
                actor_token_id: by.token_id,
                entity: "call",
                entity_id: call_id,
                action: "review",
                changes: serde_json::Value::Object(changes),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}
