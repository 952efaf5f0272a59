//! notify/ (#22, C2): WhatsApp and e-mail to a business's users, the moment a call matters.
//!
//! A business owner under a car or with a patient is told when a call's summary is ready
//! (`call.summarised`), at hang-up when a caller asked to be called back or a person
//! (`call.urgent`), and for each new booking (`appointment.booked`) or cancellation
//! (`appointment.cancelled`). [`emit`] turns one
//! event into one durable job per (user, channel) by each user's preferences
//! ([`prefs`], table `notification_prefs`), with an idempotency key per
//! event + occasion + user + channel, so a rerun of the job that emitted never doubles a
//! message. A message due in the user's quiet hours (or on Shabbat) waits for their end
//! (`run_after`); an urgent one goes at once.
//!
//! Delivery runs on the job queue ([`Notify`] for [`KINDS`]): [`email`] over SMTP with
//! `lettre`, [`whatsapp`] to the user's own phone through the configured provider. A
//! failed delivery is retried with backoff and ends `dead`, visible to the operator; a
//! channel that is not configured parks the job `waiting` with the reason, and it resumes
//! at the first start with it configured ([`resume_parked`]).

pub mod email;
pub mod message;
pub mod prefs;
pub mod quiet;
pub mod routes;
pub mod state;
pub mod whatsapp;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::jobs::{Handler, JobError, JobResult, Outcome, payload};
use crate::store::jobs::{Job, NewJob};
use crate::store::{Db, calls, now_ms};
pub use prefs::Prefs;
use state::NotifyState;

pub const NOTIFY_EMAIL: &str = "notify_email";
pub const NOTIFY_WHATSAPP: &str = "notify_whatsapp";

/// The kinds [`Notify`] runs.
pub const KINDS: &[&str] = &[NOTIFY_EMAIL, NOTIFY_WHATSAPP];

/// Attempts per message: with the queue's backoff (1 s doubling) about four minutes of
/// retries before it is `dead`.
pub const MAX_ATTEMPTS: i64 = 8;

/// What a user can be told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    /// A call's summary is ready.
    #[serde(rename = "call.summarised")]
    CallSummarised,
    /// An urgent call, or a caller who asked to be called back or for a person.
    #[serde(rename = "call.urgent")]
    CallUrgent,
    /// A new booking (emitted by appointments).
    #[serde(rename = "appointment.booked")]
    AppointmentBooked,
    /// A cancellation, by staff, the caller on the phone or the customer on WhatsApp.
    #[serde(rename = "appointment.cancelled")]
    AppointmentCancelled,
}

impl Event {
    pub const ALL: [Event; 4] = [
        Event::CallSummarised,
        Event::CallUrgent,
        Event::AppointmentBooked,
        Event::AppointmentCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::CallSummarised => "call.summarised",
            Event::CallUrgent => "call.urgent",
            Event::AppointmentBooked => "appointment.booked",
            Event::AppointmentCancelled => "appointment.cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Urgent messages ignore quiet hours.
    pub fn is_urgent(self) -> bool {
        self == Event::CallUrgent
    }
}

/// A way of reaching a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Whatsapp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Whatsapp => "whatsapp",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Channel::Email => NOTIFY_EMAIL,
            Channel::Whatsapp => NOTIFY_WHATSAPP,
        }
    }
}

/// One message to one user on one channel: a job's payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub event: Event,
    pub business_id: i64,
    pub user_id: i64,
    pub channel: Channel,
    /// The call the message is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_sid: Option<String>,
    /// What else the event carries (an appointment's time, …).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

/// What an event is about: the occasion names it in the idempotency key (a call's SID,
/// with a suffix when one call has two occasions for the same event).
#[derive(Clone, Debug, Default)]
pub struct About {
    pub occasion: String,
    pub call_sid: Option<String>,
    pub data: serde_json::Value,
}

impl About {
    pub fn call(call_sid: &str) -> About {
        About {
            occasion: call_sid.to_string(),
            call_sid: Some(call_sid.to_string()),
            data: serde_json::Value::Null,
        }
    }
}

/// Enqueues `event` for every user of the business who wants it, one job per channel they
/// chose; returns how many jobs were new.
pub async fn emit(
    db: &Db,
    business_id: i64,
    event: Event,
    about: &About,
) -> Result<usize, sqlx::Error> {
    emit_first(db, business_id, &[event], about).await
}

/// Like [`emit`], but each user gets only the first of `events` they want: one message
/// per user and channel for one occasion (an urgent call's summary is not sent twice, as
/// urgent and as summarised, to someone who wants both).
pub async fn emit_first(
    db: &Db,
    business_id: i64,
    events: &[Event],
    about: &About,
) -> Result<usize, sqlx::Error> {
    let now = now_ms();
    let mut queued = 0;
    for r in crate::store::notify::recipients(db, business_id).await? {
        let prefs = Prefs::of(&r);
        let Some(event) = events.iter().copied().find(|e| prefs.events.contains(e)) else {
            continue;
        };
        let run_after = if event.is_urgent() {
            now
        } else {
            prefs.quiet().release_at(now)
        };
        for channel in prefs.channels() {
            let d = Delivery {
                event,
                business_id,
                user_id: r.user_id,
                channel,
                call_sid: about.call_sid.clone(),
                data: about.data.clone(),
            };
            let key = format!(
                "notify:{}:{}:{}:{}",
                event.as_str(),
                about.occasion,
                r.user_id,
                channel.as_str()
            );
            let payload = serde_json::to_value(&d).unwrap_or_default();
            let job = NewJob {
                kind: channel.kind(),
                payload: &payload,
                idempotency_key: Some(&key),
                run_after,
                max_attempts: MAX_ATTEMPTS,
            };
            if crate::jobs::enqueue_with(db, &job).await?.is_some() {
                queued += 1;
                tracing::info!(
                    event = event.as_str(),
                    business_id,
                    user_id = r.user_id,
                    channel = channel.as_str(),
                    delayed_ms = run_after - now,
                    "NOTIFY_QUEUED"
                );
            }
        }
    }
    Ok(queued)
}

