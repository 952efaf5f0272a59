//! The customer's WhatsApp messages about their appointment (#19, W3): the confirmation the
//! moment it is booked (whoever booked it), the reminder the day before at the business's
//! hour, and a notice when staff move or cancel it. Each is a durable job
//! (`appointment_notice`, idempotency key `appt:<id>:<notice>:<start>`), run by
//! [`AppointmentJobs`]; the job records the message `queued` with its `whatsapp_send` job,
//! whose retries (429, 5xx, a refused connection) are the WhatsApp feature's. So nothing is
//! lost to a crash or to a provider's bad minute, and a rerun never sends twice (the
//! message's idempotency key is the job's).
//!
//! A job checks, when it runs, that the appointment is still as it was announced: a
//! reminder (or confirmation) of an appointment since cancelled or moved drops itself, and
//! a move schedules the new time's reminder. Within WhatsApp's 24-hour customer-service
//! window (the customer wrote to the business in the last 24 hours) the message is plain
//! Hebrew text; outside it Meta and Twilio deliver only approved templates, so the
//! business's template from its appointment settings goes (variables: 1 the customer's
//! name, 2 the service, 3 the day and time in Israel, 4 the business). When nothing can go
//! (no WhatsApp configured, no template outside the window, no phone), that is noted on
//! the appointment (`whatsapp_note`), not treated as an error.
//!
//! The customer's answer ("1" confirms, "2" cancels) is [`super::answers`]; with the
//! business's auto-reply off, it runs here as an `appointment_answer` job.

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::config::WhatsappProvider;
use crate::domain::Phone;
use crate::jobs::{Handler, JobError, JobResult, Outcome, payload};
use crate::notify::quiet::Quiet;
use crate::store::appointments::{self as store, Appointment};
use crate::store::appointments_customer as customer_store;
use crate::store::jobs::{Job, NewJob};
use crate::store::{Db, businesses, customers, now_ms, scheduling, whatsapp as wa_store};
use crate::whatsapp::send::Template;
use crate::whatsapp::state::WaState;

pub const APPOINTMENT_NOTICE: &str = "appointment_notice";
pub const APPOINTMENT_ANSWER: &str = "appointment_answer";

/// The kinds [`AppointmentJobs`] runs.
pub const KINDS: &[&str] = &[APPOINTMENT_NOTICE, APPOINTMENT_ANSWER];

/// Attempts at recording a notice (only the database can fail it; the provider's
/// failures are the send job's).
const ATTEMPTS: i64 = 8;
/// A reminder that could only go this close to the appointment is not sent.
const REMINDER_MARGIN_MS: i64 = 2 * 60 * 60 * 1000;

/// Which message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notice {
    Confirmation,
    Reminder,
    Moved,
    Cancelled,
}

