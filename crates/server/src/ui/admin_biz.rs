//! The operator's business work in the web app (#20): add a business with its phone
//! numbers (each checked as E.164, and refused in Hebrew on the field when another
//! business has it), optionally inviting its owner by e-mail; and open a business's CRM
//! "as support". A support visit is written to the audit log (who, which business, when)
//! and marked by a cookie naming the business; [`super::viewer::BizViewer`] resolves it
//! through the one tenant check, shows a Hebrew banner, and refuses writes unless the
//! business's owner allowed support to edit.

use askama::Template;
use axum::Form;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{Layout, PageError, PageResult, render};
use super::viewer::AdminViewer;
use crate::auth::AuthCtx;
use crate::domain::Phone;
use crate::error::AppError;
use crate::store::users::Role;
use crate::store::{audit, businesses};
use crate::ui::state::WebState;

/// The cookie that names the business an operator is helping (sent to the API too, where
/// [`crate::auth::Tenant`] reads it).
pub use crate::auth::SUPPORT_COOKIE;

#[derive(Default)]
pub struct NewBizErrors {
    pub name: String,
    pub numbers: String,
    pub owner_email: String,
}

#[derive(Template)]
#[template(path = "admin_new_business.html")]
struct NewBusinessPage {
    l: Layout,
    name: String,
    numbers: String,
    owner_email: String,
    errors: NewBizErrors,
    notice: String,
    link: String,
}

pub async fn new_form(a: AdminViewer) -> PageResult {
    Ok(render(
        StatusCode::OK,
        &NewBusinessPage {
            l: Layout::new("עסק חדש", "admin", Some(a.0.nav.clone())),
            name: String::new(),
            numbers: String::new(),
            owner_email: String::new(),
            errors: NewBizErrors::default(),
            notice: String::new(),
            link: String::new(),
        },
    ))
}

#[derive(Deserialize, Default)]
pub struct NewBusinessForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    numbers: String,
    #[serde(default)]
    owner_email: String,
}

/// Numbers one per line or separated by commas; each a phone number, none another's.
async fn check_numbers(state: &WebState, raw: &str) -> Result<Vec<Phone>, String> {
    let mut out: Vec<Phone> = Vec::new();
    for n in raw
        .split(['\n', ','])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let p = Phone::parse(n).map_err(|_| {
            format!("„{n}” אינו מספר טלפון תקין (לדוגמה 03-1234567 או +97231234567)")
        })?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.is_empty() {
        return Err("יש להזין לפחות מספר טלפון אחד של העסק".into());
    }
    if out.len() > 20 {
        return Err("אפשר עד 20 מספרים לעסק".into());
    }
    for p in &out {
        let taken = businesses::claimed_elsewhere(&state.db, None, p)
            .await
            .map_err(|_| "לא הצלחנו לבדוק את המספרים; נסו שוב".to_string())?;
        if taken.is_some() {
            return Err(format!(
                "המספר {} כבר שייך לעסק אחר",
                super::view::phone(p.as_str())
            ));
        }
    }
    Ok(out)
}

