//! Who is looking at a page, as extractors that turn "not signed in" into the login page.
//!
//! Authentication itself is [`crate::auth::Caller`] (Basic today; the session cookie and
//! bearer tokens once the CRM API lands). A page that rejects answers the app's way: a
//! redirect to `/app/login?next=…` when no one is signed in, the "no permission" page when
//! the role does not fit. [`BizViewer`] carries the business every query is scoped to (C4).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::page::{NavUser, PageError};
use crate::auth::Caller;
use crate::error::AppError;
use crate::store::users::Role;
use crate::ui::state::WebState;

/// A signed-in user and their navigation.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub caller: Caller,
    pub nav: NavUser,
}

impl Viewer {
    pub fn is_owner(&self) -> bool {
        self.caller.role == Role::Owner
    }
}

async fn load(state: &WebState, caller: Caller) -> Result<Viewer, PageError> {
    let email = crate::store::users::email(&state.db, caller.user_id)
        .await?
        .unwrap_or_default();
    let business = match caller.business_id {
        Some(id) => crate::store::businesses::get(&state.db, id)
            .await?
            .map(|b| b.name),
        None => None,
    };
    let nav = NavUser {
        email,
        role_label: NavUser::role_label(caller.role),
        owner: caller.role == Role::Owner,
        operator: caller.role == Role::Operator,
        business,
        support: false,
        support_edit: false,
    };
    Ok(Viewer { caller, nav })
}

/// The login page, remembering where the viewer was going (a path inside the app only).
pub fn login_redirect(parts: &Parts) -> Response {
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with("/app") && !p.starts_with("/app/login"))
        .unwrap_or("/app");
    let next: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
    Redirect::to(&format!("/app/login?next={next}")).into_response()
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        if let Some(v) = parts.extensions.get::<Viewer>() {
            return Ok(v.clone());
        }
        match Caller::from_request_parts(parts, state).await {
            Ok(caller) => {
                let v = load(state, caller)
                    .await
                    .map_err(IntoResponse::into_response)?;
                parts.extensions.insert(v.clone());
                Ok(v)
            }
            Err(AppError::Unauthorized) => Err(login_redirect(parts)),
            Err(AppError::Forbidden) => Err(PageError::Forbidden.into_response()),
            Err(e) => Err(PageError::Internal(anyhow::anyhow!("{e}")).into_response()),
        }
    }
}

/// The viewer when signed in, or nobody (for pages anyone may see, like "not found").
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<WebState> for MaybeViewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &WebState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeViewer(
            Viewer::from_request_parts(parts, state).await.ok(),
        ))
    }
}

/// A user of one business (owner or agent); operators are sent to the admin area.
#[derive(Clone, Debug)]
pub struct BizViewer {
    pub v: Viewer,
    pub business_id: i64,
}

impl FromRequestParts<WebState> for BizViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let v = Viewer::from_request_parts(parts, state).await?;
        match v.caller.business_id {
            Some(business_id) if v.caller.role != Role::Operator => {
                Ok(BizViewer { v, business_id })
            }
            _ if v.caller.role == Role::Operator => support(parts, state, v).await,
            _ => Err(PageError::NoPermission(v.nav).into_response()),
        }
    }
}

/// An operator in a business's CRM as support (#20): the business the support cookie
/// names, resolved by the one tenant check; writes refused (in Hebrew) unless the owner
/// lets support edit. Without the cookie, operators get the "no permission" page.
async fn support(parts: &Parts, state: &WebState, mut v: Viewer) -> Result<BizViewer, Response> {
    let asked = crate::auth::cookie(&parts.headers, super::admin_biz::SUPPORT_COOKIE)
        .and_then(|c| c.parse::<i64>().ok());
    let Some(asked) = asked else {
        return Err(PageError::NoPermission(v.nav).into_response());
    };
    let tenant = match crate::auth::tenant_for(&state.db, v.caller.clone(), Some(asked), "").await {
        Ok(t) => t,
        Err(AppError::NotFound | AppError::BadRequest(_)) => {
            return Err(PageError::NoPermission(v.nav).into_response());
        }
        Err(e) => return Err(PageError::Internal(anyhow::anyhow!("{e}")).into_response()),
    };
    let business = crate::store::businesses::get(&state.db, tenant.business_id)
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    let can_edit = crate::store::businesses::support_can_edit(&state.db, tenant.business_id)
        .await
        .map_err(|e| PageError::from(e).into_response())?;
    v.nav.business = business.map(|b| b.name);
    v.nav.support = true;
    v.nav.support_edit = can_edit;
    let write = !matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if write && !can_edit {
        return Err(super::page::render(
            axum::http::StatusCode::FORBIDDEN,
            &super::page::MessagePage {
                l: super::page::Layout::new("מצב תמיכה: צפייה בלבד", "", Some(v.nav)),
                heading: "מצב תמיכה: צפייה בלבד".into(),
                text: format!(
                    "{} אפשר לבקש מבעל/ת העסק לאפשר עריכה בדף הצוות.",
                    crate::auth::SUPPORT_READ_ONLY
                ),
                link: "/app/biz".into(),
                link_text: "חזרה ללוח הבקרה".into(),
            },
        ));
    }
    Ok(BizViewer {
        v,
        business_id: tenant.business_id,
    })
}

/// The owner of a business: settings and users.
pub struct OwnerViewer(pub BizViewer);

impl FromRequestParts<WebState> for OwnerViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let b = BizViewer::from_request_parts(parts, state).await?;
        if b.v.caller.role == Role::Owner {
            Ok(OwnerViewer(b))
        } else {
            Err(PageError::NoPermission(b.v.nav).into_response())
        }
    }
}

/// An operator of the whole service: `/app/admin`.
pub struct AdminViewer(pub Viewer);

impl FromRequestParts<WebState> for AdminViewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let v = Viewer::from_request_parts(parts, state).await?;
        if v.caller.role == Role::Operator {
            Ok(AdminViewer(v))
        } else {
            Err(PageError::NoPermission(v.nav).into_response())
        }
    }
}
