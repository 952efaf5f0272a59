//! Login sessions and per-business API tokens (C3), stored only as SHA-256 digests.
//!
//! A leaked database dump therefore holds no usable credential. Lookups join the user so the
//! caller's role and business come from the database as it is now, not as it was at login.

use super::{Db, now_ms};
use const_format::formatcp;

/// Who a credential belongs to, as resolved from the database.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Principal {
    pub session_id: i64,
    pub user_id: i64,
    pub role: String,
    pub business_id: Option<i64>,
}

pub async fn create(
    db: &Db,
    user_id: i64,
    token_hash: &str,
    ttl_ms: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(now)
    .bind(now + ttl_ms)
    .bind(ip)
    .bind(user_agent.map(|u| u.chars().take(200).collect::<String>()))
    .fetch_one(&db.pool)
    .await?;
    Ok(id)
}

const LIVE: &str = "SELECT s.id AS session_id, u.id AS user_id, u.role, u.business_id \
     FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL";

/// A live session by the digest of its cookie token.
pub async fn by_token_hash(db: &Db, token_hash: &str) -> Result<Option<Principal>, sqlx::Error> {
    sqlx::query_as(formatcp!("{LIVE} AND s.token_hash = $1"))
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&db.pool)
        .await
}

/// A live session by id, for a JWT that names it; the user must match too.
pub async fn by_id(db: &Db, id: i64, user_id: i64) -> Result<Option<Principal>, sqlx::Error> {
    sqlx::query_as(formatcp!("{LIVE} AND s.id = $1 AND u.id = $3"))
        .bind(id)
        .bind(now_ms())
        .bind(user_id)
        .fetch_optional(&db.pool)
        .await
}

pub async fn revoke(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Revokes the session behind a token's hash (a logout); nothing when already revoked.
pub async fn revoke_by_token_hash(db: &Db, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(token_hash)
        .bind(now_ms())
        .execute(&db.pool)
        .await
        .map(|_| ())
}

/// Revokes every session of a user (password change, role change, deletion).
pub async fn revoke_all_for_user(db: &Db, user_id: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes every session of a user but one (their own new password: the device they
/// changed it on stays signed in, every other one is signed out).
pub async fn revoke_others(db: &Db, user_id: i64, keep: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND id <> $2 \
         AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(keep)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

/// An API token as listed (never with its secret).
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub business_id: i64,
    pub name: String,
    pub prefix: String,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub async fn create_api_token(
    db: &Db,
    business_id: i64,
    name: &str,
    token_hash: &str,
    prefix: &str,
    created_by: Option<i64>,
) -> Result<ApiToken, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO api_tokens (business_id, name, token_hash, prefix, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, business_id, name, prefix, created_by, created_at, last_used_at",
    )
    .bind(business_id)
    .bind(name)
    .bind(token_hash)
    .bind(prefix)
    .bind(created_by)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await
}

pub async fn list_api_tokens(db: &Db, business_id: i64) -> Result<Vec<ApiToken>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, business_id, name, prefix, created_by, created_at, last_used_at \
         FROM api_tokens WHERE business_id = $1 AND revoked_at IS NULL \
         ORDER BY created_at DESC, id DESC",
    )
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

/// Revokes a token of this business; false when it has no such live token.
pub async fn revoke_api_token(db: &Db, business_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $3 \
         WHERE business_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(business_id)
    .bind(id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A live API token by digest: (token id, business id, creator).
pub async fn api_token_by_hash(
    db: &Db,
    token_hash: &str,
) -> Result<Option<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, t.business_id, u.id FROM api_tokens t \
         JOIN businesses b ON b.id = t.business_id \
         JOIN users u ON u.id = t.created_by \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL \
         AND (u.role = 'operator' OR (u.role = 'owner' AND u.business_id = t.business_id))",
    )
    .bind(token_hash)
    .fetch_optional(&db.pool)
    .await
}

/// Notes a token's use, at most once a minute per token.
pub async fn touch_api_token(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $2 \
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(now - 60_000)
    .execute(&db.pool)
    .await?;
    Ok(())
}
