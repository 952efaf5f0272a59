//! The team page (#20, C3): an owner invites users by e-mail, sets their role, disables or
//! enables them and sends a password-reset link, all in the web app; and the pages a link
//! opens (choose a name and password, or a new password), which sign the user in. The rules
//! are the API's (`crm/team.rs`); this file only shows them in Hebrew, each error beside
//! its field. Without SMTP (or when sending fails) the one-time link is shown to copy.

use askama::Template;
use axum::Form;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{Layout, NavUser, PageError, PageResult, ok, render};
use super::time;
use super::viewer::OwnerViewer;
use crate::auth::AuthCtx;
use crate::auth::routes::{ClientIp, begin_session};
use crate::crm::team::{self, field_error};
use crate::error::AppError;
use crate::store::user_links::{INVITE, RESET};
use crate::store::users::{self, Role};
use crate::ui::state::WebState;

/// A user as the team page lists them.
pub struct Member {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: &'static str,
    pub is_owner: bool,
    pub disabled: bool,
    pub me: bool,
    pub added: String,
}

pub struct Pending {
    pub email: String,
    pub role: &'static str,
    pub expires: String,
}

/// Errors beside the fields, in Hebrew; `general` above the form.
#[derive(Default)]
pub struct Errors {
    pub email: String,
    pub role: String,
    pub name: String,
    pub password: String,
    pub password2: String,
    pub current_password: String,
    pub new_password: String,
    pub general: String,
}

impl Errors {
    pub fn from(e: &AppError) -> Self {
        let (field, message) = field_error(e);
        let mut x = Errors::default();
        match field.as_str() {
            "email" => x.email = message,
            "role" => x.role = message,
            "name" => x.name = message,
            "password" => x.password = message,
            "current_password" => x.current_password = message,
            "new_password" => x.new_password = message,
            _ => x.general = message,
        }
        x
    }
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    l: Layout,
    business: String,
    members: Vec<Member>,
    pending: Vec<Pending>,
    email: String,
    role: String,
    errors: Errors,
    /// What was just done, in a sentence.
    notice: String,
    /// The address it concerns, shown left-to-right after the sentence.
    notice_who: String,
    /// A link to pass on by hand, when it was not e-mailed.
    link: String,
    support_can_edit: bool,
}

fn role_label(role: &str) -> &'static str {
    Role::parse(role).map(NavUser::role_label).unwrap_or("")
}

