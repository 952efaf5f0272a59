//! `GET/PUT /api/users/{id}/notifications` (#22): a user's notification preferences.
//!
//! Anyone signed in reads and changes their own; an owner those of their business's users;
//! an operator anyone's. Another business's user is 404, exactly like one that does not
//! exist (C4), and an agent asking about a colleague of their own business is 403.
//! Operators have no business and so no notifications of their own.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::prefs::{Prefs, PrefsUpdate};
use super::state::NotifyState;
use crate::crm::users::UserScope;
use crate::error::{ApiResult, AppError};
use crate::store::Db;
use crate::store::notify as store;
use crate::store::users::{self, Role};

pub fn router() -> Router<NotifyState> {
    Router::new().route("/api/users/{id}/notifications", get(read).put(update))
}

/// A user's preferences as the API answers them.
#[derive(Debug, Serialize)]
pub struct PrefsView {
    pub user_id: i64,
    /// Where e-mail goes: the user's sign-in address.
    pub email: String,
    /// True while the user has not chosen (the role's default applies).
    pub is_default: bool,
    #[serde(flatten)]
    pub prefs: Prefs,
    pub updated_at: Option<i64>,
}

/// The user `id` as the caller may see them, after the scope and role checks.
async fn target(state: &NotifyState, s: &UserScope, id: i64) -> ApiResult<users::User> {
    let user = users::get(&state.db, s.scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if id != s.caller.user_id && s.caller.role == Role::Agent {
        return Err(AppError::Forbidden);
    }
    if user.business_id.is_none() {
        return Err(AppError::BadRequest(
            "an operator belongs to no business and gets no notifications".into(),
        ));
    }
    Ok(user)
}

/// A user's preferences: stored, or their role's default.
pub async fn view_of(db: &Db, user: &users::User) -> ApiResult<PrefsView> {
    let row = store::get(db, user.id).await?;
    Ok(PrefsView {
        user_id: user.id,
        email: user.email.clone(),
        is_default: row.is_none(),
        prefs: match &row {
            Some(r) => Prefs::from_row(r),
            None => Prefs::default_for(Role::parse(&user.role)),
        },
        updated_at: row.map(|r| r.updated_at),
    })
}

async fn read(
    State(state): State<NotifyState>,
    s: UserScope,
    Path(id): Path<i64>,
) -> ApiResult<Json<PrefsView>> {
    let user = target(&state, &s, id).await?;
    Ok(Json(view_of(&state.db, &user).await?))
}

/// Applies `update` to the user's preferences and stores them.
pub async fn save(db: &Db, user: &users::User, update: PrefsUpdate) -> ApiResult<PrefsView> {
    let current = view_of(db, user).await?;
    let next = update
        .apply(&current.prefs)
        .map_err(|e| AppError::BadRequest(e.0))?;
    store::put(db, &next.to_row(user.id)).await?;
    tracing::info!(user_id = user.id, "NOTIFY_PREFS_SAVED");
    view_of(db, user).await
}

async fn update(
    State(state): State<NotifyState>,
    s: UserScope,
    Path(id): Path<i64>,
    Json(body): Json<PrefsUpdate>,
) -> ApiResult<Json<PrefsView>> {
    let user = target(&state, &s, id).await?;
    Ok(Json(save(&state.db, &user, body).await?))
}
