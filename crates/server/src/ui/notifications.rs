//! The signed-in user's own notification preferences (#22), at
//! `/app/biz/settings/notifications`: which events reach them, by e-mail and/or WhatsApp to
//! their own phone, and quiet hours (nights, Shabbat). Owners and agents alike; the same
//! rules and storage as `PUT /api/users/{id}/notifications`.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

use super::page::{Layout, PageError, PageResult, ok, render};
use super::view;
use super::viewer::BizViewer;
use crate::notify::Event;
use crate::notify::prefs::{Prefs, PrefsUpdate, QuietHours};
use crate::notify::routes::{PrefsView, save, view_of};
use crate::store::users;
use crate::ui::state::WebState;

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    l: Layout,
    email: String,
    summarised: bool,
    urgent: bool,
    booked: bool,
    cancelled: bool,
    email_on: bool,
    whatsapp_on: bool,
    whatsapp_phone: String,
    quiet_on: bool,
    quiet_from: String,
    quiet_to: String,
    shabbat_quiet: bool,
    is_default: bool,
    saved: bool,
    error: String,
}

fn page_of(b: &BizViewer, v: &PrefsView, saved: bool, error: String) -> NotificationsPage {
    let p: &Prefs = &v.prefs;
    NotificationsPage {
        l: Layout::new("התראות", "notifications", Some(b.v.nav.clone())),
        email: v.email.clone(),
        summarised: p.events.contains(&Event::CallSummarised),
        urgent: p.events.contains(&Event::CallUrgent),
        booked: p.events.contains(&Event::AppointmentBooked),
        cancelled: p.events.contains(&Event::AppointmentCancelled),
        email_on: p.email_on,
        whatsapp_on: p.whatsapp_on,
        whatsapp_phone: p
            .whatsapp_phone
            .as_deref()
            .map(view::phone)
            .unwrap_or_default(),
        quiet_on: p.quiet_hours.is_some(),
        quiet_from: p
            .quiet_hours
            .as_ref()
            .map_or_else(|| "22:00".into(), |q| q.from.clone()),
        quiet_to: p
            .quiet_hours
            .as_ref()
            .map_or_else(|| "07:00".into(), |q| q.to.clone()),
        shabbat_quiet: p.shabbat_quiet,
        is_default: v.is_default,
        saved,
        error,
    }
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

async fn me(state: &WebState, b: &BizViewer) -> Result<users::User, PageError> {
    users::get(&state.db, Some(b.business_id), b.v.caller.user_id)
        .await?
        .ok_or_else(|| PageError::NotFound(Some(b.v.nav.clone())))
}

pub async fn page(
    State(state): State<WebState>,
    b: BizViewer,
    Query(q): Query<SavedQuery>,
) -> PageResult {
    let user = me(&state, &b).await?;
    let v = view_of(&state.db, &user)
        .await
        .map_err(|e| PageError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(ok(&page_of(&b, &v, q.saved.is_some(), String::new())))
}

#[derive(Deserialize, Default)]
pub struct NotificationsForm {
    ev_summarised: Option<String>,
    ev_urgent: Option<String>,
    ev_booked: Option<String>,
    #[serde(default)]
    ev_cancelled: Option<String>,
    email_on: Option<String>,
    whatsapp_on: Option<String>,
    #[serde(default)]
    whatsapp_phone: String,
    quiet_on: Option<String>,
    #[serde(default)]
    quiet_from: String,
    #[serde(default)]
    quiet_to: String,
    shabbat_quiet: Option<String>,
}

/// Hebrew for what the API says in English.
fn hebrew_error(field_message: &str) -> &'static str {
    if field_message.starts_with("whatsapp_phone: required") {
        "כדי לקבל התראות בוואטסאפ צריך למלא מספר טלפון."
    } else if field_message.starts_with("whatsapp_phone") {
        "מספר הטלפון לוואטסאפ אינו תקין."
    } else if field_message.starts_with("quiet_hours") {
        "שעות השקט צריכות להיות בפורמט 22:00."
    } else {
        "אחד השדות אינו תקין."
    }
}

pub async fn save_form(
    State(state): State<WebState>,
    b: BizViewer,
    Form(f): Form<NotificationsForm>,
) -> PageResult {
    let user = me(&state, &b).await?;
    let events = [
        (f.ev_summarised.is_some(), Event::CallSummarised),
        (f.ev_urgent.is_some(), Event::CallUrgent),
        (f.ev_booked.is_some(), Event::AppointmentBooked),
        (f.ev_cancelled.is_some(), Event::AppointmentCancelled),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, e)| e.as_str().to_string())
    .collect();
    let phone = f.whatsapp_phone.trim().to_string();
    let update = PrefsUpdate {
        events: Some(events),
        email_on: Some(f.email_on.is_some()),
        whatsapp_on: Some(f.whatsapp_on.is_some()),
        whatsapp_phone: Some(Some(phone).filter(|p| !p.is_empty())),
        quiet_hours: Some(f.quiet_on.is_some().then(|| QuietHours {
            from: f.quiet_from.trim().to_string(),
            to: f.quiet_to.trim().to_string(),
        })),
        shabbat_quiet: Some(f.shabbat_quiet.is_some()),
    };
    match save(&state.db, &user, update).await {
        Ok(_) => Ok(Redirect::to("/app/biz/settings/notifications?saved=1").into_response()),
        Err(crate::error::AppError::BadRequest(why)) => {
            // Shown back as typed, so nothing is lost while it is fixed.
            let mut v = view_of(&state.db, &user)
                .await
                .map_err(|e| PageError::Internal(anyhow::anyhow!("{e}")))?;
            v.prefs.whatsapp_on = f.whatsapp_on.is_some();
            let mut p = page_of(&b, &v, false, hebrew_error(&why).into());
            p.whatsapp_phone = f.whatsapp_phone.trim().to_string();
            p.quiet_on = f.quiet_on.is_some();
            p.quiet_from = f.quiet_from;
            p.quiet_to = f.quiet_to;
            Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
        Err(e) => Err(PageError::Internal(anyhow::anyhow!("{e}"))),
    }
}
