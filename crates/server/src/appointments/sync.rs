//! Our bookings written to the staff member's Google Calendar (#19, X3), by a durable job.
//!
//! Whoever books, moves or cancels (staff through the API, the caller on the phone) calls
//! [`changed`] afterwards: when the staff member has a calendar (or the appointment already
//! has an event there), the appointment is marked `pending` and a `calendar_sync` job is
//! queued in the same transaction. The job brings Google to what the appointment is now:
//! the event inserted (with an id of our own, so a repeated insert finds it: 409 → patch),
//! patched when moved, deleted when cancelled or moved to another calendar. A failure is
//! noted on the appointment (`failed` and the error) and retried with the pool's backoff;
//! the booking itself never waits on Google.

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::gcal::{GcalError, Google, event_time};
use crate::jobs::{Handler, JobError, JobResult, Outcome};
use crate::store::Db;
use crate::store::calendar_sync::{self as store, Target};
use crate::store::jobs::{Job, NewJob};

/// The job kind that writes one appointment's event.
pub const CALENDAR_SYNC: &str = "calendar_sync";
/// The kinds [`CalendarJobs`] runs.
pub const KINDS: &[&str] = &[CALENDAR_SYNC];
/// Attempts before giving up (the pool's backoff reaches its 10-minute cap after ten, so
/// this is a few hours of Google being away).
const MAX_ATTEMPTS: i64 = 30;

/// Queues the event write of an appointment just booked, moved or cancelled, when its
/// staff member's calendar is connected. Logged, never an error: the booking stands.
pub async fn changed(db: &Db, business_id: i64, appointment_id: i64) {
    let payload = json!({ "business_id": business_id, "appointment_id": appointment_id });
    let job = NewJob {
        kind: CALENDAR_SYNC,
        payload: &payload,
        idempotency_key: None,
        run_after: crate::store::now_ms(),
        max_attempts: MAX_ATTEMPTS,
    };
    match store::schedule(db, business_id, appointment_id, &job).await {
        Ok(true) => crate::jobs::wake(),
        Ok(false) => {}
        Err(e) => {
            crate::telemetry::count_error("calendar_sync_enqueue");
            tracing::warn!(business_id, appointment_id, error = %e, "CALENDAR_SYNC_ENQUEUE_FAILED");
        }
    }
}

/// Our own id for an appointment's event: Google accepts client ids of `a`–`v` and digits.
pub fn event_id(business_id: i64, appointment_id: i64) -> String {
    format!("mokdanb{business_id}a{appointment_id}")
}

/// The event as Google gets it: service and customer, Israel's time.
fn event_body(t: &Target) -> Value {
    let start = Timestamp::from_millisecond(t.starts_at).unwrap_or(Timestamp::UNIX_EPOCH);
    let end = Timestamp::from_millisecond(t.ends_at).unwrap_or(Timestamp::UNIX_EPOCH);
    let who = t.customer_name.as_deref().unwrap_or("לקוח");
    let mut description = String::new();
    if let Some(p) = &t.customer_phone {
        description.push_str(&format!("טלפון: {p}\n"));
    }
    description.push_str(&format!("איש צוות: {}\n", t.staff_name));
    if !t.notes.is_empty() {
        description.push_str(&t.notes);
    }
    json!({
        "summary": format!("{} – {who}", t.service_name),
        "description": description,
        "start": event_time(start),
        "end": event_time(end),
        "status": "confirmed",
        "extendedProperties": { "private": { "mokdan_appointment_id": t.id.to_string() } },
    })
}

/// The job handler, holding the database and the Google account (if configured).
#[derive(Clone)]
pub struct CalendarJobs {
    pub db: Db,
    pub google: Option<Google>,
}

impl Handler for CalendarJobs {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let this = self.clone();
        Box::pin(async move { this.sync(&job).await })
    }
}

impl CalendarJobs {
    async fn sync(&self, job: &Job) -> JobResult {
        let p = job.payload_json();
        let (Some(business_id), Some(id)) =
            (p["business_id"].as_i64(), p["appointment_id"].as_i64())
        else {
            return Err(JobError::permanent("calendar_sync: bad payload"));
        };
        let Some(t) = store::target(&self.db, business_id, id).await? else {
            return Ok(Outcome::Done);
        };
        let Some(google) = &self.google else {
            let why = "Google credentials are not configured";
            store::record_failure(&self.db, business_id, id, why).await?;
            return Err(JobError::permanent(why));
        };
        match self.reconcile(google, &t).await {
            Ok(()) => Ok(Outcome::Done),
            Err(e) => {
                store::record_failure(&self.db, business_id, id, &e.to_string()).await?;
                tracing::warn!(business_id, appointment_id = id, attempt = job.attempts,
                    error = %e, "CALENDAR_SYNC_FAILED: will retry");
                Err(JobError::retry(format!("calendar_sync: {e}")))
            }
        }
    }

    /// Brings the calendar to what the appointment is now.
    async fn reconcile(&self, google: &Google, t: &Target) -> Result<(), GcalError> {
        let db = &self.db;
        let wanted = if t.status == "booked" {
            t.calendar_id.as_deref()
        } else {
            None
        };
        let mut current = match (&t.event_calendar, &t.event_id) {
            (Some(c), Some(e)) => Some((c.as_str(), e.as_str())),
            _ => None,
        };
        if let Some((cal, ev)) = current
            && wanted != Some(cal)
        {
            match google.delete(cal, ev).await {
                Ok(()) | Err(GcalError::Gone) => {}
                Err(e) => return Err(e),
            }
            current = None;
            store::record_event(db, t.business_id, t.id, None)
                .await
                .map_err(|e| GcalError::Transient(format!("database: {e}")))?;
        }
        let written = match wanted {
            None => None,
            Some(cal) => {
                let body = event_body(t);
                let ours = event_id(t.business_id, t.id);
                let patched = match current {
                    Some((_, ev)) => match google.patch(cal, ev, &body).await {
                        Ok(()) => Some(ev.to_string()),
                        Err(GcalError::Gone) => None,
                        Err(e) => return Err(e),
                    },
                    None => None,
                };
                let ev = match patched {
                    Some(ev) => ev,
                    None => match google.insert(cal, &ours, &body).await {
                        Ok(ev) => ev,
                        // Written by an earlier attempt whose answer was lost: bring it up
                        // to date instead.
                        Err(GcalError::Exists) => {
                            google.patch(cal, &ours, &body).await?;
                            ours
                        }
                        Err(e) => return Err(e),
                    },
                };
                Some((cal.to_string(), ev))
            }
        };
        store::record_ok(
            db,
            t.business_id,
            t.id,
            written.as_ref().map(|(c, e)| (c.as_str(), e.as_str())),
        )
        .await
        .map_err(|e| GcalError::Transient(format!("database: {e}")))
    }
}
