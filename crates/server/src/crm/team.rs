//! A business's team, managed by its owner without the command line (#20, C3): invitations
//! and password resets as one-time links, disabling and enabling users, and a user's own
//! password change. The API (`team_api.rs`) and the web app's team page both call these,
//! so the rules live once:
//!
//! - a link's token is 32 random bytes, shown once and stored as its SHA-256 digest; it
//!   expires after [`LINK_TTL_MS`] and is used at most once (the store marks it used in the
//!   statement that finds it, inside the transaction that makes its effect);
//! - a disabled user is signed out at once (sessions, JWTs and the API tokens they made all
//!   stop, because every lookup joins the user) and cannot sign in;
//! - a business always keeps one enabled owner, and no one disables themself;
//! - every action is in the audit log.
//!
//! Errors name their field before a colon (`password: …`) in Hebrew, so the web app puts
//! each one beside its field.

use crate::auth::{AuthCtx, Caller, hash_password_blocking, token_digest};
use crate::error::{ApiResult, AppError};
use crate::store::user_links::{self, INVITE, NewLink, RESET, UserLink};
use crate::store::users::{self, Role, User, UserAuth};
use crate::store::{audit, businesses, sessions};

/// How long an invitation or a reset link stays good: three days.
pub const LINK_TTL_MS: i64 = 72 * 3600 * 1000;

/// A link just made: the stored row, the address to open, and whether it was e-mailed.
#[derive(Debug, serde::Serialize)]
pub struct Issued {
    #[serde(flatten)]
    pub link: UserLink,
    /// The one-time address (shown only now).
    pub url: String,
    /// True when the SMTP server took the e-mail.
    pub emailed: bool,
}

/// An address, lower-cased; a Hebrew error on `email` when it is not one.
pub fn check_email(email: &str) -> ApiResult<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.contains('@')
        });
    if e.is_empty() {
        Err(AppError::BadRequest("email: יש להזין כתובת אימייל".into()))
    } else if valid {
        Ok(e)
    } else {
        Err(AppError::BadRequest(
            "email: כתובת האימייל אינה תקינה (לדוגמה: dana@example.com)".into(),
        ))
    }
}

/// The password rules, in Hebrew on `field`: 10 to 200 characters, with a letter and a
/// digit (or any other non-letter), and not just the e-mail address.
pub fn check_new_password(field: &str, password: &str, email: &str) -> ApiResult<()> {
    let n = password.chars().count();
    let fail = |m: &str| Err(AppError::BadRequest(format!("{field}: {m}")));
    if n == 0 {
        return fail("יש לבחור סיסמה");
    }
    if n < 10 {
        return fail("הסיסמה קצרה מדי: לפחות 10 תווים");
    }
    if n > 200 {
        return fail("הסיסמה ארוכה מדי: עד 200 תווים");
    }
    if !password.chars().any(char::is_alphabetic) || password.chars().all(char::is_alphabetic) {
        return fail("הסיסמה צריכה לכלול גם אותיות וגם ספרה או סימן");
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return fail("הסיסמה לא יכולה להיות כתובת האימייל");
    }
    Ok(())
}

fn check_name(name: &str) -> ApiResult<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(AppError::BadRequest("name: יש להזין שם".into()));
    }
    if n.chars().count() > 200 {
        return Err(AppError::BadRequest(
            "name: השם ארוך מדי: עד 200 תווים".into(),
        ));
    }
    Ok(n.to_string())
}

/// The refusal of a link that is unknown, expired or used: one answer for all three.
fn link_gone() -> AppError {
    AppError::BadRequest(
        "token: הקישור אינו בתוקף: פג תוקפו או שכבר נעשה בו שימוש. בקשו קישור חדש".into(),
    )
}

