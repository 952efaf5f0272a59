//! The outbox's replay: each kept write goes to the feature that owns it.
//!
//! The outbox (`crate::outbox`) keeps writes on disk while the database is away and knows
//! no feature; here, at the application's root where every feature is known, a replayed
//! call row, status, recording, turn or WhatsApp message is applied as it would have been.

use std::time::Duration;

use futures::future::BoxFuture;

use super::AppState;
use crate::domain::{CallDirection, CallStatus};
use crate::outbox::{Apply, Pending};
use crate::store::calls;
use crate::whatsapp::inbound::Inbound;

/// Applies replayed writes with the whole application at hand.
pub struct Replay(pub AppState);

impl Apply for Replay {
    fn apply<'a>(&'a self, op: &'a Pending) -> BoxFuture<'a, Result<(), sqlx::Error>> {
        Box::pin(apply(&self.0, op))
    }
}

async fn apply(state: &AppState, op: &Pending) -> Result<(), sqlx::Error> {
    let db = &state.db;
    match op {
        Pending::Insert {
            call_sid,
            business_id,
            from,
            to,
            direction,
            status,
        } => {
            let new = calls::NewCall {
                call_sid,
                business_id: *business_id,
                from: from.as_deref(),
                to: to.as_deref(),
                direction: CallDirection::parse(direction),
                status: CallStatus::parse(status),
            };
            calls::insert(db, &new).await?;
            // The business may have been unknown while the database was down.
            if business_id.is_none()
                && let Some(to) = to
                    .as_deref()
                    .and_then(|t| crate::domain::Phone::parse(t).ok())
                && let Some(b) = crate::store::businesses::by_number(db, &to).await?
            {
                calls::set_business_if_unknown(db, call_sid, b.id).await?;
            }
        }
        Pending::Status {
            call_sid,
            status,
            duration_secs,
        } => {
            let status = CallStatus::parse(status);
            calls::advance_status(db, call_sid, &status, *duration_secs).await?;
            if status == CallStatus::Completed {
                crate::calls::post_call::call_recordings::after_completed(&state.calls, call_sid)
                    .await?;
                crate::notify::call_ended(db, call_sid).await?;
            }
            if status.has_ended() {
                crate::calls::post_call::streamed::call_completed(db, call_sid).await?;
            }
        }
        Pending::Recording {
            call_sid,
            recording_sid,
            recording_url,
            duration_secs,
        } => {
            calls::set_recording(db, call_sid, recording_sid, recording_url, *duration_secs)
                .await?;
            crate::calls::post_call::fetch::enqueue(db, call_sid, recording_sid, recording_url)
                .await?;
        }
        Pending::StreamEnded {
            call_sid,
            reason,
            fallback,
        } => {
            calls::stream_ended(db, call_sid, reason).await?;
            if *fallback {
                calls::mark_fallback(db, call_sid, reason).await?;
            }
        }
        Pending::StreamStarted {
            call_sid,
            stream_sid,
        } => calls::stream_started(db, call_sid, stream_sid).await?,
        Pending::Fallback { call_sid, reason } => {
            calls::mark_fallback(db, call_sid, reason).await?;
        }
        Pending::CallBack { call_sid } => {
            use crate::calls::actions::{ASKED_FOR_A_PERSON, CALLBACK_ASAP};
            calls::request_callback(db, call_sid, CALLBACK_ASAP, ASKED_FOR_A_PERSON).await?;
        }
        Pending::CallerDetails { call_sid, details } => {
            calls::set_details(db, call_sid, details).await?;
        }
        Pending::Turn(turn) => crate::store::turns::insert(db, turn).await?,
        Pending::StreamedCall { call_sid, delay_ms } => {
            let delay = Duration::from_millis(*delay_ms);
            crate::calls::post_call::streamed::enqueue(db, call_sid, delay).await?;
        }
        Pending::WhatsappStatus {
            provider,
            provider_message_id,
            status,
            error_code,
            error_message,
        } => {
            let provider = crate::whatsapp::inbound::PROVIDERS
                .iter()
                .copied()
                .find(|p| p == provider);
            let update =
                crate::whatsapp::status::update(status, error_code.clone(), error_message.clone());
            let (Some(provider), Some(update)) = (provider, update) else {
                tracing::error!(?op, "OUTBOX: unusable WhatsApp status skipped");
                return Ok(());
            };
            crate::whatsapp::twilio::apply_status(
                &state.whatsapp,
                provider,
                provider_message_id,
                &update,
            )
            .await?;
        }
        Pending::WhatsappInbound { .. } => {
            let Some((msg, base)) = Inbound::from_pending(op) else {
                tracing::error!(?op, "OUTBOX: unusable WhatsApp message skipped");
                return Ok(());
            };
            crate::whatsapp::inbound::receive(&state.whatsapp, msg, base).await?;
        }
    }
    Ok(())
}
