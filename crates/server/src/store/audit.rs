//! The audit log: who changed what and when, for businesses, users and customers (C3).
//!
//! Each row names the actor (a user id; an API token's writes name the token too, and the
//! user who made it), the
//! entity and its id, the action, and the changed fields as JSON `{field: [old, new]}`.
//! Secrets (password hashes) are never written here.

use super::{Db, now_ms};
use const_format::formatcp;

#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub business_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    /// The API token that made the change, when one did.
    pub actor_token_id: Option<i64>,
    pub entity: String,
    pub entity_id: i64,
    pub action: String,
    pub changes: String,
    pub created_at: i64,
}

/// One change to record.
pub struct Entry<'a> {
    pub business_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub actor_token_id: Option<i64>,
    pub entity: &'a str,
    pub entity_id: i64,
    pub action: &'a str,
    pub changes: serde_json::Value,
}

pub async fn record(db: &Db, e: Entry<'_>) -> Result<(), sqlx::Error> {
    record_on(&db.pool, e).await
}

/// [`record`] on any executor, so an entry commits with the change it describes.
pub async fn record_on<'c, E>(conn: E, e: Entry<'_>) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO audit_log (business_id, actor_user_id, entity, entity_id, action, changes, \
         created_at, actor_token_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.business_id)
    .bind(e.actor_user_id.filter(|id| *id > 0))
    .bind(e.entity)
    .bind(e.entity_id)
    .bind(e.action)
    .bind(e.changes.to_string())
    .bind(now_ms())
    .bind(e.actor_token_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The newest entries of one business (`Some`) or of the whole service (`None`).
pub async fn list(
    db: &Db,
    business_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    const SELECT: &str = "SELECT id, business_id, actor_user_id, actor_token_id, entity, \
         entity_id, action, changes, created_at FROM audit_log";
    const PAGE: &str = "ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2";
    let sql = if business_id.is_some() {
        formatcp!("{SELECT} WHERE business_id = $3 {PAGE}")
    } else {
        formatcp!("{SELECT} WHERE $3 = $3 {PAGE}")
    };
    sqlx::query_as(sql)
        .bind(limit)
        .bind(offset)
        .bind(business_id.unwrap_or(0))
        .fetch_all(&db.pool)
        .await
}

/// `{field: [old, new]}` for the fields that differ between two JSON objects.
pub fn diff(before: &serde_json::Value, after: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, new) in a {
            if k == "updated_at" {
                continue;
            }
            let old = b.get(k).cloned().unwrap_or(serde_json::Value::Null);
            if &old != new {
                out.insert(k.clone(), serde_json::json!([old, new]));
            }
        }
    }
    serde_json::Value::Object(out)
}

/// How many entries [`list`] pages through.
pub async fn count(db: &Db, business_id: Option<i64>) -> Result<i64, sqlx::Error> {
    let sql = if business_id.is_some() {
        "SELECT COUNT(*) FROM audit_log WHERE business_id = $1"
    } else {
        "SELECT COUNT(*) FROM audit_log WHERE $1 = $1"
    };
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(business_id.unwrap_or(0))
        .fetch_one(&db.pool)
        .await?;
    Ok(n)
}
