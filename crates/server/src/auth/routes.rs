//! `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`.
//!
//! Login answers the same 401 for an unknown email and a wrong password, after the same
//! argon2 work, and is rate-limited per IP (every attempt) and per account (failures), with
//! 429 and `Retry-After`; the account's limit spares clients that signed in to it recently
//! (their address, or the browser's device cookie: see [`super::known`]). A success sets the web app's cookies and returns a bearer JWT.

use std::time::Instant;

use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{
    Authenticated, CSRF_COOKIE, LOGIN_FAILURES_PER_ACCOUNT, SESSION_COOKIE, SESSION_TTL, Via, jwt,
    known, reject,
};
use crate::auth::AuthCtx;
use crate::error::{ApiResult, AppError};
use crate::store::{sessions, users};

pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    AuthCtx: axum::extract::FromRef<S>,
{
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
}

/// The client's IP, from the socket and the trusted proxies' `X-Forwarded-For`.
pub struct ClientIp(pub String);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    AuthCtx: FromRef<S>,
{
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(super::client_ip(
            parts,
            &AuthCtx::from_ref(state).settings.trusted_proxies,
        )))
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

const WRONG: &str = "wrong email or password";

fn too_many(wait: std::time::Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut r = reject(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many login attempts; try again later",
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

async fn login(
    State(state): State<AuthCtx>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> Result<Response, AppError> {
    let now = Instant::now();
    let limiter = &state.auth.limiter;
    let ip_key = format!("ip:{ip}");
    if let Err(wait) = limiter.acquire(&ip_key, state.settings.login_limit_per_ip, now) {
        tracing::warn!(%ip, "LOGIN_RATE_LIMITED by IP");
        return Ok(too_many(wait));
    }
    let email = body.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    // One password check at a time per account, so guesses sent all at once are counted
    // like guesses sent one after another (each sees the failures before it).
    let _turn = state.auth.account_turn(&account_key).await;
    // The account's limit holds back guessers, not the clients it already knows (#16.4).
    let secret = state.settings.jwt_secret.expose();
    let now_secs = (crate::store::now_ms() / 1000).max(0) as u64;
    let known_client = state.auth.known.contains(&email, &ip, Instant::now())
        || super::cookie(&headers, known::DEVICE_COOKIE)
            .is_some_and(|c| known::device_cookie_valid(secret, &email, c, now_secs));
    if !known_client
        && let Err(wait) = limiter.check(&account_key, LOGIN_FAILURES_PER_ACCOUNT, Instant::now())
    {
        tracing::warn!(%ip, "LOGIN_RATE_LIMITED by account");
        return Ok(too_many(wait));
    }
    let Some(user) = super::check_credentials(&state, &email, &body.password).await? else {
        limiter.record(&account_key, Instant::now());
        tracing::info!(%ip, "LOGIN_FAILED");
        return Ok(reject(StatusCode::UNAUTHORIZED, "unauthorized", WRONG));
    };
    state.auth.known.remember(&email, &ip, Instant::now());
    let response = begin_session(&state, &user, &ip, &headers).await?;
    tracing::info!(user_id = user.id, "LOGIN");
    Ok(response)
}

/// Starts a session for a user who proved who they are (a password, or a one-time link):
/// the JSON answer of a login with the session, CSRF and device cookies set.
pub async fn begin_session(
    state: &AuthCtx,
    user: &users::UserAuth,
    ip: &str,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let email = user.email.trim().to_lowercase();
    let secret = state.settings.jwt_secret.expose();
    let now_secs = (crate::store::now_ms() / 1000).max(0) as u64;
    let token = crate::config::random_hex(32);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let ttl_ms = SESSION_TTL.as_millis() as i64;
    let session_id = sessions::create(
        &state.db,
        user.id,
        &super::token_digest(&token),
        ttl_ms,
        Some(ip),
        user_agent,
    )
    .await?;
    let iat = crate::store::now_ms() / 1000;
    let jwt = jwt::encode(
        secret,
        &jwt::Claims {
            sub: user.id,
            sid: session_id,
            role: user.role.clone(),
            bid: user.business_id,
            iat,
            exp: iat + jwt::TTL_SECS,
        },
    );
    let csrf = super::csrf_for(secret, &token);
    let secure = if state.settings.is_production() {
        "; Secure"
    } else {
        ""
    };
    let max_age = SESSION_TTL.as_secs();
    let body = json!({
        "token": jwt,
        "token_type": "Bearer",
        "expires_in": jwt::TTL_SECS,
        "csrf_token": csrf,
        "user": {
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "business_id": user.business_id,
        },
    });
    let mut response = Json(body).into_response();
    let cookies = [
        format!(
            "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        ),
        format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={max_age}; SameSite=Lax{secure}"),
        format!(
            "{}={}; Path=/api/auth; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
            known::DEVICE_COOKIE,
            known::device_cookie(secret, &email, now_secs),
            known::REMEMBER.as_secs()
        ),
    ];
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    tracing::info!(user_id = user.id, session_id, "SESSION_STARTED");
    Ok(response)
}

async fn logout(State(state): State<AuthCtx>, auth: Authenticated) -> ApiResult<Response> {
    match auth.via {
        Via::Session { session_id } | Via::Jwt { session_id } => {
            sessions::revoke(&state.db, session_id).await?;
            state.auth.sessions.clear();
        }
        // An API token is revoked with DELETE /api/tokens/{id}, not by logging out.
        Via::ApiToken { .. } => {
            return Err(AppError::BadRequest(
                "an API token has no session; revoke it with DELETE /api/tokens/{id}".into(),
            ));
        }
    }
    let secure = if state.settings.is_production() {
        "; Secure"
    } else {
        ""
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        if let Ok(v) =
            HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0; SameSite=Lax{secure}"))
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(response)
}

async fn me(
    State(state): State<AuthCtx>,
    auth: Authenticated,
) -> ApiResult<Json<serde_json::Value>> {
    let user = match auth.via {
        Via::ApiToken { .. } => None,
        _ => users::get(&state.db, None, auth.caller.user_id).await?,
    };
    Ok(Json(json!({
        "auth": auth.via.name(),
        "role": auth.caller.role,
        "business_id": auth.caller.business_id,
        "user": user,
    })))
}
