//! `/api/services`, `/api/staff` and `/api/businesses/{id}/appointment-settings`: a
//! business's services, its staff with their services and weekly hours, and its booking
//! settings with its own weekly hours (which bound every staff member's). Refusals are in
//! Hebrew.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::time::{parse_hhmm, show_hhmm};
use crate::auth::{Caller, Tenant, tenant_for};
use crate::crm::state::CrmState;
use crate::error::{ApiResult, AppError};
use crate::store::scheduling::{
    self as store, HoursRow, Service, ServiceFields, Settings, StaffError,
};
use crate::store::users::Role;

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/services", get(list_services).post(create_service))
        .route(
            "/api/services/{id}",
            get(read_service)
                .patch(update_service)
                .delete(delete_service),
        )
        .route("/api/staff", get(list_staff).post(create_staff))
        .route(
            "/api/staff/{id}",
            get(read_staff).put(replace_staff).delete(delete_staff),
        )
        .route(
            "/api/businesses/{id}/appointment-settings",
            get(read_settings).put(write_settings),
        )
}

fn bad(msg: impl Into<String>) -> AppError {
    AppError::BadRequest(msg.into())
}

// ---- services ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceIn {
    pub name: Option<String>,
    pub duration_minutes: Option<i64>,
    pub buffer_after_minutes: Option<i64>,
    pub price_agorot: Option<Option<i64>>,
    pub business_id: Option<i64>,
}

fn check_service(f: ServiceFields) -> ApiResult<ServiceFields> {
    let name = f.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(bad("name: שם השירות חובה, עד 200 תווים"));
    }
    if !(5..=720).contains(&f.duration_minutes) || f.duration_minutes % 5 != 0 {
        return Err(bad(
            "duration_minutes: משך השירות בדקות, כפולה של 5, בין 5 ל-720",
        ));
    }
    if !(0..=240).contains(&f.buffer_after_minutes) || f.buffer_after_minutes % 5 != 0 {
        return Err(bad(
            "buffer_after_minutes: הפסקה אחרי השירות בדקות, כפולה של 5, עד 240",
        ));
    }
    if f.price_agorot
        .is_some_and(|p| !(0..=100_000_000).contains(&p))
    {
        return Err(bad("price_agorot: מחיר באגורות, מספר לא שלילי"));
    }
    Ok(ServiceFields { name, ..f })
}

async fn list_services(State(s): State<CrmState>, t: Tenant) -> ApiResult<Json<serde_json::Value>> {
    let services = store::list_services(&s.db, t.business_id).await?;
    Ok(Json(serde_json::json!({ "services": services })))
}

async fn create_service(
    State(s): State<CrmState>,
    t: Tenant,
    Json(b): Json<ServiceIn>,
) -> ApiResult<(StatusCode, Json<Service>)> {
    let f = check_service(ServiceFields {
        name: b.name.ok_or_else(|| bad("name: שם השירות חובה"))?,
        duration_minutes: b
            .duration_minutes
            .ok_or_else(|| bad("duration_minutes: משך השירות חובה"))?,
        buffer_after_minutes: b.buffer_after_minutes.unwrap_or(0),
        price_agorot: b.price_agorot.flatten(),
    })?;
    let id = store::create_service(&s.db, t.business_id, &f).await?;
    let svc = store::get_service(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(svc)))
}

