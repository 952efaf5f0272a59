//! What the agent decided during a call, carried out (V7): the caller's details and a
//! requested call-back are stored on the call (the CRM shows them on the call and the
//! customer), and a transfer hands the live call to the business's transfer number with a
//! REST Calls update to `<Dial>` once the caller heard the agent's last words.
//!
//! The number dialled is only ever the business's own: the agent's choice is logged, not
//! dialled (a caller cannot talk the agent into calling anywhere). A business with no
//! transfer number (or a service with no Twilio credentials) transfers nothing: the request
//! is stored as a request to be called back. A transfer that cannot be made, or that nobody
//! answers, sends the caller to the recording fallback rather than into silence. Every write
//! is bounded and kept in the outbox when the database is down (nothing the caller said is
//! lost, and the call is never held). A transfer also passes the business's calling policy
//! and quotas ([`super::policy`]), as an outbound call does.

use voice::provider::AgentAction;

use crate::calls::conversation::quick;
use crate::calls::state::CallsState;
use crate::outbox::Pending;
use crate::store::{businesses, calls};

/// Stored as the call-back time when the caller asked for a person and none could be had.
pub const CALLBACK_ASAP: &str = "בהקדם האפשרי";
/// Stored as the reason when the caller asked for a person (unless a reason is known).
pub const ASKED_FOR_A_PERSON: &str = "ביקש/ה לדבר עם נציג/ה";

/// Where this call can be transferred: the business's number, if it has one and the service
/// can redirect calls.
pub fn transfer_target(
    state: &CallsState,
    business: Option<&businesses::Business>,
) -> Option<String> {
    state.twilio.as_ref()?;
    business
        .and_then(|b| b.transfer_number.clone())
        .filter(|n| !n.trim().is_empty())
}

/// Carries out an agent's decision (the `AGENT_ACTION` log line stays for every action).
pub async fn act(state: &CallsState, call_sid: &str, action: &AgentAction) {
    tracing::info!(call_sid, action = ?action_kind(action), "AGENT_ACTION");
    let details = match action {
        AgentAction::SaveDetails {
            name,
            reason,
            callback_time,
            urgency,
        } => calls::Details {
            name: name.clone(),
            reason: reason.clone(),
            callback_time: callback_time.clone(),
            urgency: urgency.clone(),
        },
        AgentAction::CallBack { when } => {
            let when: String = when.trim().chars().take(200).collect();
            calls::Details {
                callback_time: Some(if when.is_empty() {
                    CALLBACK_ASAP.to_string()
                } else {
                    when
                }),
                ..Default::default()
            }
        }
        AgentAction::Transfer { .. } => {
            let business = business_of(state, call_sid).await;
            if transfer_target(state, business.as_ref()).is_some() {
                // The session hands the call over once the caller heard the last words.
                return;
            }
            tracing::info!(call_sid, "no transfer number: kept as a call-back request");
            return request_callback(state, call_sid).await;
        }
        AgentAction::EndCall => return,
    };
    if let Err(e) = quick(calls::set_details(&state.db, call_sid, &details)).await {
        tracing::error!(call_sid, error = %e, "cannot store the agent's action: kept for replay");
        let kept = Pending::CallerDetails {
            call_sid: call_sid.to_string(),
            details,
        };
        state.outbox.keep(&[kept]).await;
    }
}

/// The action's name for the log (a transfer's number and the caller's details stay out).
fn action_kind(action: &AgentAction) -> &'static str {
    match action {
        AgentAction::EndCall => "end_call",
        AgentAction::Transfer { .. } => "transfer",
        AgentAction::SaveDetails { .. } => "save_details",
        AgentAction::CallBack { .. } => "call_back",
    }
}

async fn business_of(state: &CallsState, call_sid: &str) -> Option<businesses::Business> {
    let row = quick(calls::by_sid(&state.db, call_sid))
        .await
        .ok()
        .flatten()?;
    quick(businesses::get(&state.db, row.business_id?))
        .await
        .ok()
        .flatten()
}

/// Stores that the caller wants a person to call back (what is known already is kept);
/// bounded, and kept in the outbox when the database does not answer.
pub async fn request_callback(state: &CallsState, call_sid: &str) {
    let write = calls::request_callback(&state.db, call_sid, CALLBACK_ASAP, ASKED_FOR_A_PERSON);
    if let Err(e) = quick(write).await {
        tracing::error!(call_sid, error = %e, "cannot store a call-back request: kept for replay");
        let kept = Pending::CallBack {
            call_sid: call_sid.to_string(),
        };
        state.outbox.keep(&[kept]).await;
    }
}

/// Hands the live call to `number` (REST Calls update with `<Dial>`); `base` is the
/// public base URL for the `<Dial>` action. False when the call could not be transferred.
pub async fn transfer(state: &CallsState, call_sid: &str, base: &str, number: &str) -> bool {
    let Some(twilio) = &state.twilio else {
        tracing::error!(
            call_sid,
            "CALL_TRANSFER impossible: Twilio is not configured"
        );
        return false;
    };
    if !transfer_admitted(state, call_sid, number).await {
        request_callback(state, call_sid).await;
        return false;
    }
    let twiml = crate::calls::twiml::transfer(base, number).to_xml();
    metrics::counter!("mokdan_call_transfers_total").increment(1);
    match twilio.update_call_twiml(call_sid, &twiml).await {
        Ok(telephony::rest::UpdateOutcome::Updated) => {
            tracing::info!(call_sid, "CALL_TRANSFER");
            true
        }
        Ok(telephony::rest::UpdateOutcome::AlreadyEnded) => {
            tracing::info!(call_sid, "CALL_TRANSFER not needed: the caller hung up");
            request_callback(state, call_sid).await;
            true
        }
        Err(e) => {
            crate::telemetry::count_error("transfer");
            tracing::error!(call_sid, error = %e, "CALL_TRANSFER failed");
            request_callback(state, call_sid).await;
            false
        }
    }
}

/// Whether a transfer to `number` passes the business's calling policy and its quotas
/// (#16.2): a transfer is an outbound leg the service pays for, like `POST /api/calls`.
/// Counted against the business's quotas (there is no credential to count it against).
/// Bounded like every step of
/// a live call: when the database cannot say in time, the transfer goes ahead (the number was
/// checked when it was set).
async fn transfer_admitted(state: &CallsState, call_sid: &str, number: &str) -> bool {
    use crate::calls::policy;
    let Some(business_id) = business_of(state, call_sid).await.map(|b| b.id) else {
        return true;
    };
    let Ok(rules) = quick(policy::load(&state.db, business_id)).await else {
        return true;
    };
    let Ok(phone) = crate::domain::Phone::parse(number) else {
        tracing::warn!(
            call_sid,
            "CALL_TRANSFER refused: the transfer number does not parse"
        );
        return false;
    };
    if policy::check_destination(&rules, &phone).is_err() {
        tracing::warn!(
            call_sid,
            business_id,
            "CALL_TRANSFER refused: destination not allowed"
        );
        return false;
    }
    let placed = policy::Placed::Transfer;
    match quick(policy::admit(&state.db, business_id, &rules, placed)).await {
        Ok(Err(_)) => {
            tracing::warn!(
                call_sid,
                business_id,
                "CALL_TRANSFER refused: quota used up"
            );
            false
        }
        Ok(Ok(())) | Err(_) => true,
    }
}