/// Where the web app lives: `PUBLIC_BASE_URL`, else the request's own host.
pub fn base_url(ctx: &AuthCtx, headers: &axum::http::HeaderMap) -> String {
    if let Some(b) = &ctx.settings.public_base_url {
        return b.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

async fn record(
    ctx: &AuthCtx,
    caller: Option<&Caller>,
    business_id: Option<i64>,
    entity: &str,
    entity_id: i64,
    action: &str,
    changes: serde_json::Value,
) -> ApiResult<()> {
    audit::record(
        &ctx.db,
        audit::Entry {
            business_id,
            actor_user_id: caller.and_then(super::actor),
            actor_token_id: caller.and_then(super::actor_token),
            entity,
            entity_id,
            action,
            changes,
        },
    )
    .await?;
    Ok(())
}

/// Invites `email` into the business with `role` (owner or agent): a one-time link,
/// e-mailed when SMTP is configured. Owners and operators only.
pub async fn invite(
    ctx: &AuthCtx,
    caller: &Caller,
    business_id: i64,
    email: &str,
    role: Role,
    base: &str,
) -> ApiResult<Issued> {
    caller.require_owner()?;
    if role == Role::Operator {
        return Err(AppError::BadRequest(
            "role: אפשר להזמין בעלים או נציג/ה בלבד".into(),
        ));
    }
    let email = check_email(email)?;
    if let Some(holder) = users::by_email(&ctx.db, &email).await? {
        // Someone of another business has it: refused without saying so (#16.9).
        return Err(
            if caller.is_operator() || holder.business_id == Some(business_id) {
                AppError::clash("email", "email: כבר יש משתמש עם כתובת האימייל הזו")
            } else {
                AppError::BadRequest("email: אי אפשר להשתמש בכתובת הזו; בחרו כתובת אחרת".into())
            },
        );
    }
    let token = crate::config::random_hex(32);
    let link = user_links::create(
        &ctx.db,
        &NewLink {
            kind: INVITE,
            token_hash: &token_digest(&token),
            business_id: Some(business_id),
            user_id: None,
            email: &email,
            role: role.as_str(),
            created_by: super::actor(caller),
            ttl_ms: LINK_TTL_MS,
        },
    )
    .await?;
    let url = format!("{base}/app/invite/{token}");
    record(
        ctx,
        Some(caller),
        Some(business_id),
        "invitation",
        link.id,
        "create",
        serde_json::json!({ "email": email, "role": role.as_str() }),
    )
    .await?;
    let business = businesses::get(&ctx.db, business_id)
        .await?
        .map(|b| b.name)
        .unwrap_or_default();
    let emailed = super::team_mail::send(
        &ctx.settings,
        &email,
        super::team_mail::Kind::Invite,
        &business,
        &url,
    )
    .await;
    tracing::info!(business_id, invitation = link.id, emailed, "TEAM_INVITED");
    Ok(Issued { link, url, emailed })
}

/// Accepts an invitation: the new user with their name and password. The link is used in
/// the transaction that makes the user, so it works once.
pub async fn accept_invite(
    ctx: &AuthCtx,
    token: &str,
    name: &str,
    password: &str,
) -> ApiResult<UserAuth> {
    let digest = token_digest(token.trim());
    let pending = user_links::peek(&ctx.db, INVITE, &digest)
        .await?
        .ok_or_else(link_gone)?;
    let name = check_name(name)?;
    check_new_password("password", password, &pending.email)?;
    let hash = hash_password_blocking(password.to_string()).await?;
    let mut tx = ctx.db.pool.begin().await?;
    let link = user_links::take(&mut *tx, INVITE, &digest)
        .await?
        .ok_or_else(link_gone)?;
    let role = Role::parse(&link.role).ok_or_else(link_gone)?;
    let id = match users::create_on(&mut *tx, &link.email, &hash, role, link.business_id).await {
        Ok(id) => id,
        Err(e) if crate::store::is_unique_violation(&e) => {
            return Err(AppError::BadRequest(
                "email: כבר יש משתמש עם כתובת האימייל הזו; אפשר להיכנס או לאפס סיסמה".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    audit::record_on(
        &mut *tx,
        audit::Entry {
            business_id: link.business_id,
            actor_user_id: Some(id),
            actor_token_id: None,
            entity: "user",
            entity_id: id,
            action: "accept_invitation",
            changes: serde_json::json!({
                "invitation": link.id, "email": link.email, "role": link.role, "name": name,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    users::set_name(&ctx.db, id, Some(&name)).await?;
    tracing::info!(
        user_id = id,
        invitation = link.id,
        "TEAM_INVITATION_ACCEPTED"
    );
    users::by_email(&ctx.db, &link.email)
        .await?
        .ok_or(AppError::NotFound)
}

/// A password-reset link for a user of the scope (owners: their business's).
pub async fn issue_reset(
    ctx: &AuthCtx,
    caller: &Caller,
    scope: Option<i64>,
    user_id: i64,
    base: &str,
) -> ApiResult<Issued> {
    let user = users::get(&ctx.db, scope, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    caller.require_owner()?;
    if user.disabled_at.is_some() {
        return Err(AppError::BadRequest(
            "user: המשתמש מושבת; יש להפעיל אותו לפני איפוס סיסמה".into(),
        ));
    }
    // A new link replaces any earlier one.
    user_links::expire_for_user(&ctx.db, RESET, user.id).await?;
    let token = crate::config::random_hex(32);
    let link = user_links::create(
        &ctx.db,
        &NewLink {
            kind: RESET,
            token_hash: &token_digest(&token),
            business_id: user.business_id,
            user_id: Some(user.id),
            email: &user.email,
            role: &user.role,
            created_by: super::actor(caller),
            ttl_ms: LINK_TTL_MS,
        },
    )
    .await?;
    let url = format!("{base}/app/reset/{token}");
    record(
        ctx,
        Some(caller),
        user.business_id,
        "user",
        user.id,
        "password_reset_link",
        serde_json::json!({ "link": link.id }),
    )
    .await?;
    let business = match user.business_id {
        Some(b) => businesses::get(&ctx.db, b).await?.map(|b| b.name),
        None => None,
    }
    .unwrap_or_default();
    let emailed = super::team_mail::send(
        &ctx.settings,
        &user.email,
        super::team_mail::Kind::Reset,
        &business,
        &url,
    )
    .await;
    tracing::info!(
        user_id = user.id,
        link = link.id,
        emailed,
        "TEAM_RESET_ISSUED"
    );
    Ok(Issued { link, url, emailed })
}

/// The reset link's user, when the link is live (to show its form).
pub async fn peek(ctx: &AuthCtx, kind: &str, token: &str) -> ApiResult<UserLink> {
    user_links::peek(&ctx.db, kind, &token_digest(token.trim()))
        .await?
        .ok_or_else(link_gone)
}

/// Uses a reset link: the user's new password; every session they had ends.
pub async fn accept_reset(ctx: &AuthCtx, token: &str, password: &str) -> ApiResult<UserAuth> {
    let digest = token_digest(token.trim());
    let pending = user_links::peek(&ctx.db, RESET, &digest)
        .await?
        .ok_or_else(link_gone)?;
    check_new_password("password", password, &pending.email)?;
    let hash = hash_password_blocking(password.to_string()).await?;
    let mut tx = ctx.db.pool.begin().await?;
    let link = user_links::take(&mut *tx, RESET, &digest)
        .await?
        .ok_or_else(link_gone)?;
    let user_id = link.user_id.ok_or_else(link_gone)?;
    if !users::set_password_on(&mut *tx, user_id, &hash).await? {
        return Err(link_gone());
    }
    audit::record_on(
        &mut *tx,
        audit::Entry {
            business_id: link.business_id,
            actor_user_id: Some(user_id),
            actor_token_id: None,
            entity: "user",
            entity_id: user_id,
            action: "password_reset",
            changes: serde_json::json!({ "link": link.id, "password": "changed" }),
        },
    )
    .await?;
    tx.commit().await?;
    sessions::revoke_all_for_user(&ctx.db, user_id).await?;
    ctx.auth.sessions.clear();
    let user = users::by_email(&ctx.db, &link.email)
        .await?
        .filter(|u| u.id == user_id && u.disabled_at.is_none())
        .ok_or_else(link_gone)?;
    tracing::info!(user_id, "TEAM_PASSWORD_RESET");
    Ok(user)
}

/// Disables (or enables) a user of the scope. A business keeps one enabled owner, and no
/// one disables themself; a disabled user's sessions and tokens stop at once.
pub async fn set_disabled(
    ctx: &AuthCtx,
    caller: &Caller,
    scope: Option<i64>,
    user_id: i64,
    disabled: bool,
) -> ApiResult<User> {
    let before = users::get(&ctx.db, scope, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    caller.require_owner()?;
    if disabled {
        if user_id == caller.user_id {
            return Err(AppError::BadRequest("user: אי אפשר להשבית את עצמך".into()));
        }
        if let Some(b) = before.business_id
            && before.role == Role::Owner.as_str()
            && users::other_active_owners(&ctx.db, b, user_id).await? == 0
        {
            return Err(AppError::BadRequest(
                "user: זה הבעלים הפעיל האחרון של העסק; יש להוסיף בעלים אחר לפני ההשבתה".into(),
            ));
        }
    }
    let after = users::set_disabled(&ctx.db, scope, user_id, disabled)
        .await?
        .ok_or(AppError::NotFound)?;
    if disabled {
        sessions::revoke_all_for_user(&ctx.db, user_id).await?;
        user_links::expire_for_user(&ctx.db, RESET, user_id).await?;
    }
    // Remembered sessions are forgotten, so the next request asks the database.
    ctx.auth.sessions.clear();
    if before.disabled_at.is_some() != disabled {
        record(
            ctx,
            Some(caller),
            after.business_id,
            "user",
            user_id,
            if disabled { "disable" } else { "enable" },
            serde_json::json!({ "disabled": [before.disabled_at.is_some(), disabled] }),
        )
        .await?;
    }
    tracing::info!(user_id, disabled, "TEAM_USER_DISABLED");
    Ok(after)
}

/// Refuses a role change that would leave the business without an enabled owner.
pub async fn check_last_owner(ctx: &AuthCtx, before: &User, new_role: Role) -> ApiResult<()> {
    if before.role == Role::Owner.as_str()
        && new_role != Role::Owner
        && before.disabled_at.is_none()
        && let Some(b) = before.business_id
        && users::other_active_owners(&ctx.db, b, before.id).await? == 0
    {
        return Err(AppError::BadRequest(
            "role: זה הבעלים הפעיל האחרון של העסק; יש להוסיף בעלים אחר לפני שינוי התפקיד".into(),
        ));
    }
    Ok(())
}

/// A user changes their own password: the current one is required (and wrong answers
/// count as failed logins); every other session of theirs ends, `keep` stays.
pub async fn change_own_password(
    ctx: &AuthCtx,
    caller: &Caller,
    keep_session: Option<i64>,
    current: &str,
    new: &str,
) -> ApiResult<()> {
    if caller.token_id.is_some() {
        return Err(AppError::Forbidden);
    }
    let email = users::email(&ctx.db, caller.user_id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if current.is_empty() {
        return Err(AppError::BadRequest(
            "current_password: יש להזין את הסיסמה הנוכחית".into(),
        ));
    }
    let key = format!("account:{email}");
    let limiter = &ctx.auth.limiter;
    let now = std::time::Instant::now();
    if limiter
        .check(&key, crate::auth::LOGIN_FAILURES_PER_ACCOUNT, now)
        .is_err()
    {
        return Err(AppError::BadRequest(
            "current_password: יותר מדי ניסיונות שגויים; נסו שוב בעוד דקה".into(),
        ));
    }
    if crate::auth::check_credentials(ctx, &email, current)
        .await?
        .is_none()
    {
        limiter.record(&key, now);
        return Err(AppError::BadRequest(
            "current_password: הסיסמה הנוכחית שגויה".into(),
        ));
    }
    check_new_password("new_password", new, &email)?;
    if new == current {
        return Err(AppError::BadRequest(
            "new_password: הסיסמה החדשה זהה לנוכחית".into(),
        ));
    }
    let hash = hash_password_blocking(new.to_string()).await?;
    users::set_password_on(&ctx.db.pool, caller.user_id, &hash).await?;
    match keep_session {
        Some(keep) => sessions::revoke_others(&ctx.db, caller.user_id, keep).await?,
        None => sessions::revoke_all_for_user(&ctx.db, caller.user_id).await?,
    };
    ctx.auth.sessions.clear();
    record(
        ctx,
        Some(caller),
        caller.business_id,
        "user",
        caller.user_id,
        "password_change",
        serde_json::json!({ "password": "changed" }),
    )
    .await?;
    tracing::info!(user_id = caller.user_id, "TEAM_OWN_PASSWORD_CHANGED");
    Ok(())
}

/// Splits an error into the field it names and its message (for the web app's forms).
pub fn field_error(e: &AppError) -> (String, String) {
    let text = e.to_string();
    match e {
        AppError::BadRequest(_) | AppError::Clash { .. } => match text.split_once(": ") {
            Some((f, m)) if f.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
                (f.to_string(), m.to_string())
            }
            _ => (String::new(), text),
        },
        AppError::NotFound => (String::new(), "המשתמש לא נמצא".into()),
        AppError::Forbidden => (String::new(), "אין לך הרשאה לפעולה הזו".into()),
        _ => (String::new(), "משהו השתבש; נסו שוב בעוד רגע".into()),
    }
}

/// Sets a user's role (owner or agent) within the scope; the last enabled owner keeps
/// theirs. Their sessions end, so the new role holds from the next request.
pub async fn set_role(
    ctx: &AuthCtx,
    caller: &Caller,
    scope: Option<i64>,
    user_id: i64,
    role: Role,
) -> ApiResult<User> {
    let before = users::get(&ctx.db, scope, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    caller.require_owner()?;
    if role == Role::Operator || before.role == Role::Operator.as_str() {
        return Err(AppError::BadRequest(
            "role: אפשר לבחור בעלים או נציג/ה בלבד".into(),
        ));
    }
    if before.role == role.as_str() {
        return Ok(before);
    }
    check_last_owner(ctx, &before, role).await?;
    let after = users::update(
        &ctx.db,
        scope,
        user_id,
        &users::UserUpdate {
            email: &before.email,
            name: before.name.as_deref(),
            role,
            business_id: before.business_id,
            password_hash: None,
        },
    )
    .await?
    .ok_or(AppError::NotFound)?;
    sessions::revoke_all_for_user(&ctx.db, user_id).await?;
    ctx.auth.sessions.clear();
    record(
        ctx,
        Some(caller),
        after.business_id,
        "user",
        user_id,
        "update",
        serde_json::json!({ "role": [before.role, after.role] }),
    )
    .await?;
    Ok(after)
}
