//! `/api/users`: operators manage every user; an owner manages its business's owners and
//! agents; an agent may only read its business's users (to assign leads).
//!
//! Another business's user answers 404, and an e-mail another business's user has is
//! refused without saying so. A new password or role revokes the user's sessions; one's
//! own new password takes the current one.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::patch::{self, clean, max_len};
use crate::auth::{Caller, business_param, hash_password_blocking};
use crate::crm::state::CrmState;
use crate::error::{ApiResult, AppError};
use crate::store::users::{self, Role, User, UserUpdate};
use crate::store::{self, audit, businesses, sessions};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/users", get(list).post(create))
        .route("/api/users/{id}", get(read).patch(update).delete(remove))
}

/// The caller and the users they may see: one business, or (operators) all of them.
pub struct UserScope {
    pub caller: Caller,
    pub scope: Option<i64>,
}

impl<S> FromRequestParts<S> for UserScope
where
    S: Send + Sync,
    crate::auth::AuthCtx: axum::extract::FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let asked = business_param(parts)?;
        let scope = if caller.is_operator() {
            asked
        } else {
            Some(crate::auth::own_business(&caller, asked)?)
        };
        Ok(UserScope { caller, scope })
    }
}

fn audit_view(u: &User) -> serde_json::Value {
    serde_json::to_value(u).unwrap_or_default()
}

async fn list(State(state): State<CrmState>, s: UserScope) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(users::list(&state.db, s.scope).await?))
}

async fn read(
    State(state): State<CrmState>,
    s: UserScope,
    Path(id): Path<i64>,
) -> ApiResult<Json<User>> {
    users::get(&state.db, s.scope, id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: Role,
    pub business_id: Option<i64>,
    pub name: Option<String>,
}

fn check_email(email: &str) -> ApiResult<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if valid {
        Ok(e)
    } else {
        Err(AppError::BadRequest("email: not an email address".into()))
    }
}

fn check_password(p: &str) -> ApiResult<()> {
    let n = p.chars().count();
    if (8..=200).contains(&n) {
        Ok(())
    } else {
        Err(AppError::BadRequest("password: 8 to 200 characters".into()))
    }
}

/// The business a user of `role` ends up in, given who is asking.
async fn place(
    state: &CrmState,
    caller: &Caller,
    role: Role,
    asked: Option<i64>,
) -> ApiResult<Option<i64>> {
    if !caller.is_operator() {
        // Owners add owners and agents to their own business only.
        if role == Role::Operator {
            return Err(AppError::Forbidden);
        }
        let own = caller.business_id.ok_or(AppError::Forbidden)?;
        if asked.is_some_and(|a| a != own) {
            return Err(AppError::NotFound);
        }
        return Ok(Some(own));
    }
    match (role, asked) {
        (Role::Operator, Some(_)) => Err(AppError::BadRequest(
            "business_id: an operator belongs to no business".into(),
        )),
        (Role::Operator, None) => Ok(None),
        (_, None) => Err(AppError::BadRequest(
            "business_id is required for an owner or agent".into(),
        )),
        (_, Some(b)) => {
            if businesses::get(&state.db, b).await?.is_none() {
                return Err(AppError::BadRequest(format!(
                    "business_id: no business {b}"
                )));
            }
            Ok(Some(b))
        }
    }
}

/// The refusal of an address some other business's user has: the same words whatever the
/// reason, so an owner learns nothing about other businesses' users (#16.9).
const EMAIL_UNUSABLE: &str = "email: this address cannot be used; choose another";

/// A write that failed on the unique e-mail: 409 when the caller may see the user who has
/// it (their own business's, or anyone's for an operator), else [`EMAIL_UNUSABLE`].
async fn email_conflict(
    state: &CrmState,
    caller: &Caller,
    email: &str,
    e: sqlx::Error,
) -> AppError {
    if !store::is_unique_violation(&e) {
        return e.into();
    }
    let holder = match users::by_email(&state.db, email).await {
        Ok(h) => h,
        Err(e) => return e.into(),
    };
    let visible = caller.is_operator()
        || holder.is_some_and(|h| h.business_id.is_some() && h.business_id == caller.business_id);
    if visible {
        AppError::clash("email", "email: a user with this email already exists")
    } else {
        AppError::BadRequest(EMAIL_UNUSABLE.into())
    }
}

/// Changing one's own password takes the current one (#16.9): a session left open, or a
/// stolen cookie, must not be enough to take the account over. Wrong answers count as
/// failed logins of the account.
async fn check_current_password(
    state: &CrmState,
    email: &str,
    current: Option<&str>,
) -> ApiResult<()> {
    let current = current.ok_or_else(|| {
        AppError::BadRequest("current_password: required to change your own password".into())
    })?;
    let limiter = &state.auth.limiter;
    let key = format!("account:{}", email.trim().to_lowercase());
    let now = std::time::Instant::now();
    if limiter
        .check(&key, crate::auth::LOGIN_FAILURES_PER_ACCOUNT, now)
        .is_err()
    {
        return Err(AppError::BadRequest(
            "current_password: too many wrong attempts; try again in a minute".into(),
        ));
    }
    if crate::auth::check_credentials(&axum::extract::FromRef::from_ref(state), email, current)
        .await?
        .is_none()
    {
        limiter.record(&key, now);
        return Err(AppError::BadRequest(
            "current_password: not your current password".into(),
        ));
    }
    Ok(())
}

