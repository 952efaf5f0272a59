//! The customer's WhatsApp answer to an appointment's confirmation or reminder (#19, C4):
//! "1" (or "כן", "מאשר/ת") confirms, "2" (or "ביטול", "לבטל") cancels and frees the time
//! through the store's cancel, so the slot is bookable again at once. It acts on the
//! nearest upcoming appointment of the number that wrote, in the business it wrote to and
//! no other: the same customer's appointments at another business are untouched. The
//! target is the nearest one not yet confirmed ("2" falls back to the nearest confirmed
//! one: a customer may change their mind). Both are recorded on the appointment
//! (`confirmed_at`, or `cancelled_by = 'customer'` with `cancelled_at`), together with the
//! message that answered, and the customer is answered in Hebrew.
//!
//! It runs in the `whatsapp_reply` job ahead of the auto-reply, or as its own
//! `appointment_answer` job when the business's auto-reply is off; a message that is not
//! an answer, or a number with no upcoming appointment, goes on to the auto-reply as
//! before. A rerun finds the appointment the message already answered (its
//! `answered_message_id`) and never acts on a second one; the reply's idempotency key
//! (`appt_answer:<message id>`) keeps it to one message.

use crate::store::appointments::{self as store, Appointment};
use crate::store::appointments_customer as customer_store;
use crate::store::now_ms;
use crate::store::whatsapp::{self as wa_store, Message};
use crate::whatsapp::state::WaState;

use super::notices::Said;

/// What the customer answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Confirm,
    Cancel,
}

/// Reads a message as an answer: the whole message, trimmed of spaces and punctuation.
pub fn parse(text: &str) -> Option<Answer> {
    let t: String = text
        .trim()
        .trim_matches(|c: char| c.is_whitespace() || ".,!?׳'\"*".contains(c))
        .to_string();
    match t.as_str() {
        "1" | "כן" | "מאשר" | "מאשרת" | "מאושר" | "אישור" | "1️⃣" => {
            Some(Answer::Confirm)
        }
        "2" | "ביטול" | "לבטל" | "בטל" | "בטלו" | "2️⃣" => Some(Answer::Cancel),
        _ => None,
    }
}

/// Acts on `msg` (an inbound message) when it answers an appointment; false when it is no
/// answer or the number has no upcoming appointment in that business (the auto-reply
/// takes it).
pub async fn handle(state: &WaState, msg: &Message) -> Result<bool, sqlx::Error> {
    let (Some(business_id), Some(customer_id), Some(from)) =
        (msg.business_id, msg.customer_id, msg.from_number.as_deref())
    else {
        return Ok(false);
    };
    if msg.direction != "in" {
        return Ok(false);
    }
    let Some(answer) = msg.body.as_deref().and_then(parse) else {
        return Ok(false);
    };
    let db = &state.db;
    let (a, did) = match customer_store::answered_by(db, business_id, msg.id).await? {
        // A rerun: the action was taken; answer (once) and stop.
        Some(a) => {
            let did = if a.status == "cancelled" {
                Answer::Cancel
            } else {
                Answer::Confirm
            };
            (a, did)
        }
        None => {
            let now = now_ms();
            let mut target =
                customer_store::nearest_upcoming(db, business_id, from, now, false).await?;
            if target.is_none() && answer == Answer::Cancel {
                target = customer_store::nearest_upcoming(db, business_id, from, now, true).await?;
            }
            let Some(a) = target else {
                return Ok(false);
            };
            let acted = match answer {
                Answer::Confirm => customer_store::confirm(db, business_id, a.id, msg.id).await?,
                Answer::Cancel => {
                    store::cancel_as(db, business_id, a.id, "customer", Some(msg.id)).await?
                }
            };
            if !acted {
                // Changed under us (staff cancelled it a moment ago): leave it to the
                // auto-reply rather than answer for the wrong appointment.
                return Ok(false);
            }
            if answer == Answer::Cancel {
                super::events::cancelled(db, business_id, a.id, "customer").await;
            }
            tracing::info!(
                business_id,
                appointment_id = a.id,
                inbound = msg.id,
                answer = ?answer,
                "APPOINTMENT_ANSWERED"
            );
            (a, answer)
        }
    };
    reply(state, msg, customer_id, &a, did).await?;
    Ok(true)
}

/// The Hebrew answer to the customer, on the channel they wrote on.
async fn reply(
    state: &WaState,
    msg: &Message,
    customer_id: i64,
    a: &Appointment,
    did: Answer,
) -> Result<(), sqlx::Error> {
    let Some(business_id) = msg.business_id else {
        return Ok(());
    };
    let provider = crate::whatsapp::inbound::PROVIDERS
        .into_iter()
        .find(|p| *p == msg.provider);
    let Some(provider) = provider.filter(|p| crate::whatsapp::inbound::can_send(state, p)) else {
        return Ok(());
    };
    let said = Said::of(&state.db, a).await?;
    let text = match did {
        Answer::Confirm => format!(
            "תודה {}! התור שלך ל{} ב{} אושר: {}. נתראה!",
            said.name, said.service, said.business, said.when
        ),
        Answer::Cancel => format!(
            "התור שלך ל{} ב{} ({}) בוטל, והשעה התפנתה. לקביעת תור חדש אפשר להתקשר או לכתוב לנו.",
            said.service, said.business, said.when
        ),
    };
    let status_callback = match (provider, &state.settings.public_base_url) {
        ("twilio", Some(base)) => Some(format!(
            "{}/webhook/whatsapp/status",
            base.trim_end_matches('/')
        )),
        _ => None,
    };
    let new = wa_store::NewOutbound {
        customer_id,
        provider,
        from_number: msg.to_number.clone(),
        to_number: msg.from_number.clone().unwrap_or_default(),
        body: Some(text),
        template: None,
        status_callback,
        idempotency_key: Some(format!("appt_answer:{}", msg.id)),
        reply_to: msg.provider_message_id.clone(),
    };
    let (_, inserted) = wa_store::queue_outbound(
        &state.db,
        business_id,
        &new,
        &crate::whatsapp::jobs::SEND_JOB,
    )
    .await?;
    if inserted {
        crate::jobs::wake();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_the_whole_message() {
        for yes in ["1", " 1 ", "1.", "כן", "מאשר!", "מאשרת"] {
            assert_eq!(parse(yes), Some(Answer::Confirm), "{yes}");
        }
        for no in ["2", "ביטול", "לבטל", "2!"] {
            assert_eq!(parse(no), Some(Answer::Cancel), "{no}");
        }
        for other in ["12", "1 בבקשה", "שלום", "", "כן אבל"] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
