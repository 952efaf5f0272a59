//! Users: operators of the service, and owners and agents of one business (C3).

use super::{Db, now_ms};

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
    .fetch_one(&db.pool)
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
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<UserAuth>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash, role, business_id FROM users WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(&db.pool)
        .await
}