/// Whether a call is urgent: high urgency, or a call-back asked for.
pub fn call_is_urgent(call: &calls::CallRow) -> bool {
    call.urgency.as_deref() == Some("high")
        || call
            .callback_time
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty())
}

/// After a call's summary is stored: `call.urgent` to those who want it when the call is
/// urgent, else (or for those who do not) `call.summarised`. Never fails the caller's
/// work: a problem is logged, and the summary stands.
pub async fn call_summarised(db: &Db, call_sid: &str) {
    let result = async {
        let Some(call) = calls::by_sid(db, call_sid).await? else {
            return Ok(0);
        };
        let Some(business_id) = call.business_id else {
            return Ok(0);
        };
        let events: &[Event] = if call_is_urgent(&call) {
            &[Event::CallUrgent, Event::CallSummarised]
        } else {
            &[Event::CallSummarised]
        };
        emit_first(db, business_id, events, &About::call(call_sid)).await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(call_sid, error = %e, "notifications for a summarised call not queued");
    }
}

/// At hang-up: `call.urgent` at once when the live call recorded a call-back request or
/// high urgency, before the summary is ready. Its own occasion (`…:hangup`), so the
/// summary still follows.
pub async fn call_ended(db: &Db, call_sid: &str) -> Result<(), sqlx::Error> {
    let Some(call) = calls::by_sid(db, call_sid).await? else {
        return Ok(());
    };
    let (Some(business_id), true) = (call.business_id, call_is_urgent(&call)) else {
        return Ok(());
    };
    let about = About {
        occasion: format!("{call_sid}:hangup"),
        call_sid: Some(call_sid.to_string()),
        data: serde_json::Value::Null,
    };
    emit(db, business_id, Event::CallUrgent, &about).await?;
    Ok(())
}

/// Runs the notify feature's jobs.
pub struct Notify(pub NotifyState);

impl Handler for Notify {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let state = self.0.clone();
        Box::pin(async move {
            let d: Delivery = payload(&job)?;
            match job.kind.as_str() {
                NOTIFY_EMAIL | NOTIFY_WHATSAPP => deliver(&state, &job, &d).await,
                other => Err(JobError::permanent(format!("unknown job kind `{other}`"))),
            }
        })
    }
}

/// One attempt at one message.
async fn deliver(state: &NotifyState, job: &Job, d: &Delivery) -> JobResult {
    let Some(r) = crate::store::notify::recipient(&state.db, d.business_id, d.user_id).await?
    else {
        tracing::info!(user_id = d.user_id, "NOTIFY_SKIPPED: the user is gone");
        return Ok(Outcome::Done);
    };
    let prefs = Prefs::of(&r);
    if !prefs.channels().contains(&d.channel) {
        tracing::info!(
            user_id = d.user_id,
            channel = d.channel.as_str(),
            "NOTIFY_SKIPPED: the user turned this channel off"
        );
        return Ok(Outcome::Done);
    }
    // Resumed or retried into quiet hours: wait again (urgent messages never do).
    let now = now_ms();
    let release = prefs.quiet().release_at(now);
    if !d.event.is_urgent() && release > now {
        return Err(
            JobError::retry("quiet hours").after(std::time::Duration::from_millis(
                (release - now).unsigned_abs(),
            )),
        );
    }
    let note = match message::Note::load(&state.db, &state.settings, d).await? {
        Some(note) => note,
        None => return Err(JobError::permanent("the call is gone")),
    };
    let result = match d.channel {
        Channel::Email => email::send(state, &r, &note).await,
        Channel::Whatsapp => whatsapp::send(state, d.business_id, &prefs, &note).await,
    };
    match result {
        Ok(Sent::Done(id)) => {
            metrics::counter!("mokdan_notifications_sent_total", "channel" => d.channel.as_str())
                .increment(1);
            tracing::info!(
                event = d.event.as_str(),
                user_id = d.user_id,
                channel = d.channel.as_str(),
                provider_id = %id,
                attempts = job.attempts,
                "NOTIFY_SENT"
            );
            Ok(Outcome::Done)
        }
        Ok(Sent::NotConfigured(why)) => Ok(Outcome::Waiting(why)),
        Err(e) => {
            crate::telemetry::count_error("notify");
            tracing::warn!(
                user_id = d.user_id,
                channel = d.channel.as_str(),
                error = %e.message,
                "NOTIFY_FAILED"
            );
            Err(e)
        }
    }
}

/// What a channel did with a message.
pub enum Sent {
    /// Handed over; the provider's id or the server's answer.
    Done(String),
    /// The channel is not configured: the job waits, with this reason for the operator.
    NotConfigured(String),
}

/// At start-up: messages parked for want of a channel go once it is configured.
pub async fn resume_parked(state: &NotifyState) {
    let mut kinds = Vec::new();
    if state.settings.smtp_url.is_some() {
        kinds.push(NOTIFY_EMAIL);
    }
    if whatsapp::configured(&state.settings).is_ok() {
        kinds.push(NOTIFY_WHATSAPP);
    }
    for kind in kinds {
        match crate::store::jobs::resume_waiting(&state.db, kind).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(kind, resumed = n, "waiting notifications resumed"),
            Err(e) => tracing::warn!(kind, error = %e, "could not resume waiting notifications"),
        }
    }
}
