//! Per-business API tokens for integrations: `GET/POST /api/tokens`, `DELETE /api/tokens/{id}`.
//!
//! A token (`mk_` and 32 random bytes in hex) is shown once, when created; only its SHA-256
//! is stored, with a short prefix for people to recognise it. A token acts for its business
//! with an agent's rights (leads, calls, messages), never an owner's.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{API_TOKEN_PREFIX, Tenant, token_digest};
use crate::auth::AuthCtx;
use crate::error::{ApiResult, AppError};
use crate::store::sessions::{self, ApiToken};

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AuthCtx: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/api/tokens", get(list).post(create))
        .route("/api/tokens/{id}", delete(revoke))
}

#[derive(Debug, Deserialize)]
pub struct NewToken {
    pub name: String,
}

async fn list(State(state): State<AuthCtx>, t: Tenant) -> ApiResult<Json<Vec<ApiToken>>> {
    t.caller.require_owner()?;
    Ok(Json(
        sessions::list_api_tokens(&state.db, t.business_id).await?,
    ))
}

async fn create(
    State(state): State<AuthCtx>,
    t: Tenant,
    Json(body): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    t.caller.require_owner()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::BadRequest(
            "name: 1 to 100 characters required".into(),
        ));
    }
    let secret = format!("{API_TOKEN_PREFIX}{}", crate::config::random_hex(32));
    let prefix: String = secret.chars().take(API_TOKEN_PREFIX.len() + 6).collect();
    let row = sessions::create_api_token(
        &state.db,
        t.business_id,
        name,
        &token_digest(&secret),
        &prefix,
        Some(t.caller.user_id).filter(|id| *id > 0),
    )
    .await?;
    let mut body = serde_json::to_value(&row).map_err(|e| AppError::Internal(e.into()))?;
    body["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn revoke(
    State(state): State<AuthCtx>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    t.caller.require_owner()?;
    if sessions::revoke_api_token(&state.db, t.business_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}
