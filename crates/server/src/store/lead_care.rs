//! Leads for daily work (#20, C2): deleting a lead softly, so a slip of the finger is undone
//! with one tap; merging two leads of one person, with everything that hangs on them; a
//! follow-up date and a status for many leads at once. Every statement is fixed and scoped
//! to the business first (C4).

use const_format::formatcp;

use super::customers::{COLUMNS, Customer};
use super::{Db, now_ms};

/// Marks a live lead deleted by `by`; false when the business has no such live lead.
pub async fn soft_delete(
    db: &Db,
    business_id: i64,
    id: i64,
    by: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE customers SET deleted_at = $3, deleted_by = $4 \
         WHERE business_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(business_id)
    .bind(id)
    .bind(now_ms())
    .bind(by)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Brings a deleted lead back; `None` when the business has no such deleted lead.
pub async fn restore(db: &Db, business_id: i64, id: i64) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "UPDATE customers SET deleted_at = NULL, deleted_by = NULL, updated_at = $3 \
         WHERE business_id = $1 AND id = $2 AND deleted_at IS NOT NULL RETURNING {COLUMNS}"
    ))
    .bind(business_id)
    .bind(id)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

/// A lead whether or not it was deleted (the web app offers "restore" on a deleted one).
pub async fn get_any(db: &Db, business_id: i64, id: i64) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// The business's deleted leads, most recently deleted first, at most `limit`.
pub async fn deleted(db: &Db, business_id: i64, limit: i64) -> Result<Vec<Customer>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND deleted_at IS NOT NULL \
         ORDER BY deleted_at DESC, id DESC LIMIT $2"
    ))
    .bind(business_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// What a merge did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Merged {
    pub calls: u64,
    pub messages: u64,
    pub notes: u64,
    pub appointments: u64,
    pub tasks: u64,
}

/// Merges lead `from` into lead `keep` (both live leads of `business_id`, not the same):
/// calls, WhatsApp messages, notes, appointments and tasks move over; `keep` takes what it
/// lacks from `from` (name, email, assignee, follow-up), the tags of both and both notes;
/// `from` is removed. One transaction: all of it or none. `None` when either is not a
/// live lead of the business.
pub async fn merge(
    db: &Db,
    business_id: i64,
    keep: i64,
    from: i64,
) -> Result<Option<Merged>, sqlx::Error> {
    if keep == from {
        return Ok(None);
    }
    let mut tx = db.pool.begin().await?;
    // A write first: it takes both rows' locks (and SQLite's write lock) before anything is
    // read, so no other writer slips in between, and it counts the two live leads.
    let n = sqlx::query(
        "UPDATE customers SET updated_at = updated_at WHERE business_id = $1 \
         AND id IN ($2, $3) AND deleted_at IS NULL",
    )
    .bind(business_id)
    .bind(keep)
    .bind(from)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n != 2 {
        return Ok(None);
    }
    // The merged lead's number as people write it (`052-333-3333`): in Hebrew text an E.164
    // `+972…` would show its plus at the wrong end (#20).
    let (from_phone,): (String,) =
        sqlx::query_as("SELECT phone FROM customers WHERE business_id = $1 AND id = $2")
            .bind(business_id)
            .bind(from)
            .fetch_one(&mut *tx)
            .await?;
    let from_phone = crate::domain::Phone::parse(&from_phone)
        .map(|p| p.local_display())
        .unwrap_or(from_phone);
    let mut moved = Merged::default();
    // Each table that hangs on a lead, its rows moved over by one fixed statement.
    const MOVE: &str = "SET customer_id = $3 WHERE business_id = $1 AND customer_id = $2";
    for (sql, count) in [
        (formatcp!("UPDATE call_logs {MOVE}"), &mut moved.calls),
        (
            formatcp!("UPDATE whatsapp_messages {MOVE}"),
            &mut moved.messages,
        ),
        (formatcp!("UPDATE customer_notes {MOVE}"), &mut moved.notes),
        (
            formatcp!("UPDATE appointments {MOVE}"),
            &mut moved.appointments,
        ),
        (formatcp!("UPDATE lead_tasks {MOVE}"), &mut moved.tasks),
    ] {
        *count = sqlx::query(sql)
            .bind(business_id)
            .bind(from)
            .bind(keep)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    // The kept lead takes what it lacks; tags joined without repeats, notes one after the
    // other (the merged lead's number is kept in them, so it is not lost).
    sqlx::query(
        "UPDATE customers SET \
           name = COALESCE(NULLIF(customers.name, ''), f.name), \
           email = COALESCE(NULLIF(customers.email, ''), f.email), \
           owner_user_id = COALESCE(customers.owner_user_id, f.owner_user_id), \
           follow_up_at = COALESCE(customers.follow_up_at, f.follow_up_at), \
           last_inbound_at = CASE WHEN f.last_inbound_at IS NULL THEN customers.last_inbound_at \
             WHEN customers.last_inbound_at IS NULL OR f.last_inbound_at > customers.last_inbound_at \
             THEN f.last_inbound_at ELSE customers.last_inbound_at END, \
           tags = CASE WHEN f.tags = '' THEN customers.tags WHEN customers.tags = '' THEN f.tags \
             ELSE customers.tags || ',' || f.tags END, \
           notes = TRIM(customers.notes || CASE WHEN customers.notes = '' THEN '' ELSE ' \n' END \
             || 'מוזג מליד ' || COALESCE(f.name, '') || ' ' || $5 \
             || CASE WHEN f.notes = '' THEN '' ELSE ': ' || f.notes END), \
           updated_at = $4 \
         FROM (SELECT name, email, owner_user_id, follow_up_at, last_inbound_at, tags, notes, \
               phone FROM customers WHERE business_id = $1 AND id = $3) AS f \
         WHERE customers.business_id = $1 AND customers.id = $2",
    )
    .bind(business_id)
    .bind(keep)
    .bind(from)
    .bind(now_ms())
    .bind(&from_phone)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM customers WHERE business_id = $1 AND id = $2")
        .bind(business_id)
        .bind(from)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(moved))
}

/// Sets the status of some live leads of the business at once; how many changed.
pub async fn bulk_status(
    db: &Db,
    business_id: i64,
    ids: &[i64],
    status: &str,
) -> Result<u64, sqlx::Error> {
    let mut changed = 0;
    let mut tx = db.pool.begin().await?;
    for id in ids {
        changed += sqlx::query(
            "UPDATE customers SET status = $3, updated_at = $4 \
             WHERE business_id = $1 AND id = $2 AND deleted_at IS NULL AND status <> $3",
        )
        .bind(business_id)
        .bind(*id)
        .bind(status)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(changed)
}

/// Sets (or clears) when to get back to a live lead, and who handles it; false when the
/// business has no such live lead.
pub async fn set_follow_up(
    db: &Db,
    business_id: i64,
    id: i64,
    follow_up_at: Option<i64>,
    assignee: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE customers SET follow_up_at = $3, owner_user_id = $4, updated_at = $5 \
         WHERE business_id = $1 AND id = $2 AND deleted_at IS NULL",
    )
    .bind(business_id)
    .bind(id)
    .bind(follow_up_at)
    .bind(assignee)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
