//! Users: operators of the service, and owners and agents of one business (C3).

use super::{Db, now_ms};
use const_format::formatcp;

/// What a user may do; `operator` spans every business, the others belong to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Owner,
    Agent,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "operator" => Some(Role::Operator),
            "owner" => Some(Role::Owner),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Owner => "owner",
            Role::Agent => "agent",
        }
    }
}

/// Inserts a user whose password is already hashed (argon2id PHC string).
pub async fn create(
    db: &Db,
    email: &str,
    password_hash: &str,
    role: Role,
    business_id: Option<i64>,
) -> Result<i64, sqlx::Error> {
    create_on(&db.pool, email, password_hash, role, business_id).await
}

/// [`create`] on any executor (an accepted invitation makes its user in the transaction
/// that uses the link).
pub async fn create_on<'c, E>(
    conn: E,
    email: &str,
    password_hash: &str,
    role: Role,
    business_id: Option<i64>,
) -> Result<i64, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let now = now_ms();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (email, password_hash, role, business_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(email.trim().to_lowercase())
    .bind(password_hash)
    .bind(role.as_str())
    .bind(business_id)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// A user as needed to check a login.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserAuth {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub business_id: Option<i64>,
    /// Set while the user is disabled: they cannot sign in (#20).
    pub disabled_at: Option<i64>,
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<UserAuth>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, password_hash, role, business_id, disabled_at FROM users \
         WHERE email = $1",
    )
    .bind(email.trim().to_lowercase())
    .fetch_optional(&db.pool)
    .await
}

/// A user as the API shows it (never the password hash).
#[derive(Clone, Debug, sqlx::FromRow, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub business_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the user was disabled; `None` while they may sign in (#20).
    pub disabled_at: Option<i64>,
}

const COLUMNS: &str = "id, email, name, role, business_id, created_at, updated_at, disabled_at";

/// A statement scoped to one business (`Some`) or to none (`None`: the operator's view):
/// `{SCOPE}` in it becomes `business_id = $1` or `$1 = $1`, two fixed texts.
macro_rules! scoped {
    ($scope:expr, $sql:literal) => {
        either!(
            $scope.is_some(),
            $sql,
            SCOPE = "business_id = $1",
            "$1 = $1"
        )
    };
}

/// The users of one business, or every user when `scope` is `None` (operators only).
pub async fn list(db: &Db, scope: Option<i64>) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(scoped!(
        scope,
        "SELECT {COLUMNS} FROM users WHERE {SCOPE} ORDER BY id"
    ))
    .bind(scope.unwrap_or(0))
    .fetch_all(&db.pool)
    .await
}

/// The first `limit` users of every business, for the operator.
pub async fn first(db: &Db, limit: i64) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM users ORDER BY id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Users per business, for the operator: (business_id, users).
pub async fn counts_by_business(db: &Db) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT business_id, COUNT(*) FROM users WHERE business_id IS NOT NULL GROUP BY business_id",
    )
    .fetch_all(&db.pool)
    .await
}

/// A user's email; `None` when there is no such user.
pub async fn email(db: &Db, id: i64) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT email FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|(e,)| e))
}

/// A user within the scope; another business's user is simply not found (C4).
pub async fn get(db: &Db, scope: Option<i64>, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(scoped!(
        scope,
        "SELECT {COLUMNS} FROM users WHERE {SCOPE} AND id = $2"
    ))
    .bind(scope.unwrap_or(0))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// A user's new state; `password_hash` only when it changes.
pub struct UserUpdate<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub role: Role,
    pub business_id: Option<i64>,
    pub password_hash: Option<&'a str>,
}

/// Writes a user's new state within the scope; `None` when not found there.
pub async fn update(
    db: &Db,
    scope: Option<i64>,
    id: i64,
    u: &UserUpdate<'_>,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(scoped!(
        scope,
        "UPDATE users SET email = $3, name = $4, role = $5, business_id = $6, \
         password_hash = COALESCE($7, password_hash), updated_at = $8 \
         WHERE {SCOPE} AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(scope.unwrap_or(0))
    .bind(id)
    .bind(u.email.trim().to_lowercase())
    .bind(u.name)
    .bind(u.role.as_str())
    .bind(u.business_id)
    .bind(u.password_hash)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

/// Deletes a user within the scope; false when not found there.
pub async fn delete(db: &Db, scope: Option<i64>, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(scoped!(
        scope,
        "DELETE FROM users WHERE {SCOPE} AND id = $2"
    ))
    .bind(scope.unwrap_or(0))
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets a user's name at creation time (the name is optional and added after insert).
pub async fn set_name(db: &Db, id: i64, name: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET name = $2 WHERE id = $1")
        .bind(id)
        .bind(name)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Replaces a password by email (the operator's reset); the user id, if any.
pub async fn set_password_by_email(
    db: &Db,
    email: &str,
    password_hash: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE email = $1 RETURNING id",
    )
    .bind(email.trim().to_lowercase())
    .bind(password_hash)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Disables (`true`) or enables a user within the scope; the user after, `None` when not
/// found there. Their sessions stop working at once: every session lookup joins the user
/// and takes only enabled ones (`sessions.rs`), and so do API tokens they made.
pub async fn set_disabled(
    db: &Db,
    scope: Option<i64>,
    id: i64,
    disabled: bool,
) -> Result<Option<User>, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as(scoped!(
        scope,
        "UPDATE users SET disabled_at = CASE WHEN $3 = 1 THEN COALESCE(disabled_at, $4) \
         ELSE NULL END, updated_at = $4 WHERE {SCOPE} AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(scope.unwrap_or(0))
    .bind(id)
    .bind(i64::from(disabled))
    .bind(now)
    .fetch_optional(&db.pool)
    .await
}

/// How many enabled owners a business has other than `except` (the last-owner rule).
pub async fn other_active_owners(
    db: &Db,
    business_id: i64,
    except: i64,
) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users WHERE business_id = $1 AND role = 'owner' \
         AND disabled_at IS NULL AND id <> $2",
    )
    .bind(business_id)
    .bind(except)
    .fetch_one(&db.pool)
    .await?;
    Ok(n)
}

/// Replaces a user's password (a reset link), on any executor.
pub async fn set_password_on<'c, E>(
    conn: E,
    id: i64,
    password_hash: &str,
) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let done = sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
