//! One-time links for a business's team (#20, C3): invitations (a new user chooses their
//! name and password) and password resets. The token is shown once; only its SHA-256
//! digest is stored. A link expires, and is used at most once: [`take`] marks it used in
//! the same statement that finds it, so two clicks at once cannot both succeed.

use super::{Db, now_ms};
use const_format::formatcp;

pub const INVITE: &str = "invite";
pub const RESET: &str = "reset";

/// A link as stored (never its token).
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct UserLink {
    pub id: i64,
    pub kind: String,
    pub business_id: Option<i64>,
    pub user_id: Option<i64>,
    pub email: String,
    pub role: String,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

const COLUMNS: &str =
    "id, kind, business_id, user_id, email, role, created_by, created_at, expires_at, used_at";

/// What a new link says.
pub struct NewLink<'a> {
    pub kind: &'a str,
    pub token_hash: &'a str,
    pub business_id: Option<i64>,
    pub user_id: Option<i64>,
    pub email: &'a str,
    pub role: &'a str,
    pub created_by: Option<i64>,
    pub ttl_ms: i64,
}

pub async fn create(db: &Db, l: &NewLink<'_>) -> Result<UserLink, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as(formatcp!(
        "INSERT INTO user_links (kind, token_hash, business_id, user_id, email, role, \
         created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         RETURNING {COLUMNS}"
    ))
    .bind(l.kind)
    .bind(l.token_hash)
    .bind(l.business_id)
    .bind(l.user_id)
    .bind(l.email.trim().to_lowercase())
    .bind(l.role)
    .bind(l.created_by)
    .bind(now)
    .bind(now + l.ttl_ms)
    .fetch_one(&db.pool)
    .await
}

/// A live (unused, unexpired) link of this kind by its token's digest, without using it.
pub async fn peek(db: &Db, kind: &str, token_hash: &str) -> Result<Option<UserLink>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM user_links WHERE kind = $1 AND token_hash = $2 \
         AND used_at IS NULL AND expires_at > $3"
    ))
    .bind(kind)
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

/// Uses a live link: marks it used and returns it, in one statement; `None` when it is
/// unknown, expired or already used.
pub async fn take<'c, E>(
    conn: E,
    kind: &str,
    token_hash: &str,
) -> Result<Option<UserLink>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let now = now_ms();
    sqlx::query_as(formatcp!(
        "UPDATE user_links SET used_at = $3 WHERE kind = $1 AND token_hash = $2 \
         AND used_at IS NULL AND expires_at > $3 RETURNING {COLUMNS}"
    ))
    .bind(kind)
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Ends a user's earlier live links of a kind (a new reset replaces the old one).
pub async fn expire_for_user(db: &Db, kind: &str, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE user_links SET expires_at = $3 WHERE kind = $1 AND user_id = $2 \
         AND used_at IS NULL AND expires_at > $3",
    )
    .bind(kind)
    .bind(user_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A business's invitations still waiting to be accepted, newest first.
pub async fn pending_invites(db: &Db, business_id: i64) -> Result<Vec<UserLink>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM user_links WHERE business_id = $1 AND kind = 'invite' \
         AND used_at IS NULL AND expires_at > $2 ORDER BY created_at DESC, id DESC"
    ))
    .bind(business_id)
    .bind(now_ms())
    .fetch_all(&db.pool)
    .await
}

/// Withdraws a business's pending invitation; false when it has none by that id.
pub async fn revoke_invite(db: &Db, business_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE user_links SET expires_at = $3 WHERE business_id = $1 AND id = $2 \
         AND kind = 'invite' AND used_at IS NULL AND expires_at > $3",
    )
    .bind(business_id)
    .bind(id)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
