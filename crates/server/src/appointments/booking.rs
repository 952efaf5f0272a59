//! `/api/appointments` (list by range and staff, book, move, cancel) and
//! `/api/availability` (free times for a service). A booking is checked against the
//! business's calendar first (open hours, closures, Shabbat and holidays: 422 in Hebrew
//! when outside them) and then left to the database, which lets exactly one of any racing
//! bookings take a time; the others get 409 with a Hebrew message and the next free time.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::avail::{self, Setup};
use super::time::{parse, show, show_ts};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::domain::Phone;
use crate::error::{ApiResult, AppError};
use crate::store::appointments::{
    self as store, Appointment, BookError, GRANULE_MS, NewAppointment, Placement,
};
use crate::store::scheduling::{self as setup, Service};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/appointments", get(list).post(create))
        .route("/api/appointments/{id}", get(read).patch(move_one))
        .route("/api/appointments/{id}/cancel", post(cancel))
        .route("/api/availability", get(super::avail::availability))
}

/// The longest range one list or availability request may span.
const MAX_RANGE_DAYS: i64 = 62;
/// How far ahead the next free time is looked for after a refusal.
const NEXT_FREE_DAYS: i64 = 14;

fn bad(msg: impl Into<String>) -> AppError {
    AppError::BadRequest(msg.into())
}

#[derive(Debug, Serialize)]
pub struct AppointmentOut {
    pub id: i64,
    pub staff_id: i64,
    pub service_id: i64,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub start: String,
    pub end: String,
    pub status: String,
    pub source: String,
    pub notes: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the customer confirmed on WhatsApp ("1"), epoch ms.
    pub confirmed_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    /// `staff`, `caller` (on the phone) or `customer` (on WhatsApp).
    pub cancelled_by: Option<String>,
    /// Why the customer got no WhatsApp message, when they did not (Hebrew).
    pub whatsapp_note: Option<String>,
    /// The event in the staff member's Google Calendar: `pending`, `ok`, `failed`, or
    /// null when no calendar is connected.
    pub calendar_sync: Option<String>,
    /// While `failed`: why (it is retried).
    pub calendar_sync_error: Option<String>,
}

impl From<Appointment> for AppointmentOut {
    fn from(a: Appointment) -> Self {
        AppointmentOut {
            id: a.id,
            staff_id: a.staff_id,
            service_id: a.service_id,
            customer_id: a.customer_id,
            customer_name: a.customer_name,
            customer_phone: a.customer_phone,
            start: show(a.starts_at),
            end: show(a.ends_at),
            status: a.status,
            source: a.source,
            notes: a.notes,
            created_at: a.created_at,
            updated_at: a.updated_at,
            confirmed_at: a.confirmed_at,
            cancelled_at: a.cancelled_at,
            cancelled_by: a.cancelled_by,
            whatsapp_note: a.whatsapp_note,
            calendar_sync: a.calendar_sync,
            calendar_sync_error: a.calendar_sync_error,
        }
    }
}

/// `from`/`to` of a list, defaulting to the next `days` days, at most [`MAX_RANGE_DAYS`].
pub(super) fn range(
    from: Option<&str>,
    to: Option<&str>,
    days: i64,
) -> ApiResult<(Timestamp, Timestamp)> {
    let from = match from.filter(|s| !s.trim().is_empty()) {
        Some(f) => parse("from", f)?,
        None => Timestamp::now(),
    };
    let to = match to.filter(|s| !s.trim().is_empty()) {
        Some(t) => parse("to", t)?,
        None => from + SignedDuration::from_hours(24 * days),
    };
    if to <= from {
        return Err(bad("to: סוף הטווח חייב להיות אחרי תחילתו"));
    }
    if to.duration_since(from) > SignedDuration::from_hours(24 * MAX_RANGE_DAYS) {
        return Err(bad(format!("to: טווח של עד {MAX_RANGE_DAYS} ימים")));
    }
    Ok((from, to))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub staff_id: Option<i64>,
}

async fn list(
    State(s): State<CrmState>,
    t: Tenant,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    let (from, to) = range(p.from.as_deref(), p.to.as_deref(), 7)?;
    let rows = store::list(
        &s.db,
        t.business_id,
        from.as_millisecond(),
        to.as_millisecond(),
        p.staff_id,
    )
    .await?;
    let items: Vec<AppointmentOut> = rows.into_iter().map(Into::into).collect();
    Ok(Json(
        json!({ "appointments": items, "from": show_ts(from), "to": show_ts(to) }),
    ))
}

