//! The app's shell: the layout every page shares, its error pages, and rendering.
//!
//! Errors inside the app are pages too: "not found" (404), "no permission" (403) and
//! "something went wrong" (500) render in the full Hebrew layout, never as a bare status
//! or the API's JSON. An internal error's cause goes to the log only.

use askama::Template;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::viewer::MaybeViewer;
use crate::store::users::Role;

/// Who is looking, as the navigation shows it.
#[derive(Clone, Debug)]
pub struct NavUser {
    pub email: String,
    pub role_label: &'static str,
    pub owner: bool,
    pub operator: bool,
    pub business: Option<String>,
    /// An operator looking at a business's CRM as support (#20): the banner shows.
    pub support: bool,
    /// In support: whether the owner lets support edit (else read-only).
    pub support_edit: bool,
}

impl NavUser {
    pub fn role_label(role: Role) -> &'static str {
        match role {
            Role::Operator => "מפעיל מערכת",
            Role::Owner => "בעל/ת העסק",
            Role::Agent => "נציג/ה",
        }
    }
}

/// What the layout needs on every page.
#[derive(Clone, Debug)]
pub struct Layout {
    pub title: String,
    /// Which navigation item is current.
    pub section: &'static str,
    pub user: Option<NavUser>,
    pub version: &'static str,
}

impl Layout {
    pub fn new(title: impl Into<String>, section: &'static str, user: Option<NavUser>) -> Self {
        Layout {
            title: title.into(),
            section,
            user,
            version: super::assets::VERSION,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.operator)
    }

    pub fn has_business(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.business.is_some())
    }

    pub fn is_owner(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.owner)
    }

    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section {
            "page"
        } else {
            "false"
        }
    }
}

/// A simple page: a heading, a sentence and a way on.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub l: Layout,
    pub heading: String,
    pub text: String,
    pub link: String,
    pub link_text: String,
}

/// Renders a template with a status; a template error is logged and answers 500.
pub fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            crate::telemetry::count_error("ui");
            tracing::error!(error = %e, "UI_TEMPLATE_ERROR");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

pub fn ok<T: Template>(t: &T) -> Response {
    render(StatusCode::OK, t)
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum PageError {
    NotFound(Option<NavUser>),
    Forbidden,
    NoPermission(NavUser),
    Internal(anyhow::Error),
    Redirect(String),
}

impl From<sqlx::Error> for PageError {
    fn from(e: sqlx::Error) -> Self {
        PageError::Internal(e.into())
    }
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> Self {
        PageError::Internal(e)
    }
}

pub type PageResult = Result<Response, PageError>;

pub fn not_found_page(user: Option<NavUser>) -> Response {
    let home = home_of(user.as_ref());
    render(
        StatusCode::NOT_FOUND,
        &MessagePage {
            l: Layout::new("הדף לא נמצא", "", user),
            heading: "הדף לא נמצא".into(),
            text: "הכתובת שביקשת אינה קיימת באפליקציה, או שאין לך גישה אליה.".into(),
            link: home.into(),
            link_text: "חזרה לדף הבית".into(),
        },
    )
}

pub fn no_permission_page(user: Option<NavUser>) -> Response {
    let home = home_of(user.as_ref());
    render(
        StatusCode::FORBIDDEN,
        &MessagePage {
            l: Layout::new("אין הרשאה", "", user),
            heading: "אין לך הרשאה לדף הזה".into(),
            text: "הדף מיועד לבעלי הרשאה אחרת. אם נדמה לך שזו טעות, פנה/י לבעל/ת העסק.".into(),
            link: home.into(),
            link_text: "חזרה לדף הבית".into(),
        },
    )
}

fn home_of(user: Option<&NavUser>) -> &'static str {
    match user {
        Some(u) if u.operator => "/app/admin",
        _ => "/app/biz",
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::NotFound(user) => not_found_page(user),
            PageError::Forbidden => no_permission_page(None),
            PageError::NoPermission(user) => no_permission_page(Some(user)),
            PageError::Redirect(to) => Redirect::to(&to).into_response(),
            PageError::Internal(cause) => {
                crate::telemetry::count_error("ui");
                tracing::error!(error = %format!("{cause:#}"), "UI_INTERNAL_ERROR");
                render(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &MessagePage {
                        l: Layout::new("שגיאה", "", None),
                        heading: "משהו השתבש".into(),
                        text: "לא הצלחנו להציג את הדף. נסו שוב בעוד רגע.".into(),
                        link: "/app".into(),
                        link_text: "חזרה לדף הבית".into(),
                    },
                )
            }
        }
    }
}

/// Any `/app/…` path no route claims: the app's own "not found" page (status 404), inside
/// the full layout, with the viewer's navigation when signed in (C5). A trailing slash is
/// dropped first, so `/app/biz/` is `/app/biz`.
pub async fn not_found_route(viewer: MaybeViewer, req: Request) -> Response {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        if trimmed.starts_with("/app") && !trimmed.contains("//") {
            let to = match req.uri().query() {
                Some(q) => format!("{trimmed}?{q}"),
                None => trimmed.to_string(),
            };
            return Redirect::permanent(&to).into_response();
        }
    }
    not_found_page(viewer.0.map(|v| v.nav))
}