async fn create(
    State(state): State<CrmState>,
    s: UserScope,
    Json(body): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    s.caller.require_owner()?;
    let email = check_email(&body.email)?;
    check_password(&body.password)?;
    let name = clean(body.name);
    max_len("name", name.as_deref(), 200)?;
    let business_id = place(&state, &s.caller, body.role, body.business_id.or(s.scope)).await?;
    let hash = hash_password_blocking(body.password).await?;
    let id = match users::create(&state.db, &email, &hash, body.role, business_id).await {
        Ok(id) => id,
        Err(e) => return Err(email_conflict(&state, &s.caller, &email, e).await),
    };
    users::set_name(&state.db, id, name.as_deref()).await?;
    let user = users::get(&state.db, None, id)
        .await?
        .ok_or(AppError::NotFound)?;
    audit::record(
        &state.db,
        audit::Entry {
            business_id: user.business_id,
            actor_user_id: super::actor(&s.caller),
            actor_token_id: super::actor_token(&s.caller),
            entity: "user",
            entity_id: id,
            action: "create",
            changes: audit_view(&user),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    pub email: Option<String>,
    pub password: Option<String>,
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "patch::some")]
    pub business_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "patch::some")]
    pub name: Option<Option<String>>,
    /// Required with `password` when the caller changes their own.
    pub current_password: Option<String>,
}

async fn update(
    State(state): State<CrmState>,
    s: UserScope,
    Path(id): Path<i64>,
    Json(body): Json<UserPatch>,
) -> ApiResult<Json<User>> {
    let before = users::get(&state.db, s.scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    s.caller.require_owner()?;
    let old_role = Role::parse(&before.role).ok_or(AppError::NotFound)?;
    let role = body.role.unwrap_or(old_role);
    // A business keeps one enabled owner (#20).
    super::team::check_last_owner(&axum::extract::FromRef::from_ref(&state), &before, role).await?;
    let asked_business = match body.business_id {
        Some(b) if s.caller.is_operator() => b,
        Some(b) if b != before.business_id => return Err(AppError::Forbidden),
        _ => before.business_id,
    };
    let business_id = place(&state, &s.caller, role, asked_business).await?;
    let email = match &body.email {
        Some(e) => check_email(e)?,
        None => before.email.clone(),
    };
    let name = match body.name {
        Some(n) => clean(n),
        None => before.name.clone(),
    };
    max_len("name", name.as_deref(), 200)?;
    let hash = match body.password {
        Some(p) => {
            check_password(&p)?;
            if id == s.caller.user_id {
                check_current_password(&state, &before.email, body.current_password.as_deref())
                    .await?;
            }
            Some(hash_password_blocking(p).await?)
        }
        None => None,
    };
    let after = users::update(
        &state.db,
        s.scope,
        id,
        &UserUpdate {
            email: &email,
            name: name.as_deref(),
            role,
            business_id,
            password_hash: hash.as_deref(),
        },
    )
    .await;
    let after = match after {
        Ok(a) => a.ok_or(AppError::NotFound)?,
        Err(e) => return Err(email_conflict(&state, &s.caller, &email, e).await),
    };
    if hash.is_some() || role != old_role || business_id != before.business_id {
        sessions::revoke_all_for_user(&state.db, id).await?;
        state.auth.sessions.clear();
    }
    let mut changes = audit::diff(&audit_view(&before), &audit_view(&after));
    if hash.is_some() {
        changes["password"] = serde_json::json!("changed");
    }
    audit::record(
        &state.db,
        audit::Entry {
            business_id: after.business_id,
            actor_user_id: super::actor(&s.caller),
            actor_token_id: super::actor_token(&s.caller),
            entity: "user",
            entity_id: id,
            action: "update",
            changes,
        },
    )
    .await?;
    Ok(Json(after))
}

async fn remove(
    State(state): State<CrmState>,
    s: UserScope,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let before = users::get(&state.db, s.scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    s.caller.require_owner()?;
    if id == s.caller.user_id {
        return Err(AppError::BadRequest("you cannot delete yourself".into()));
    }
    if !users::delete(&state.db, s.scope, id).await? {
        return Err(AppError::NotFound);
    }
    // Their sessions went with them.
    state.auth.sessions.clear();
    audit::record(
        &state.db,
        audit::Entry {
            business_id: before.business_id,
            actor_user_id: super::actor(&s.caller),
            actor_token_id: super::actor_token(&s.caller),
            entity: "user",
            entity_id: id,
            action: "delete",
            changes: audit_view(&before),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