async fn read_service(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<Service>> {
    Ok(Json(
        store::get_service(&s.db, t.business_id, id)
            .await?
            .ok_or(AppError::NotFound)?,
    ))
}

async fn update_service(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(b): Json<ServiceIn>,
) -> ApiResult<Json<Service>> {
    let old = store::get_service(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let f = check_service(ServiceFields {
        name: b.name.unwrap_or(old.name),
        duration_minutes: b.duration_minutes.unwrap_or(old.duration_minutes),
        buffer_after_minutes: b.buffer_after_minutes.unwrap_or(old.buffer_after_minutes),
        price_agorot: b.price_agorot.unwrap_or(old.price_agorot),
    })?;
    if !store::update_service(&s.db, t.business_id, id, &f).await? {
        return Err(AppError::NotFound);
    }
    read_service(State(s), t, Path(id)).await
}

async fn delete_service(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    if store::delete_service(&s.db, t.business_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

// ---- weekly hours ----

/// One weekly range as the API writes it: `{"day": 0, "from": "09:00", "to": "17:00"}`,
/// days from Sunday = 0.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HoursIn {
    pub day: i64,
    pub from: String,
    pub to: String,
}

fn check_hours(rows: &[HoursIn], staff_id: Option<i64>) -> ApiResult<Vec<HoursRow>> {
    if rows.len() > 70 {
        return Err(bad("hours: עד 70 טווחי שעות"));
    }
    rows.iter()
        .map(|h| {
            if !(0..=6).contains(&h.day) {
                return Err(bad("hours.day: יום בשבוע, 0 (ראשון) עד 6 (שבת)"));
            }
            let (from, to) = (
                parse_hhmm("hours.from", &h.from)?,
                parse_hhmm("hours.to", &h.to)?,
            );
            if to <= from || from >= 1440 {
                return Err(bad("hours: שעת הסיום חייבת להיות אחרי שעת ההתחלה"));
            }
            Ok(HoursRow {
                staff_id,
                weekday: h.day,
                start_minute: from,
                end_minute: to,
            })
        })
        .collect()
}

fn show_hours(rows: &[HoursRow], staff_id: Option<i64>) -> Vec<HoursIn> {
    rows.iter()
        .filter(|h| h.staff_id == staff_id)
        .map(|h| HoursIn {
            day: h.weekday,
            from: show_hhmm(h.start_minute),
            to: show_hhmm(h.end_minute),
        })
        .collect()
}

// ---- staff ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffIn {
    pub name: String,
    #[serde(default)]
    pub service_ids: Vec<i64>,
    #[serde(default)]
    pub hours: Vec<HoursIn>,
    /// Their Google Calendar (shared with the service account): left out keeps it, null
    /// disconnects it.
    #[serde(default, deserialize_with = "present")]
    pub google_calendar_id: Option<Option<String>>,
    pub business_id: Option<i64>,
}

/// A field that is present, even as null (`Some(None)`), apart from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Debug, Serialize)]
pub struct StaffOut {
    pub id: i64,
    pub name: String,
    pub service_ids: Vec<i64>,
    pub hours: Vec<HoursIn>,
    pub google_calendar_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

async fn staff_out(s: &CrmState, business_id: i64, only: Option<i64>) -> ApiResult<Vec<StaffOut>> {
    let links = store::staff_services(&s.db, business_id).await?;
    let hours = store::hours(&s.db, business_id).await?;
    Ok(store::list_staff(&s.db, business_id)
        .await?
        .into_iter()
        .filter(|m| only.is_none_or(|o| o == m.id))
        .map(|m| StaffOut {
            service_ids: links.iter().filter(|l| l.0 == m.id).map(|l| l.1).collect(),
            hours: show_hours(&hours, Some(m.id)),
            id: m.id,
            name: m.name,
            google_calendar_id: m.google_calendar_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
        .collect())
}

async fn save(s: &CrmState, t: &Tenant, id: Option<i64>, b: StaffIn) -> ApiResult<i64> {
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(bad("name: שם איש הצוות חובה, עד 200 תווים"));
    }
    if b.service_ids.len() > 200 {
        return Err(bad("service_ids: עד 200 שירותים"));
    }
    let hours = check_hours(&b.hours, None)?;
    let calendar = match b.google_calendar_id {
        Some(Some(c)) => Some(check_calendar(&c)?),
        other => other,
    };
    match store::save_staff(&s.db, t.business_id, id, name, &b.service_ids, &hours).await {
        Ok(Some(id)) => {
            if let Some(c) = calendar {
                crate::store::calendar_sync::set_staff_calendar(
                    &s.db,
                    t.business_id,
                    id,
                    c.as_deref(),
                )
                .await?;
            }
            Ok(id)
        }
        Ok(None) => Err(AppError::NotFound),
        Err(StaffError::UnknownService(sid)) => {
            Err(bad(format!("service_ids: אין לעסק שירות שמספרו {sid}")))
        }
        Err(StaffError::Db(e)) => Err(e.into()),
    }
}

/// A Google Calendar id as Google shows it in the calendar's settings (an address such as
/// `…@group.calendar.google.com`, or a person's own).
fn check_calendar(raw: &str) -> ApiResult<Option<String>> {
    let c = raw.trim();
    if c.is_empty() {
        return Ok(None);
    }
    if c.chars().count() > 254
        || !c.contains('@')
        || c.chars().any(|ch| ch.is_whitespace() || ch.is_control())
    {
        return Err(bad(
            "google_calendar_id: מזהה יומן גוגל, כתובת כמו name@group.calendar.google.com",
        ));
    }
    Ok(Some(c.to_string()))
}

async fn list_staff(State(s): State<CrmState>, t: Tenant) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(
        serde_json::json!({ "staff": staff_out(&s, t.business_id, None).await? }),
    ))
}

async fn create_staff(
    State(s): State<CrmState>,
    t: Tenant,
    Json(b): Json<StaffIn>,
) -> ApiResult<(StatusCode, Json<StaffOut>)> {
    let id = save(&s, &t, None, b).await?;
    let one = staff_out(&s, t.business_id, Some(id))
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(one)))
}

