//! A staff member's appointments as an ICS feed (RFC 5545) at a secret URL (#19, X3), so
//! an owner can subscribe from a phone's calendar. `POST /api/staff/{id}/ics-token` makes
//! (or replaces, revoking the old URL) a random secret and answers the URL; only the
//! secret's SHA-256 is stored. `GET /ics/staff/{secret}.ics` answers the feed: the
//! appointments from 30 days back and all ahead (up to five years), cancelled ones marked `STATUS:CANCELLED`,
//! times in UTC. A wrong secret is a bare 404 that says nothing. Customer names are the
//! caller's words: the `icalendar` crate escapes them as RFC 5545 text.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use icalendar::{Calendar, Component, Event, EventStatus};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::auth::{Tenant, token_digest};
use crate::crm::state::CrmState;
use crate::error::{ApiResult, AppError};
use crate::store::appointments::{self as booked, Appointment};
use crate::store::calendar_sync as store;
use crate::store::scheduling::{self as setup, Service};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/staff/{id}/ics-token", post(new_token))
        .route("/ics/staff/{file}", get(feed))
}

/// Random bytes in a feed secret (hex in the URL).
const SECRET_BYTES: usize = 32;
const DAYS_BACK: i64 = 30;
/// Everything booked ahead (at most the store's 2,000 rows of a list).
const DAYS_AHEAD: i64 = 5 * 366;

async fn new_token(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let secret = crate::config::random_hex(SECRET_BYTES);
    if !store::set_ics_token(&s.db, t.business_id, id, &token_digest(&secret)).await? {
        return Err(AppError::NotFound);
    }
    let base = s
        .settings
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", s.settings.listen));
    let path = format!("/ics/staff/{secret}.ics");
    Ok(Json(json!({
        "staff_id": id,
        "url": format!("{}{path}", base.trim_end_matches('/')),
        "path": path,
    })))
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

async fn feed(State(s): State<CrmState>, Path(file): Path<String>) -> Response {
    let Some(secret) = file.strip_suffix(".ics") else {
        return not_found();
    };
    if secret.len() != SECRET_BYTES * 2 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return not_found();
    }
    let found = match store::staff_by_ics(&s.db, &token_digest(secret)).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "ICS feed: database unavailable");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let (business_id, staff_id, staff_name) = found;
    let now = Timestamp::now();
    let from = now - SignedDuration::from_hours(24 * DAYS_BACK);
    let to = now + SignedDuration::from_hours(24 * DAYS_AHEAD);
    let rows = booked::list(
        &s.db,
        business_id,
        from.as_millisecond(),
        to.as_millisecond(),
        Some(staff_id),
    )
    .await;
    let services = setup::list_services(&s.db, business_id).await;
    let (Ok(rows), Ok(services)) = (rows, services) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let body = calendar(&staff_name, &rows, &services).to_string();
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// `20300108T070000Z`: a UTC DATE-TIME.
fn utc(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

/// The feed of one staff member.
pub fn calendar(staff_name: &str, rows: &[Appointment], services: &[Service]) -> Calendar {
    let mut cal = Calendar::new();
    cal.name(staff_name);
    for a in rows {
        let service = services
            .iter()
            .find(|s| s.id == a.service_id)
            .map(|s| s.name.as_str())
            .unwrap_or("תור");
        let who = a.customer_name.as_deref().unwrap_or("לקוח");
        let mut ev = Event::new();
        ev.uid(&format!("appointment-{}-{}@mokdan", a.business_id, a.id))
            .summary(&format!("{service} – {who}"))
            .add_property("DTSTAMP", utc(a.updated_at))
            .add_property("DTSTART", utc(a.starts_at))
            .add_property("DTEND", utc(a.ends_at))
            .status(if a.status == "booked" {
                EventStatus::Confirmed
            } else {
                EventStatus::Cancelled
            });
        if let Some(phone) = &a.customer_phone {
            ev.description(&format!("טלפון: {phone}"));
        }
        cal.push(ev.done());
    }
    cal.done()
}
