//! Who is calling the API (C3).
//!
//! Users live in the database with argon2id hashes. This module verifies credentials and
//! yields the caller's identity through extractors, so a handler cannot forget to check.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::app::AppState;
use crate::error::AppError;
use crate::store::users::{self, Role};

/// An authenticated user.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: i64,
    pub role: Role,
    pub business_id: Option<i64>,
}

/// A password checked against its stored argon2 hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so timing does not tell.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password(&crate::config::random_hex(16)).unwrap_or_default())
        .clone()
}

/// argon2id with a fresh salt, as a PHC string.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Checks an email and password; `None` for any failure, never saying which.
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<Option<Caller>, AppError> {
    let user = users::by_email(&state.db, email).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    Ok(match (ok, user) {
        (true, Some(u)) => Role::parse(&u.role).map(|role| Caller {
            user_id: u.id,
            role,
            business_id: u.business_id,
        }),
        _ => None,
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AppError::Unauthorized)?;
        if let Some(basic) = header.strip_prefix("Basic ") {
            let decoded = STANDARD
                .decode(basic.trim())
                .map_err(|_| AppError::Unauthorized)?;
            let decoded = String::from_utf8(decoded).map_err(|_| AppError::Unauthorized)?;
            let (email, password) = decoded.split_once(':').ok_or(AppError::Unauthorized)?;
            return login(state, email, password)
                .await?
                .ok_or(AppError::Unauthorized);
        }
        Err(AppError::Unauthorized)
    }
}

/// A caller who operates the whole service.
#[derive(Clone, Debug)]
pub struct Operator(pub Caller);

impl FromRequestParts<AppState> for Operator {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.role == Role::Operator {
            Ok(Operator(caller))
        } else {
            Err(AppError::Forbidden)
        }
    }
}
