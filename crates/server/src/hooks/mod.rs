//! Signed webhooks out (#22): a business's HTTPS endpoints receive its events, signed per
//! the Standard Webhooks specification, delivered by the job queue with retries.
//!
//! Where something happens (a call completes or is summarised, a lead is created, a
//! WhatsApp message arrives), its feature calls [`emit`]: one indexed query finds the
//! business's enabled endpoints, and only when one wants the event is a delivery recorded
//! with its `webhook_delivery` job (same transaction). The job ([`deliver`]) signs and
//! posts the body, records each attempt on the delivery, retries on the specification's
//! schedule and gives up at once on a permanent refusal. The API ([`routes`]) manages
//! endpoints (owners) and lists and resends deliveries; [`guard`] keeps deliveries off
//! private networks in production.

pub mod deliver;
pub mod guard;
pub mod routes;
pub mod sign;
pub mod state;

use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::jobs::{Handler, JobError, JobResult};
use crate::store::Db;
use crate::store::hooks::{self as store, NewDelivery};
use crate::store::jobs::Job;
pub use state::HooksState;

/// The job kind that sends one delivery.
pub const WEBHOOK_DELIVERY: &str = "webhook_delivery";
/// The kinds [`Hooks`] runs.
pub const KINDS: &[&str] = &[WEBHOOK_DELIVERY];
/// Attempts per delivery (the first and seven retries, over about a day).
pub const MAX_ATTEMPTS: i64 = 8;

/// The events a business can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    CallCompleted,
    CallSummarised,
    LeadCreated,
    AppointmentBooked,
    AppointmentCancelled,
    WhatsappReceived,
}

impl Event {
    pub const ALL: [Event; 6] = [
        Event::CallCompleted,
        Event::CallSummarised,
        Event::LeadCreated,
        Event::AppointmentBooked,
        Event::AppointmentCancelled,
        Event::WhatsappReceived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::CallCompleted => "call.completed",
            Event::CallSummarised => "call.summarised",
            Event::LeadCreated => "lead.created",
            Event::AppointmentBooked => "appointment.booked",
            Event::AppointmentCancelled => "appointment.cancelled",
            Event::WhatsappReceived => "whatsapp.received",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s.trim())
    }

    /// What the owner reads in the web app.
    pub fn hebrew(self) -> &'static str {
        match self {
            Event::CallCompleted => "שיחה הסתיימה",
            Event::CallSummarised => "סיכום שיחה מוכן",
            Event::LeadCreated => "ליד חדש",
            Event::AppointmentBooked => "תור נקבע",
            Event::AppointmentCancelled => "תור בוטל",
            Event::WhatsappReceived => "הודעת וואטסאפ התקבלה",
        }
    }
}

/// Records a delivery (and its job) of `event` to every enabled endpoint of the business
/// that wants it; the number recorded. The body is `{"type", "timestamp", "data"}`. With no
/// endpoint this is one indexed query.
pub async fn emit(
    db: &Db,
    business_id: i64,
    event: Event,
    data: Value,
) -> Result<usize, sqlx::Error> {
    let endpoints = store::enabled_endpoints(db, business_id).await?;
    emit_to(db, business_id, &endpoints, event, data).await
}

/// [`emit`] to endpoints already read.
async fn emit_to(
    db: &Db,
    business_id: i64,
    endpoints: &[store::Endpoint],
    event: Event,
    data: Value,
) -> Result<usize, sqlx::Error> {
    let wanted: Vec<_> = endpoints
        .iter()
        .filter(|e| e.wants(event.as_str()))
        .collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let body = json!({
        "type": event.as_str(),
        "timestamp": rfc3339(crate::store::now_ms()),
        "data": data,
    })
    .to_string();
    let ids: Vec<String> = wanted.iter().map(|_| sign::new_msg_id()).collect();
    let deliveries: Vec<NewDelivery<'_>> = wanted
        .iter()
        .zip(&ids)
        .map(|(e, msg_id)| NewDelivery {
            endpoint_id: e.id,
            event: event.as_str(),
            msg_id,
            payload: &body,
            job_kind: WEBHOOK_DELIVERY,
            max_attempts: MAX_ATTEMPTS,
        })
        .collect();
    let made = store::insert_deliveries(db, business_id, &deliveries).await?;
    crate::jobs::wake();
    tracing::info!(
        business_id,
        event = event.as_str(),
        deliveries = made.len(),
        "WEBHOOK_EMIT"
    );
    Ok(made.len())
}

/// [`emit`] where a failure must not fail the caller (a webhook answering Twilio, a job
/// whose work is done): the error is logged and counted.
pub async fn emit_logged(db: &Db, business_id: i64, event: Event, data: Value) {
    if let Err(e) = emit(db, business_id, event, data).await {
        crate::telemetry::count_error("webhook_emit");
        tracing::warn!(business_id, event = event.as_str(), error = %e, "WEBHOOK_EMIT_FAILED");
    }
}

/// `call.completed` / `call.summarised` for a stored call: its fields as the event's data.
/// Nothing when the call has no business. One indexed query when the call's business has
/// no endpoint that wants the event.
pub async fn emit_call(db: &Db, call_sid: &str, event: Event) -> Result<usize, sqlx::Error> {
    let endpoints = store::enabled_endpoints_of_call(db, call_sid).await?;
    if !endpoints.iter().any(|e| e.wants(event.as_str())) {
        return Ok(0);
    }
    let Some(call) = crate::store::calls::by_sid(db, call_sid).await? else {
        return Ok(0);
    };
    let Some(business_id) = call.business_id else {
        return Ok(0);
    };
    let mut data = json!({
        "business_id": business_id,
        "call_id": call.id,
        "call_sid": call.call_sid,
        "from": call.from_number,
        "to": call.to_number,
        "direction": call.direction,
        "status": call.status,
        "duration_secs": call.duration_secs,
        "customer_id": call.customer_id,
    });
    if event == Event::CallSummarised {
        data["summary"] = json!(call.call_summary);
        data["caller_name"] = json!(call.caller_name);
        data["caller_reason"] = json!(call.caller_reason);
        data["callback_time"] = json!(call.callback_time);
        data["urgency"] = json!(call.urgency);
        data["transcription"] = json!(call.transcription);
    }
    emit_to(db, business_id, &endpoints, event, data).await
}

/// `lead.created`'s data for a customer.
pub fn lead_data(c: &crate::store::customers::Customer) -> Value {
    json!({
        "business_id": c.business_id,
        "lead_id": c.id,
        "name": c.name,
        "phone": c.phone,
        "email": c.email,
        "status": c.status,
        "source": c.source,
        "created_at": c.created_at,
    })
}

/// `lead.created` for a customer just made (by id, as a call's follow-up makes them).
pub async fn emit_lead(db: &Db, business_id: i64, customer_id: i64) -> Result<usize, sqlx::Error> {
    match crate::store::customers::get(db, business_id, customer_id).await? {
        Some(c) => emit(db, business_id, Event::LeadCreated, lead_data(&c)).await,
        None => Ok(0),
    }
}

/// Epoch milliseconds as RFC 3339 in UTC (`2026-11-21T12:05:09.123Z`).
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Runs the webhooks feature's jobs.
pub struct Hooks(pub HooksState);

impl Handler for Hooks {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let state = self.0.clone();
        Box::pin(async move {
            match job.kind.as_str() {
                WEBHOOK_DELIVERY => deliver::run(&state, &job).await,
                other => Err(JobError::permanent(format!("unknown job kind `{other}`"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
    }

    #[test]
    fn events_round_trip() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(e));
        }
        assert_eq!(Event::parse("call.started"), None);
    }
}
