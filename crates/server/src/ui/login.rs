//! Sign in and out.
//!
//! The login page is a small form whose JS posts `{email, password}` as JSON to
//! `/api/auth/login` (which sets the HttpOnly session cookie and the CSRF cookie) and then
//! goes where the viewer was headed. Logout is a same-origin form post: the session is
//! revoked in the sessions table when that table exists, and both cookies are cleared.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::page::{Layout, ok};
use super::viewer::MaybeViewer;
use crate::ui::state::WebState;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    l: Layout,
    next: String,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path inside the app may follow a login (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/app") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/app".to_string(),
    }
}

pub async fn page(Query(q): Query<NextQuery>) -> Response {
    ok(&LoginPage {
        l: Layout::new("כניסה", "login", None),
        next: safe_next(q.next.as_deref()),
    })
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    l: Layout,
}

pub async fn logout_page(viewer: MaybeViewer) -> Response {
    ok(&LogoutPage {
        l: Layout::new("יציאה", "", viewer.0.map(|v| v.nav)),
    })
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

pub async fn logout(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers, "mokdan_session")
        && state.ui.tables.sessions(&state.db).await
    {
        let digest = hex::encode(Sha256::digest(token.as_bytes()));
        let done = crate::store::sessions::revoke_by_token_hash(&state.db, &digest).await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "UI_LOGOUT: cannot revoke the session");
        }
        // The cookie stops working now, not when the session memory next expires (#16.9).
        state.auth.sessions.clear();
    }
    let mut res = Redirect::to("/app/login").into_response();
    for name in ["mokdan_session", "mokdan_csrf"] {
        if let Ok(v) = HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0; SameSite=Lax")) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}