impl Notice {
    pub fn as_str(self) -> &'static str {
        match self {
            Notice::Confirmation => "confirmation",
            Notice::Reminder => "reminder",
            Notice::Moved => "moved",
            Notice::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct NoticePayload {
    business_id: i64,
    appointment_id: i64,
    notice: Notice,
    /// The start it was announced for: a moved appointment's old notices drop themselves.
    starts_at: i64,
}

/// The idempotency key of a notice (also its message's).
pub fn key(a: &Appointment, notice: Notice) -> String {
    format!("appt:{}:{}:{}", a.id, notice.as_str(), a.starts_at)
}

async fn enqueue(
    db: &Db,
    a: &Appointment,
    notice: Notice,
    run_after: i64,
) -> Result<(), sqlx::Error> {
    if a.customer_phone.is_none() {
        customer_store::note(
            db,
            a.business_id,
            a.id,
            Some("ללקוח אין מספר טלפון: לא נשלחה הודעת WhatsApp"),
        )
        .await?;
        return Ok(());
    }
    let payload = serde_json::to_value(NoticePayload {
        business_id: a.business_id,
        appointment_id: a.id,
        notice,
        starts_at: a.starts_at,
    })
    .unwrap_or_default();
    let key = key(a, notice);
    crate::jobs::enqueue_with(
        db,
        &NewJob {
            kind: APPOINTMENT_NOTICE,
            payload: &payload,
            idempotency_key: Some(&key),
            run_after,
            max_attempts: ATTEMPTS,
        },
    )
    .await?;
    Ok(())
}

/// A new booking: the confirmation now, the reminder at its time.
pub async fn booked(db: &Db, a: &Appointment) -> Result<(), sqlx::Error> {
    enqueue(db, a, Notice::Confirmation, now_ms()).await?;
    schedule_reminder(db, a).await
}

/// A move: the new time now, and the new time's reminder.
pub async fn moved(db: &Db, a: &Appointment) -> Result<(), sqlx::Error> {
    enqueue(db, a, Notice::Moved, now_ms()).await?;
    schedule_reminder(db, a).await
}

/// A cancellation by staff.
pub async fn cancelled(db: &Db, a: &Appointment) -> Result<(), sqlx::Error> {
    enqueue(db, a, Notice::Cancelled, now_ms()).await
}

async fn schedule_reminder(db: &Db, a: &Appointment) -> Result<(), sqlx::Error> {
    let s = scheduling::settings(db, a.business_id).await?;
    if s.reminders_on == 0 {
        return Ok(());
    }
    match reminder_at(a.starts_at, s.reminder_minute, s.closed_on_holy_days != 0) {
        Some(at) if at > now_ms() => enqueue(db, a, Notice::Reminder, at).await,
        _ => Ok(()),
    }
}

/// When the reminder of an appointment starting at `starts_at` goes: the day before at
/// `minute` (after midnight, Israel's time). A business closed on Shabbat and the holidays
/// sends none during them: it waits for their end, and is skipped when that end is within
/// two hours of the appointment. `None`: no reminder.
pub fn reminder_at(starts_at: i64, minute: i64, keeps_shabbat: bool) -> Option<i64> {
    let tz = calendar::israel();
    let start = Timestamp::from_millisecond(starts_at)
        .ok()?
        .to_zoned_datetime(tz.clone());
    let day = start.date().yesterday().ok()?;
    let minute = minute.clamp(0, 1439);
    let dt = day.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
    let mut at = tz.to_timestamp(dt).ok()?.as_millisecond();
    if keeps_shabbat {
        at = Quiet {
            daily: None,
            shabbat: true,
        }
        .release_at(at);
    }
    (at < starts_at - REMINDER_MARGIN_MS).then_some(at)
}

/// Runs the appointments' jobs.
pub struct AppointmentJobs(pub WaState);

impl Handler for AppointmentJobs {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let state = self.0.clone();
        Box::pin(async move {
            match job.kind.as_str() {
                APPOINTMENT_NOTICE => run_notice(&state, &job).await,
                APPOINTMENT_ANSWER => run_answer(&state, &job).await,
                other => Err(JobError::permanent(format!("unknown job kind `{other}`"))),
            }
        })
    }
}

async fn run_notice(state: &WaState, job: &Job) -> JobResult {
    let p: NoticePayload = payload(job)?;
    let Some(a) = store::get(&state.db, p.business_id, p.appointment_id).await? else {
        return Ok(Outcome::Done);
    };
    let current = match p.notice {
        Notice::Cancelled => a.status == "cancelled",
        _ => a.status == "booked" && a.starts_at == p.starts_at,
    };
    if !current {
        tracing::info!(
            appointment_id = a.id,
            notice = p.notice.as_str(),
            "APPOINTMENT_NOTICE_DROPPED: the appointment changed since"
        );
        return Ok(Outcome::Done);
    }
    let note = match send(state, &a, p.notice).await? {
        Ok(message_id) => {
            tracing::info!(
                appointment_id = a.id,
                notice = p.notice.as_str(),
                message_id,
                "APPOINTMENT_NOTICE_QUEUED"
            );
            None
        }
        Err(why) => {
            tracing::info!(
                appointment_id = a.id,
                notice = p.notice.as_str(),
                why,
                "APPOINTMENT_NOTICE_NOT_SENT"
            );
            Some(why)
        }
    };
    if note.is_some() || a.whatsapp_note.is_some() {
        customer_store::note(&state.db, a.business_id, a.id, note.as_deref()).await?;
    }
    Ok(Outcome::Done)
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct AnswerPayload {
    pub inbound_id: i64,
}

async fn run_answer(state: &WaState, job: &Job) -> JobResult {
    let p: AnswerPayload = payload(job)?;
    let Some(msg) = wa_store::for_delivery(&state.db, p.inbound_id).await? else {
        return Err(JobError::permanent("the message is gone"));
    };
    super::answers::handle(state, &msg).await?;
    Ok(Outcome::Done)
}

/// What a message says about an appointment: service, day and time (said in Israel's
/// time, relative to now), business.
pub struct Said {
    pub name: String,
    pub service: String,
    pub when: String,
    pub business: String,
}

impl Said {
    pub async fn of(db: &Db, a: &Appointment) -> Result<Said, sqlx::Error> {
        let service = scheduling::get_service(db, a.business_id, a.service_id)
            .await?
            .map(|s| s.name)
            .unwrap_or_default();
        let business = businesses::get(db, a.business_id)
            .await?
            .map(|b| b.name)
            .unwrap_or_default();
        let when = Timestamp::from_millisecond(a.starts_at)
            .map(|t| super::spoken::when(t, Timestamp::now()))
            .unwrap_or_default();
        let name = a
            .customer_name
            .as_deref()
            .map(|n| crate::notify::message::one_line(n, 60))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "לקוח/ה יקר/ה".into());
        Ok(Said {
            name,
            service: crate::notify::message::one_line(&service, 80),
            when,
            business: crate::notify::message::one_line(&business, 80),
        })
    }

    /// The Hebrew text of a notice.
    pub fn text(&self, notice: Notice, confirmed: bool) -> String {
        const ASK: &str = "השיבו 1 לאישור או 2 לביטול";
        let Said {
            name,
            service,
            when,
            business,
        } = self;
        match notice {
            Notice::Confirmation => {
                format!("שלום {name}, נקבע לך תור ל{service} ב{business}: {when}.\n{ASK}.")
            }
            Notice::Reminder if confirmed => {
                format!("שלום {name}, תזכורת: יש לך תור ל{service} ב{business}: {when}. נתראה!")
            }
            Notice::Reminder => {
                format!("שלום {name}, תזכורת: יש לך תור ל{service} ב{business}: {when}.\n{ASK}.")
            }
            Notice::Moved => {
                format!("שלום {name}, התור שלך ל{service} ב{business} הועבר: {when}.\n{ASK}.")
            }
            Notice::Cancelled => format!(
                "שלום {name}, התור שלך ל{service} ב{business} ({when}) בוטל. \
                 לקביעת תור חדש אפשר להתקשר או לכתוב לנו."
            ),
        }
    }

    /// A template's variables: 1 name, 2 service, 3 day and time, 4 business.
    pub fn variables(&self) -> std::collections::BTreeMap<String, String> {
        [
            ("1", &self.name),
            ("2", &self.service),
            ("3", &self.when),
            ("4", &self.business),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
    }
}

/// Where a business's messages to a customer go out, through the configured provider:
/// `(provider, from)`, or why none can go (Hebrew, noted on the appointment).
pub async fn channel(
    state: &WaState,
    business: &businesses::Business,
) -> Result<Result<(WhatsappProvider, Option<String>), String>, sqlx::Error> {
    let Some(provider) = state.settings.whatsapp_provider else {
        return Ok(Err(
            "WhatsApp אינו מוגדר בשירות: לא נשלחה הודעה ללקוח".into()
        ));
    };
    if !crate::whatsapp::inbound::can_send(state, crate::whatsapp::provider_name(provider)) {
        return Ok(Err(
            "ספק ה-WhatsApp אינו מוגדר לשליחה: לא נשלחה הודעה ללקוח".into(),
        ));
    }
    let from = match provider {
        WhatsappProvider::Twilio => {
            match crate::whatsapp::api::twilio_sender(state, business).await? {
                Some(from) => Some(from),
                None => {
                    return Ok(Err(
                        "לעסק אין מספר WhatsApp לשליחה: לא נשלחה הודעה ללקוח".into()
                    ));
                }
            }
        }
        WhatsappProvider::Meta => {
            if crate::whatsapp::meta::sender_id(state, Some(business))
                .await?
                .is_none()
            {
                return Ok(Err(
                    "לעסק אין מספר WhatsApp ב-Meta: לא נשלחה הודעה ללקוח".into()
                ));
            }
            business.whatsapp_number.clone()
        }
        WhatsappProvider::Baileys => business.whatsapp_number.clone(),
    };
    Ok(Ok((provider, from)))
}

/// Records the notice `queued` with its send job: `Ok(message id)`, or why it cannot go.
async fn send(
    state: &WaState,
    a: &Appointment,
    notice: Notice,
) -> Result<Result<i64, String>, sqlx::Error> {
    let Some(phone) = a
        .customer_phone
        .as_deref()
        .and_then(|p| Phone::parse(p).ok())
    else {
        return Ok(Err("ללקוח אין מספר טלפון: לא נשלחה הודעת WhatsApp".into()));
    };
    let Some(business) = businesses::get(&state.db, a.business_id).await? else {
        return Ok(Err("העסק אינו קיים".into()));
    };
    let (provider, from) = match channel(state, &business).await? {
        Ok(c) => c,
        Err(why) => return Ok(Err(why)),
    };
    let customer = customers::by_phone(&state.db, a.business_id, &phone).await?;
    let last_inbound_at = customer.as_ref().and_then(|c| c.last_inbound_at);
    let customer_id = match customer {
        Some(c) => c.id,
        None => {
            customers::upsert_by_phone(
                &state.db,
                a.business_id,
                &phone,
                a.customer_name.as_deref(),
                "appointment",
            )
            .await?
        }
    };
    let within_window =
        last_inbound_at.is_some_and(|at| now_ms() - at < crate::whatsapp::api::WINDOW_MS);
    let said = Said::of(&state.db, a).await?;
    let (body, template) = if within_window || provider == WhatsappProvider::Baileys {
        (Some(said.text(notice, a.confirmed_at.is_some())), None)
    } else {
        let s = scheduling::settings(&state.db, a.business_id).await?;
        let (field, name) = match notice {
            Notice::Confirmation | Notice::Moved => ("confirm_template", s.confirm_template),
            Notice::Reminder => ("reminder_template", s.reminder_template),
            Notice::Cancelled => ("cancel_template", s.cancel_template),
        };
        let Some(name) = name else {
            return Ok(Err(format!(
                "הלקוח לא כתב לעסק ב-24 השעות האחרונות ולא הוגדרה תבנית ({field}): \
                 WhatsApp מחייב תבנית מאושרת, ולכן לא נשלחה הודעה"
            )));
        };
        let t = Template {
            content_sid: name,
            variables: said.variables(),
            language: (provider == WhatsappProvider::Meta).then(|| "he".to_string()),
        };
        (None, serde_json::to_string(&t).ok())
    };
    let status_callback = match (provider, &state.settings.public_base_url) {
        (WhatsappProvider::Twilio, Some(base)) => Some(format!(
            "{}/webhook/whatsapp/status",
            base.trim_end_matches('/')
        )),
        _ => None,
    };
    let new = wa_store::NewOutbound {
        customer_id,
        provider: crate::whatsapp::provider_name(provider),
        from_number: from,
        to_number: phone.to_string(),
        body,
        template,
        status_callback,
        idempotency_key: Some(key(a, notice)),
        reply_to: None,
    };
    let (msg, inserted) = wa_store::queue_outbound(
        &state.db,
        a.business_id,
        &new,
        &crate::whatsapp::jobs::SEND_JOB,
    )
    .await?;
    if inserted {
        crate::jobs::wake();
    }
    Ok(Ok(msg.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn il(raw: &str) -> i64 {
        super::super::time::parse("t", raw)
            .unwrap()
            .as_millisecond()
    }

    #[test]
    fn the_reminder_goes_the_evening_before_in_israel_time() {
        // Winter (UTC+2) and summer (UTC+3): 18:00 on the day before, local.
        assert_eq!(
            reminder_at(il("2030-01-08T10:00"), 18 * 60, false),
            Some(il("2030-01-07T18:00"))
        );
        assert_eq!(
            reminder_at(il("2030-07-09T10:00"), 18 * 60, false),
            Some(il("2030-07-08T18:00"))
        );
        // Too close to the appointment: none.
        assert_eq!(reminder_at(il("2030-01-08T00:30"), 23 * 60, false), None);
    }

    #[test]
    fn a_business_keeping_shabbat_reminds_after_it() {
        // Sunday 2030-01-13's reminder falls on Saturday 18:00: after Shabbat's end.
        let at = reminder_at(il("2030-01-13T10:00"), 18 * 60, true).unwrap();
        assert!(at > il("2030-01-12T18:00"), "{at}");
        assert!(at <= il("2030-01-12T20:00"));
        assert_eq!(
            reminder_at(il("2030-01-13T10:00"), 18 * 60, false),
            Some(il("2030-01-12T18:00"))
        );
    }
}
