//! The team's API (#20, C3): `POST /api/users/invitations` (an owner invites by e-mail),
//! `POST /api/invitations/accept` and `POST /api/password-resets/accept` (the one-time
//! links, which sign the user in), `POST /api/users/{id}/disable|enable|password-reset`,
//! and `POST /api/auth/password` (one's own password). The rules are in [`super::team`].

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::team::{self, Issued};
use super::users::UserScope;
use crate::auth::routes::{ClientIp, begin_session};
use crate::auth::{AuthCtx, Authenticated, Tenant, Via};
use crate::crm::state::CrmState;
use crate::error::{ApiResult, AppError};
use crate::store::users::{Role, User};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/users/invitations", post(invite))
        .route("/api/users/{id}/disable", post(disable))
        .route("/api/users/{id}/enable", post(enable))
        .route("/api/users/{id}/password-reset", post(reset))
        .route("/api/invitations/accept", post(accept_invite))
        .route("/api/password-resets/accept", post(accept_reset))
        .route("/api/auth/password", post(change_password))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub email: String,
    pub role: Role,
}

async fn invite(
    State(ctx): State<AuthCtx>,
    t: Tenant,
    headers: HeaderMap,
    Json(body): Json<Invitation>,
) -> ApiResult<(StatusCode, Json<Issued>)> {
    let base = team::base_url(&ctx, &headers);
    let issued = team::invite(
        &ctx,
        &t.caller,
        t.business_id,
        &body.email,
        body.role,
        &base,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

async fn disable(
    State(ctx): State<AuthCtx>,
    s: UserScope,
    Path(id): Path<i64>,
) -> ApiResult<Json<User>> {
    Ok(Json(
        team::set_disabled(&ctx, &s.caller, s.scope, id, true).await?,
    ))
}

async fn enable(
    State(ctx): State<AuthCtx>,
    s: UserScope,
    Path(id): Path<i64>,
) -> ApiResult<Json<User>> {
    Ok(Json(
        team::set_disabled(&ctx, &s.caller, s.scope, id, false).await?,
    ))
}

async fn reset(
    State(ctx): State<AuthCtx>,
    s: UserScope,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<Issued>)> {
    let base = team::base_url(&ctx, &headers);
    let issued = team::issue_reset(&ctx, &s.caller, s.scope, id, &base).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    pub token: String,
    #[serde(default)]
    pub name: String,
    pub password: String,
}

async fn accept_invite(
    State(ctx): State<AuthCtx>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<Accept>,
) -> ApiResult<Response> {
    let user = team::accept_invite(&ctx, &body.token, &body.name, &body.password).await?;
    begin_session(&ctx, &user, &ip, &headers).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetAccept {
    pub token: String,
    pub password: String,
}

async fn accept_reset(
    State(ctx): State<AuthCtx>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<ResetAccept>,
) -> ApiResult<Response> {
    let user = team::accept_reset(&ctx, &body.token, &body.password).await?;
    begin_session(&ctx, &user, &ip, &headers).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

async fn change_password(
    State(ctx): State<AuthCtx>,
    auth: Authenticated,
    Json(body): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    let keep = match auth.via {
        Via::Session { session_id } | Via::Jwt { session_id } => Some(session_id),
        Via::ApiToken { .. } => return Err(AppError::Forbidden),
    };
    team::change_own_password(
        &ctx,
        &auth.caller,
        keep,
        &body.current_password,
        &body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
