//! A user's saved filters of the leads list (#20): a name and the list's query string
//! (status, assignee, source, dates, sort), so "my new leads this week" is one tap. Each
//! user sees only their own, within their business (C4). Fixed statements.

use sqlx::FromRow;

use super::{Db, now_ms};

#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct SavedFilter {
    pub id: i64,
    pub name: String,
    pub query: String,
}

pub async fn list(
    db: &Db,
    business_id: i64,
    user_id: i64,
) -> Result<Vec<SavedFilter>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, query FROM saved_filters WHERE business_id = $1 AND user_id = $2 \
         ORDER BY name, id LIMIT 50",
    )
    .bind(business_id)
    .bind(user_id)
    .fetch_all(&db.pool)
    .await
}

/// Saves (or replaces, by name) a filter of the user's.
pub async fn save(
    db: &Db,
    business_id: i64,
    user_id: i64,
    name: &str,
    query: &str,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO saved_filters (business_id, user_id, name, query, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, name) DO UPDATE SET \
         query = excluded.query RETURNING id",
    )
    .bind(business_id)
    .bind(user_id)
    .bind(name)
    .bind(query)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await?;
    Ok(id)
}

pub async fn delete(db: &Db, business_id: i64, user_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "DELETE FROM saved_filters WHERE business_id = $1 AND user_id = $2 AND id = $3",
    )
    .bind(business_id)
    .bind(user_id)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}
