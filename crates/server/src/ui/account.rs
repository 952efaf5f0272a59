//! "My account" (#20): any signed-in user changes their own password, with the current one;
//! the device they do it on stays signed in and every other session of theirs ends. Errors
//! are in Hebrew beside their fields; the rules are `crm/team.rs`'s.

use askama::Template;
use axum::Form;
use axum::extract::{FromRef, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::page::{Layout, PageError, PageResult, ok, render};
use super::team::Errors;
use super::viewer::Viewer;
use crate::auth::{AuthCtx, Authenticated, Via};
use crate::crm::team;
use crate::error::AppError;
use crate::ui::state::WebState;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    l: Layout,
    email: String,
    saved: bool,
    errors: Errors,
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn page(v: Viewer, Query(q): Query<SavedQuery>) -> PageResult {
    Ok(ok(&AccountPage {
        email: v.nav.email.clone(),
        l: Layout::new("החשבון שלי", "account", Some(v.nav)),
        saved: q.saved.is_some(),
        errors: Errors::default(),
    }))
}

#[derive(Deserialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    password2: String,
}

pub async fn save(
    State(state): State<WebState>,
    v: Viewer,
    auth: Authenticated,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let ctx = AuthCtx::from_ref(&state);
    let keep = match auth.via {
        Via::Session { session_id } | Via::Jwt { session_id } => Some(session_id),
        Via::ApiToken { .. } => None,
    };
    let result = if f.new_password != f.password2 {
        Err(AppError::BadRequest("password2: הסיסמאות אינן זהות".into()))
    } else {
        team::change_own_password(&ctx, &v.caller, keep, &f.current_password, &f.new_password).await
    };
    match result {
        Ok(()) => Ok(Redirect::to("/app/account?saved=1").into_response()),
        Err(e @ (AppError::BadRequest(_) | AppError::Forbidden)) => {
            let mut errors = Errors::from(&e);
            if let Some(m) = e.to_string().strip_prefix("password2: ") {
                errors.general.clear();
                errors.password2 = m.to_string();
            }
            Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &AccountPage {
                    email: v.nav.email.clone(),
                    l: Layout::new("החשבון שלי", "account", Some(v.nav)),
                    saved: false,
                    errors,
                },
            ))
        }
        Err(e) => Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    }
}
