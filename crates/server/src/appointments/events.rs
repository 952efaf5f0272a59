//! What follows a booking, a move or a cancellation, whoever made it (staff through the
//! API, the caller on the phone, the customer on WhatsApp), so that every path does the
//! same (#19, #22 X5, C2):
//! - `appointment.booked` and `appointment.cancelled` out as signed webhooks (the
//!   appointment as the API shows it is the event's data);
//! - the customer's WhatsApp messages ([`super::notices`]): the confirmation at once and
//!   the reminder the day before, a notice of a move or of a cancellation by staff;
//! - the business's users told by their preferences (`notify`, `appointment.booked` and
//!   `appointment.cancelled`).
//!
//! Each is recorded as durable work (a job); a failure to record it never fails the
//! booking: it is logged and counted.

use jiff::Timestamp;

use crate::hooks::{self, Event};
use crate::store::Db;
use crate::store::appointments::{self as store, Appointment};

use super::booking::AppointmentOut;

/// A new booking.
pub async fn booked(db: &Db, business_id: i64, id: i64) {
    let Some(a) = load(db, business_id, id).await else {
        return;
    };
    webhook(db, &a, Event::AppointmentBooked).await;
    logged(super::notices::booked(db, &a).await, "customer notices");
    users(db, &a, crate::notify::Event::AppointmentBooked).await;
}

/// A booking moved to another time (or staff member): the customer is told, and the
/// reminder follows the new time (the old one finds the time changed and drops itself).
pub async fn moved(db: &Db, business_id: i64, id: i64) {
    let Some(a) = load(db, business_id, id).await else {
        return;
    };
    logged(super::notices::moved(db, &a).await, "customer notices");
}

/// A cancellation; `by` is `staff`, `caller` or `customer`. The customer is told unless
/// they cancelled themselves; a pending reminder drops itself when it runs.
pub async fn cancelled(db: &Db, business_id: i64, id: i64, by: &str) {
    let Some(a) = load(db, business_id, id).await else {
        return;
    };
    webhook(db, &a, Event::AppointmentCancelled).await;
    if by == "staff" {
        logged(super::notices::cancelled(db, &a).await, "customer notices");
    }
    users(db, &a, crate::notify::Event::AppointmentCancelled).await;
}

async fn load(db: &Db, business_id: i64, id: i64) -> Option<Appointment> {
    match store::get(db, business_id, id).await {
        Ok(a) => a,
        Err(e) => {
            crate::telemetry::count_error("appointment_events");
            tracing::warn!(business_id, appointment_id = id, error = %e, "APPOINTMENT_EVENTS_FAILED");
            None
        }
    }
}

fn logged(r: Result<(), sqlx::Error>, what: &str) {
    if let Err(e) = r {
        crate::telemetry::count_error("appointment_events");
        tracing::warn!(what, error = %e, "APPOINTMENT_EVENTS_FAILED");
    }
}

/// Records `event` for the business's endpoints that want it.
async fn webhook(db: &Db, a: &Appointment, event: Event) {
    let mut data = serde_json::to_value(AppointmentOut::from(a.clone())).unwrap_or_default();
    data["business_id"] = serde_json::json!(a.business_id);
    hooks::emit_logged(db, a.business_id, event, data).await;
}

/// The business's users who asked for `event`, by their channels and quiet hours.
async fn users(db: &Db, a: &Appointment, event: crate::notify::Event) {
    let service = crate::store::scheduling::get_service(db, a.business_id, a.service_id)
        .await
        .ok()
        .flatten()
        .map(|s| s.name)
        .unwrap_or_default();
    let when = Timestamp::from_millisecond(a.starts_at)
        .map(|t| super::spoken::when(t, Timestamp::now()))
        .unwrap_or_default();
    let details = if service.is_empty() {
        when
    } else {
        format!("{service}, {when}")
    };
    let about = crate::notify::About {
        occasion: format!("appointment:{}:{}", a.id, a.starts_at),
        call_sid: None,
        data: serde_json::json!({
            "details": details,
            "name": a.customer_name,
            "phone": a.customer_phone,
            "appointment_id": a.id,
        }),
    };
    if let Err(e) = crate::notify::emit(db, a.business_id, event, &about).await {
        crate::telemetry::count_error("appointment_events");
        tracing::warn!(appointment_id = a.id, error = %e, "appointment notifications not queued");
    }
}