async fn team_page(
    state: &WebState,
    o: &OwnerViewer,
    email: String,
    role: String,
    errors: Errors,
    notice: String,
    shown: Shown,
) -> Result<TeamPage, PageError> {
    let b = &o.0;
    let business = crate::store::businesses::get(&state.db, b.business_id)
        .await?
        .ok_or_else(|| PageError::NotFound(Some(b.v.nav.clone())))?;
    let members = users::list(&state.db, Some(b.business_id))
        .await?
        .into_iter()
        .map(|u| Member {
            id: u.id,
            name: u.name.unwrap_or_default(),
            role: role_label(&u.role),
            is_owner: u.role == "owner",
            disabled: u.disabled_at.is_some(),
            me: u.id == b.v.caller.user_id,
            added: time::date(u.created_at),
            email: u.email,
        })
        .collect();
    let pending = crate::store::user_links::pending_invites(&state.db, b.business_id)
        .await?
        .into_iter()
        .map(|p| Pending {
            role: role_label(&p.role),
            expires: time::datetime(p.expires_at),
            email: p.email,
        })
        .collect();
    let support_can_edit =
        crate::store::businesses::support_can_edit(&state.db, b.business_id).await?;
    Ok(TeamPage {
        l: Layout::new("צוות", "team", Some(b.v.nav.clone())),
        business: business.name,
        members,
        pending,
        email,
        role,
        errors,
        notice_who: shown.who,
        notice,
        link: shown.link,
        support_can_edit,
    })
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn page(
    State(state): State<WebState>,
    o: OwnerViewer,
    axum::extract::Query(q): axum::extract::Query<DoneQuery>,
) -> PageResult {
    let notice = if q.done.is_some() {
        "השינוי נשמר.".to_string()
    } else {
        String::new()
    };
    let p = team_page(
        &state,
        &o,
        String::new(),
        "agent".into(),
        Errors::default(),
        notice,
        Shown::default(),
    )
    .await?;
    Ok(ok(&p))
}

#[derive(Deserialize, Default)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// The notice and the link to show after a link was made (the address is shown apart,
/// left-to-right, by the template).
fn issued_notice(issued: &team::Issued, what: &str) -> (String, Shown) {
    let who = issued.link.email.clone();
    if issued.emailed {
        (
            format!("{what} נשלח באימייל (תקף ל-72 שעות) אל:"),
            Shown {
                link: String::new(),
                who,
            },
        )
    } else {
        (
            format!(
                "{what} נוצר, אך לא נשלח באימייל (שליחת אימייל אינה מוגדרת או נכשלה). העתיקו \
                 את הקישור ושלחו אותו בעצמכם: הוא תקף ל-72 שעות ולשימוש אחד. הנמען/ת:"
            ),
            Shown {
                link: issued.url.clone(),
                who,
            },
        )
    }
}

/// A link to pass on by hand (empty when it was e-mailed) and the address it is for.
#[derive(Default)]
struct Shown {
    link: String,
    who: String,
}

pub async fn invite(
    State(state): State<WebState>,
    o: OwnerViewer,
    headers: HeaderMap,
    Form(f): Form<InviteForm>,
) -> PageResult {
    let ctx = AuthCtx::from_ref(&state);
    let role = match f.role.as_str() {
        "owner" => Some(Role::Owner),
        "agent" => Some(Role::Agent),
        _ => None,
    };
    let result = match role {
        Some(role) => {
            let base = team::base_url(&ctx, &headers);
            team::invite(&ctx, &o.0.v.caller, o.0.business_id, &f.email, role, &base).await
        }
        None => Err(AppError::BadRequest("role: יש לבחור תפקיד".into())),
    };
    match result {
        Ok(issued) => {
            let (notice, shown) = issued_notice(&issued, "קישור ההזמנה");
            let p = team_page(
                &state,
                &o,
                String::new(),
                "agent".into(),
                Errors::default(),
                notice,
                shown,
            )
            .await?;
            Ok(render(StatusCode::CREATED, &p))
        }
        Err(e @ (AppError::BadRequest(_) | AppError::Clash { .. })) => {
            let p = team_page(
                &state,
                &o,
                f.email,
                f.role,
                Errors::from(&e),
                String::new(),
                Shown::default(),
            )
            .await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    }
}

#[derive(Deserialize, Default)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// An action on one user answers the team page with what happened, or why not.
async fn after_action(
    state: &WebState,
    o: &OwnerViewer,
    result: Result<Option<(String, Shown)>, AppError>,
) -> PageResult {
    match result {
        Ok(None) => Ok(Redirect::to("/app/biz/team?done=1").into_response()),
        Ok(Some((notice, shown))) => {
            let p = team_page(
                state,
                o,
                String::new(),
                "agent".into(),
                Errors::default(),
                notice,
                shown,
            )
            .await?;
            Ok(ok(&p))
        }
        Err(AppError::NotFound) => Err(PageError::NotFound(Some(o.0.v.nav.clone()))),
        Err(e @ (AppError::BadRequest(_) | AppError::Clash { .. } | AppError::Forbidden)) => {
            let errors = Errors {
                general: field_error(&e).1,
                ..Errors::default()
            };
            let p = team_page(
                state,
                o,
                String::new(),
                "agent".into(),
                errors,
                String::new(),
                Shown::default(),
            )
            .await?;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    }
}

pub async fn set_role(
    State(state): State<WebState>,
    o: OwnerViewer,
    Path(id): Path<i64>,
    Form(f): Form<RoleForm>,
) -> PageResult {
    let ctx = AuthCtx::from_ref(&state);
    let result = match Role::parse(&f.role).filter(|r| *r != Role::Operator) {
        Some(role) => team::set_role(&ctx, &o.0.v.caller, Some(o.0.business_id), id, role)
            .await
            .map(|_| None),
        None => Err(AppError::BadRequest("role: יש לבחור תפקיד".into())),
    };
    after_action(&state, &o, result).await
}

pub async fn disable(
    State(state): State<WebState>,
    o: OwnerViewer,
    Path(id): Path<i64>,
) -> PageResult {
    let ctx = AuthCtx::from_ref(&state);
    let result = team::set_disabled(&ctx, &o.0.v.caller, Some(o.0.business_id), id, true)
        .await
        .map(|_| None);
    after_action(&state, &o, result).await
}

pub async fn enable(
    State(state): State<WebState>,
    o: OwnerViewer,
    Path(id): Path<i64>,
) -> PageResult {
    let ctx = AuthCtx::from_ref(&state);
    let result = team::set_disabled(&ctx, &o.0.v.caller, Some(o.0.business_id), id, false)
        .await
        .map(|_| None);
    after_action(&state, &o, result).await
}

pub async fn reset(
    State(state): State<WebState>,
    o: OwnerViewer,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> PageResult {
    let ctx = AuthCtx::from_ref(&state);
    let base = team::base_url(&ctx, &headers);
    let result = team::issue_reset(&ctx, &o.0.v.caller, Some(o.0.business_id), id, &base)
        .await
        .map(|issued| Some(issued_notice(&issued, "קישור לאיפוס סיסמה")));
    after_action(&state, &o, result).await
}

#[derive(Deserialize, Default)]
pub struct SupportForm {
    support_can_edit: Option<String>,
}

/// The owner lets the service's support edit the CRM while helping, or not (read-only).
pub async fn support(
    State(state): State<WebState>,
    o: OwnerViewer,
    Form(f): Form<SupportForm>,
) -> PageResult {
    let allow = f.support_can_edit.is_some();
    crate::store::businesses::set_support_can_edit(&state.db, o.0.business_id, allow).await?;
    crate::store::audit::record(
        &state.db,
        crate::store::audit::Entry {
            business_id: Some(o.0.business_id),
            actor_user_id: Some(o.0.v.caller.user_id),
            actor_token_id: None,
            entity: "business",
            entity_id: o.0.business_id,
            action: "support_access",
            changes: serde_json::json!({ "support_can_edit": allow }),
        },
    )
    .await?;
    Ok(Redirect::to("/app/biz/team?done=1").into_response())
}

/// The page a one-time link opens: an invitation's name and password, or a new password.
#[derive(Template)]
#[template(path = "link_form.html")]
struct LinkPage {
    l: Layout,
    invite: bool,
    valid: bool,
    action: String,
    email: String,
    business: String,
    name: String,
    errors: Errors,
}

async fn link_page(
    state: &WebState,
    kind: &str,
    token: &str,
    name: String,
    errors: Errors,
) -> Result<LinkPage, PageError> {
    let ctx = AuthCtx::from_ref(state);
    let link = team::peek(&ctx, kind, token).await.ok();
    let business = match link.as_ref().and_then(|l| l.business_id) {
        Some(b) => crate::store::businesses::get(&state.db, b)
            .await?
            .map(|b| b.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let invite = kind == INVITE;
    let path = if invite { "invite" } else { "reset" };
    Ok(LinkPage {
        l: Layout::new(
            if invite {
                "הצטרפות לצוות"
            } else {
                "בחירת סיסמה חדשה"
            },
            "",
            None,
        ),
        invite,
        valid: link.is_some(),
        action: format!("/app/{path}/{}", token.trim()),
        email: link.map(|l| l.email).unwrap_or_default(),
        business,
        name,
        errors,
    })
}

fn token_ok(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

pub async fn invite_page(State(state): State<WebState>, Path(token): Path<String>) -> PageResult {
    let token = if token_ok(&token) {
        token
    } else {
        String::new()
    };
    let p = link_page(&state, INVITE, &token, String::new(), Errors::default()).await?;
    let status = if p.valid {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    Ok(render(status, &p))
}

pub async fn reset_page(State(state): State<WebState>, Path(token): Path<String>) -> PageResult {
    let token = if token_ok(&token) {
        token
    } else {
        String::new()
    };
    let p = link_page(&state, RESET, &token, String::new(), Errors::default()).await?;
    let status = if p.valid {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    Ok(render(status, &p))
}

#[derive(Deserialize, Default)]
pub struct LinkForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

/// The session's cookies on a redirect into the app.
fn signed_in(session: Response, to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in session.headers().get_all(header::SET_COOKIE) {
        r.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    r
}

async fn use_link(
    state: WebState,
    kind: &'static str,
    token: String,
    ip: String,
    headers: HeaderMap,
    f: LinkForm,
) -> PageResult {
    let ctx = AuthCtx::from_ref(&state);
    if !token_ok(&token) {
        let p = link_page(&state, kind, "", f.name, Errors::default()).await?;
        return Ok(render(StatusCode::GONE, &p));
    }
    if f.password != f.password2 {
        let mut errors = Errors::default();
        if kind == INVITE && f.name.trim().is_empty() {
            errors.name = "יש להזין שם".into();
        }
        errors.password2 = "הסיסמאות אינן זהות".into();
        let p = link_page(&state, kind, &token, f.name, errors).await?;
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p));
    }
    let result = if kind == INVITE {
        team::accept_invite(&ctx, &token, &f.name, &f.password).await
    } else {
        team::accept_reset(&ctx, &token, &f.password).await
    };
    match result {
        Ok(user) => {
            let session = begin_session(&ctx, &user, &ip, &headers)
                .await
                .map_err(|e| PageError::Internal(anyhow::anyhow!("{e}")))?;
            let home = if user.role == "operator" {
                "/app/admin"
            } else {
                "/app/biz"
            };
            Ok(signed_in(session, home))
        }
        Err(e @ (AppError::BadRequest(_) | AppError::Clash { .. })) => {
            let p = link_page(&state, kind, &token, f.name, Errors::from(&e)).await?;
            let status = if p.valid {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::GONE
            };
            Ok(render(status, &p))
        }
        Err(e) => Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    }
}

pub async fn accept_invite(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<LinkForm>,
) -> PageResult {
    use_link(state, INVITE, token, ip, headers, f).await
}

pub async fn accept_reset(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<LinkForm>,
) -> PageResult {
    use_link(state, RESET, token, ip, headers, f).await
}