async fn read(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<AppointmentOut>> {
    Ok(Json(
        store::get(&s.db, t.business_id, id)
            .await?
            .ok_or(AppError::NotFound)?
            .into(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookIn {
    pub service_id: i64,
    pub start: String,
    pub staff_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub notes: Option<String>,
    pub business_id: Option<i64>,
}

/// The 409 of a taken time: a Hebrew message that says the next free time as a person
/// reads it ("יום שלישי 5 בינואר, בשעה 9:30"), and that time as data when there is one.
fn taken(next: Option<calendar::availability::Slot>) -> Response {
    let (message, next_free) = match next {
        Some(n) => (
            format!(
                "השעה כבר תפוסה. התור הפנוי הבא: {}",
                super::spoken::when(n.start, Timestamp::now())
            ),
            json!({ "start": show_ts(n.start), "end": show_ts(n.end), "staff_id": n.staff_id }),
        ),
        None => (
            "השעה כבר תפוסה, ואין תור פנוי בשבועיים הקרובים".to_string(),
            Value::Null,
        ),
    };
    let body =
        json!({ "error": { "code": "slot_taken", "message": message, "next_free": next_free } });
    (StatusCode::CONFLICT, Json(body)).into_response()
}

pub(super) async fn service_of(s: &CrmState, business_id: i64, id: i64) -> ApiResult<Service> {
    setup::get_service(&s.db, business_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Whether some staff member giving `service` (only `only`, if named) works at `start`:
/// when none can take it but one works then, the time is taken, not closed.
pub(super) fn anyone_works(
    setup: &Setup,
    service: &Service,
    only: Option<i64>,
    start: Timestamp,
) -> bool {
    let end = start + SignedDuration::from_mins(service.duration_minutes);
    setup
        .givers(service.id, only)
        .into_iter()
        .any(|m| setup.is_open(m.id, start, end))
}

/// The first free time at or after `at` for `service` (with `only`, if named).
async fn next_free(
    s: &CrmState,
    business_id: i64,
    service: &Service,
    only: Option<i64>,
    at: Timestamp,
) -> ApiResult<Option<calendar::availability::Slot>> {
    let to = at + SignedDuration::from_hours(24 * NEXT_FREE_DAYS);
    let setup = avail::load(&s.db, s.google.as_ref(), business_id, at, to).await?;
    let givers = setup.givers(service.id, only);
    Ok(
        avail::free(&s.db, business_id, &setup, service, &givers, at, to)
            .await?
            .into_iter()
            .next(),
    )
}

/// Where a booking of `service` at `start` could go: each staff member open then and not
/// busy in their Google Calendar, in order.
pub(super) fn placements(
    setup: &Setup,
    service: &Service,
    only: Option<i64>,
    start: Timestamp,
) -> Vec<Placement> {
    let end = start + SignedDuration::from_mins(service.duration_minutes);
    let busy_until = end + SignedDuration::from_mins(service.buffer_after_minutes);
    setup
        .givers(service.id, only)
        .into_iter()
        .filter(|m| setup.is_open(m.id, start, end))
        .filter(|m| !setup.google_busy(m.id, start, busy_until))
        .map(|m| Placement {
            staff_id: m.id,
            starts_at: start.as_millisecond(),
            ends_at: end.as_millisecond(),
            busy_until: busy_until.as_millisecond(),
        })
        .collect()
}

fn check_start(raw: &str) -> ApiResult<Timestamp> {
    let start = parse("start", raw)?;
    if start.as_millisecond() % GRANULE_MS != 0 {
        return Err(bad("start: תור מתחיל בדקה עגולה של 5 (למשל 09:00, 09:05)"));
    }
    if start < Timestamp::now() - SignedDuration::from_mins(5) {
        return Err(bad("start: אי אפשר לקבוע תור בעבר"));
    }
    Ok(start)
}

pub(super) async fn staff_exists(
    s: &CrmState,
    business_id: i64,
    staff: Option<i64>,
) -> ApiResult<()> {
    if let Some(id) = staff
        && setup::get_staff(&s.db, business_id, id).await?.is_none()
    {
        return Err(AppError::NotFound);
    }
    Ok(())
}

async fn create(
    State(s): State<CrmState>,
    t: Tenant,
    Json(b): Json<BookIn>,
) -> ApiResult<Response> {
    let service = service_of(&s, t.business_id, b.service_id).await?;
    staff_exists(&s, t.business_id, b.staff_id).await?;
    let start = check_start(&b.start)?;
    let phone = match b
        .customer_phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => Some(
            Phone::parse(p)
                .map_err(|_| bad("customer_phone: מספר טלפון לא תקין"))?
                .to_string(),
        ),
        None => None,
    };
    let name = b
        .customer_name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(bad("customer_name: עד 200 תווים"));
    }
    let notes = b.notes.unwrap_or_default();
    if notes.chars().count() > 2000 {
        return Err(bad("notes: עד 2000 תווים"));
    }
    let mut phone = phone;
    if let Some(cid) = b.customer_id {
        let lead = crate::store::customers::get(&s.db, t.business_id, cid)
            .await?
            .ok_or(AppError::NotFound)?;
        // Booked for a lead without a number given: the lead's, so the confirmation and
        // the customer's "1"/"2" on WhatsApp find it.
        if phone.is_none() {
            phone = Phone::parse(&lead.phone).ok().map(|p| p.to_string());
        }
    }
    let end = start + SignedDuration::from_mins(service.duration_minutes);
    let setup = avail::load(&s.db, s.google.as_ref(), t.business_id, start, end).await?;
    let options = placements(&setup, &service, b.staff_id, start);
    if options.is_empty() && anyone_works(&setup, &service, b.staff_id, start) {
        return Ok(taken(
            next_free(&s, t.business_id, &service, b.staff_id, start).await?,
        ));
    }
    if options.is_empty() {
        return Err(bad(
            "start: העסק או איש הצוות אינם פעילים בשעה הזאת (שעות פעילות, סגירה, שבת או חג)",
        ));
    }
    for at in options {
        let new = NewAppointment {
            service_id: service.id,
            at,
            customer_id: b.customer_id,
            customer_name: name.clone(),
            customer_phone: phone.clone(),
            source: "api".into(),
            notes: notes.clone(),
            call_id: None,
        };
        match store::book(&s.db, t.business_id, &new).await {
            Ok(id) => {
                super::events::booked(&s.db, t.business_id, id).await;
                super::sync::changed(&s.db, t.business_id, id).await;
                let a = store::get(&s.db, t.business_id, id)
                    .await?
                    .ok_or(AppError::NotFound)?;
                return Ok((StatusCode::CREATED, Json(AppointmentOut::from(a))).into_response());
            }
            Err(BookError::Taken) => continue,
            Err(BookError::Db(e)) => return Err(e.into()),
        }
    }
    Ok(taken(
        next_free(&s, t.business_id, &service, b.staff_id, start).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveIn {
    pub start: String,
    pub staff_id: Option<i64>,
    pub business_id: Option<i64>,
}

async fn move_one(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(b): Json<MoveIn>,
) -> ApiResult<Response> {
    let old = store::get(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if old.status != "booked" {
        return Err(AppError::Conflict("התור בוטל ואי אפשר להזיז אותו".into()));
    }
    let service = service_of(&s, t.business_id, old.service_id).await?;
    staff_exists(&s, t.business_id, b.staff_id).await?;
    let only = b.staff_id.or(Some(old.staff_id));
    let start = check_start(&b.start)?;
    let end = start + SignedDuration::from_mins(service.duration_minutes);
    let setup = avail::load(&s.db, s.google.as_ref(), t.business_id, start, end).await?;
    let Some(at) = placements(&setup, &service, only, start).into_iter().next() else {
        if anyone_works(&setup, &service, only, start) {
            return Ok(taken(
                next_free(&s, t.business_id, &service, only, start).await?,
            ));
        }
        return Err(bad(
            "start: העסק או איש הצוות אינם פעילים בשעה הזאת (שעות פעילות, סגירה, שבת או חג)",
        ));
    };
    match store::move_to(&s.db, t.business_id, id, &at).await {
        Ok(true) => {
            super::events::moved(&s.db, t.business_id, id).await;
            super::sync::changed(&s.db, t.business_id, id).await;
            read(State(s), t, Path(id))
                .await
                .map(IntoResponse::into_response)
        }
        Ok(false) => Err(AppError::Conflict("התור בוטל ואי אפשר להזיז אותו".into())),
        Err(BookError::Taken) => Ok(taken(
            next_free(&s, t.business_id, &service, only, start).await?,
        )),
        Err(BookError::Db(e)) => Err(e.into()),
    }
}

async fn cancel(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<AppointmentOut>> {
    store::get(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if store::cancel(&s.db, t.business_id, id).await? {
        super::events::cancelled(&s.db, t.business_id, id, "staff").await;
        super::sync::changed(&s.db, t.business_id, id).await;
    }
    read(State(s), t, Path(id)).await
}