async fn read_staff(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<StaffOut>> {
    Ok(Json(
        staff_out(&s, t.business_id, Some(id))
            .await?
            .pop()
            .ok_or(AppError::NotFound)?,
    ))
}

async fn replace_staff(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(b): Json<StaffIn>,
) -> ApiResult<Json<StaffOut>> {
    store::get_staff(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    save(&s, &t, Some(id), b).await?;
    read_staff(State(s), t, Path(id)).await
}

async fn delete_staff(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    if store::delete_staff(&s.db, t.business_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

// ---- settings ----

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsIo {
    pub location: String,
    pub closed_on_holy_days: bool,
    pub slot_step_minutes: i64,
    /// The business's own weekly hours; empty: not bounded.
    #[serde(default)]
    pub hours: Vec<HoursIn>,
    /// The day-before WhatsApp reminder's time, `HH:MM` in Israel (18:00 by default).
    /// Left out of a PUT, the reminder fields and templates keep their values.
    #[serde(default)]
    pub reminder_time: Option<String>,
    #[serde(default)]
    pub reminders: Option<bool>,
    /// Approved templates for messages outside WhatsApp's 24-hour window: a Twilio
    /// Content SID (`HX…`) or a Meta template name; `""` clears one.
    #[serde(default)]
    pub confirm_template: Option<String>,
    #[serde(default)]
    pub reminder_template: Option<String>,
    #[serde(default)]
    pub cancel_template: Option<String>,
    #[serde(default, skip_serializing)]
    pub business_id: Option<i64>,
}

/// A template name as given: `""` clears it; otherwise a Twilio Content SID or a Meta
/// template name (a-z, 0-9, `_`), the shapes the providers take.
fn template_setting(
    field: &str,
    given: Option<String>,
    current: Option<String>,
) -> ApiResult<Option<String>> {
    let Some(raw) = given else {
        return Ok(current);
    };
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let twilio =
        t.len() == 34 && t.starts_with("HX") && t.bytes().all(|b| b.is_ascii_alphanumeric());
    let meta = t.len() <= 512
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !(twilio || meta) {
        return Err(bad(format!(
            "{field}: מזהה תבנית של טוויליו או שם תבנית של מטא (אותיות לטיניות קטנות, ספרות וקו תחתון)"
        )));
    }
    Ok(Some(t.to_string()))
}

/// The business named in the path, for a caller who may act for it (404 otherwise).
async fn business(s: &CrmState, caller: Caller, id: i64) -> ApiResult<Tenant> {
    tenant_for(&s.db, caller, Some(id), "").await
}

async fn read_settings(
    State(s): State<CrmState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<SettingsIo>> {
    let t = business(&s, caller, id).await?;
    let st = store::settings(&s.db, t.business_id).await?;
    let hours = store::hours(&s.db, t.business_id).await?;
    Ok(Json(SettingsIo {
        location: st.location,
        closed_on_holy_days: st.closed_on_holy_days != 0,
        slot_step_minutes: st.slot_step_minutes,
        hours: show_hours(&hours, None),
        reminder_time: Some(super::time::show_hhmm(st.reminder_minute)),
        reminders: Some(st.reminders_on != 0),
        confirm_template: st.confirm_template,
        reminder_template: st.reminder_template,
        cancel_template: st.cancel_template,
        business_id: None,
    }))
}

async fn write_settings(
    State(s): State<CrmState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(b): Json<SettingsIo>,
) -> ApiResult<Json<SettingsIo>> {
    let t = business(&s, caller, id).await?;
    if t.caller.role == Role::Agent {
        return Err(AppError::Forbidden);
    }
    if !["tel_aviv", "jerusalem"].contains(&b.location.as_str()) {
        return Err(bad("location: tel_aviv או jerusalem (לזמני כניסת השבת)"));
    }
    if ![5, 10, 15, 20, 30, 60].contains(&b.slot_step_minutes) {
        return Err(bad("slot_step_minutes: אחד מ-5, 10, 15, 20, 30, 60"));
    }
    let hours = check_hours(&b.hours, None)?;
    let current = store::settings(&s.db, t.business_id).await?;
    let reminder_minute = match b.reminder_time.as_deref() {
        None => current.reminder_minute,
        Some(raw) => {
            let m = super::time::parse_hhmm("reminder_time", raw)?;
            if m >= 1440 {
                return Err(bad("reminder_time: שעה בין 00:00 ל-23:59"));
            }
            m
        }
    };
    let st = Settings {
        location: b.location,
        closed_on_holy_days: i64::from(b.closed_on_holy_days),
        slot_step_minutes: b.slot_step_minutes,
        reminder_minute,
        reminders_on: b.reminders.map_or(current.reminders_on, i64::from),
        confirm_template: template_setting(
            "confirm_template",
            b.confirm_template,
            current.confirm_template,
        )?,
        reminder_template: template_setting(
            "reminder_template",
            b.reminder_template,
            current.reminder_template,
        )?,
        cancel_template: template_setting(
            "cancel_template",
            b.cancel_template,
            current.cancel_template,
        )?,
    };
    store::save_settings(&s.db, t.business_id, &st, &hours).await?;
    read_settings(State(s), t.caller, Path(id)).await
}
