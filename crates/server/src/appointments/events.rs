//! `appointment.booked` and `appointment.cancelled` out as signed webhooks (#19, #22 X5),
//! whoever booked or cancelled: staff through the API or the caller on the phone. The
//! appointment as the API shows it is the event's data. A failure to record the delivery
//! never fails the booking: it is logged and counted.

use crate::hooks::{self, Event};
use crate::store::Db;
use crate::store::appointments as store;

use super::booking::AppointmentOut;

/// Records `event` for the business's endpoints that want it.
pub async fn announce(db: &Db, business_id: i64, appointment_id: i64, event: Event) {
    let appointment = match store::get(db, business_id, appointment_id).await {
        Ok(Some(a)) => a,
        Ok(None) => return,
        Err(e) => {
            crate::telemetry::count_error("webhook_emit");
            tracing::warn!(business_id, appointment_id, error = %e, "WEBHOOK_EMIT_FAILED");
            return;
        }
    };
    let mut data = serde_json::to_value(AppointmentOut::from(appointment)).unwrap_or_default();
    data["business_id"] = serde_json::json!(business_id);
    hooks::emit_logged(db, business_id, event, data).await;
}