pub async fn create(
    State(state): State<WebState>,
    a: AdminViewer,
    headers: HeaderMap,
    Form(f): Form<NewBusinessForm>,
) -> PageResult {
    let mut errors = NewBizErrors::default();
    let name = f.name.trim().to_string();
    if name.is_empty() {
        errors.name = "יש להזין את שם העסק".into();
    } else if name.chars().count() > 200 {
        errors.name = "השם ארוך מדי: עד 200 תווים".into();
    }
    let numbers = match check_numbers(&state, &f.numbers).await {
        Ok(n) => n,
        Err(e) => {
            errors.numbers = e;
            Vec::new()
        }
    };
    let owner_email = f.owner_email.trim().to_string();
    if !owner_email.is_empty()
        && let Err(e) = crate::crm::team::check_email(&owner_email)
    {
        errors.owner_email = crate::crm::team::field_error(&e).1;
    }
    if errors.name.is_empty() && errors.numbers.is_empty() && errors.owner_email.is_empty() {
        let settings = businesses::Settings {
            name: name.clone(),
            auto_reply: true,
            recording_retention_days: 30,
            ..Default::default()
        };
        match businesses::create_with(&state.db, &settings, &numbers).await {
            Ok(id) => {
                audit::record(
                    &state.db,
                    audit::Entry {
                        business_id: Some(id),
                        actor_user_id: Some(a.0.caller.user_id),
                        actor_token_id: None,
                        entity: "business",
                        entity_id: id,
                        action: "create",
                        changes: serde_json::json!({
                            "name": name,
                            "numbers": numbers.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                        }),
                    },
                )
                .await?;
                tracing::info!(business_id = id, "UI_BUSINESS_ADDED");
                if owner_email.is_empty() {
                    return Ok(Redirect::to("/app/admin?added=1").into_response());
                }
                let ctx = AuthCtx::from_ref(&state);
                let base = crate::crm::team::base_url(&ctx, &headers);
                return match crate::crm::team::invite(
                    &ctx,
                    &a.0.caller,
                    id,
                    &owner_email,
                    Role::Owner,
                    &base,
                )
                .await
                {
                    Ok(issued) => {
                        let (notice, link) = if issued.emailed {
                            (
                                "העסק נוסף, וההזמנה נשלחה באימייל לבעל/ת העסק.".to_string(),
                                String::new(),
                            )
                        } else {
                            (
                                "העסק נוסף. ההזמנה לבעל/ת העסק לא נשלחה באימייל: העתיקו את \
                                 הקישור ושלחו אותו (תקף ל-72 שעות, לשימוש אחד)."
                                    .to_string(),
                                issued.url,
                            )
                        };
                        Ok(render(
                            StatusCode::CREATED,
                            &NewBusinessPage {
                                l: Layout::new("עסק חדש", "admin", Some(a.0.nav.clone())),
                                name: String::new(),
                                numbers: String::new(),
                                owner_email: String::new(),
                                errors: NewBizErrors::default(),
                                notice,
                                link,
                            },
                        ))
                    }
                    Err(e) => {
                        // The business stands; the invitation can be made from the API.
                        errors.owner_email = format!(
                            "העסק נוסף, אך ההזמנה לא נוצרה: {}",
                            crate::crm::team::field_error(&e).1
                        );
                        Ok(render(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            &NewBusinessPage {
                                l: Layout::new("עסק חדש", "admin", Some(a.0.nav.clone())),
                                name: String::new(),
                                numbers: String::new(),
                                owner_email: owner_email.clone(),
                                errors,
                                notice: String::new(),
                                link: String::new(),
                            },
                        ))
                    }
                };
            }
            Err(e) if crate::store::is_unique_violation(&e) => {
                errors.numbers = "אחד המספרים כבר שייך לעסק אחר".into();
            }
            Err(e) => return Err(PageError::from(e)),
        }
    }
    Ok(render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &NewBusinessPage {
            l: Layout::new("עסק חדש", "admin", Some(a.0.nav.clone())),
            name: f.name,
            numbers: f.numbers,
            owner_email: f.owner_email,
            errors,
            notice: String::new(),
            link: String::new(),
        },
    ))
}

fn cookie(value: &str, max_age: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SUPPORT_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

/// Opens a business's CRM as support: audited, then the business's dashboard.
pub async fn start_support(
    State(state): State<WebState>,
    a: AdminViewer,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    match crate::auth::tenant_for(&state.db, a.0.caller.clone(), Some(id), "").await {
        Ok(_) => {}
        Err(AppError::NotFound | AppError::BadRequest(_)) => {
            return Err(PageError::NotFound(Some(a.0.nav.clone())));
        }
        Err(e) => return Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    }
    let can_edit = businesses::support_can_edit(&state.db, id).await?;
    audit::record(
        &state.db,
        audit::Entry {
            business_id: Some(id),
            actor_user_id: Some(a.0.caller.user_id),
            actor_token_id: None,
            entity: "business",
            entity_id: id,
            action: "support_visit",
            changes: serde_json::json!({ "can_edit": can_edit }),
        },
    )
    .await?;
    tracing::info!(
        business_id = id,
        operator = a.0.caller.user_id,
        "UI_SUPPORT_VISIT"
    );
    let mut r = Redirect::to("/app/biz").into_response();
    if let Some(c) = cookie(&id.to_string(), 4 * 3600, state.settings.is_production()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

/// Leaves support mode: back to the operator's pages.
pub async fn end_support(State(state): State<WebState>) -> Response {
    let mut r = Redirect::to("/app/admin").into_response();
    if let Some(c) = cookie("", 0, state.settings.is_production()) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}
