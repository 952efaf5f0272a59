//! The conversation's side of the socket: its audio, marks and `clear` go to the paced
//! sender, its turns and actions are stored and carried out, and its ending (goodbye,
//! fallback, transfer) lets queued audio play before the call leaves the stream.

use std::time::Duration;

use axum::extract::ws::Message;
use tokio::sync::{mpsc, oneshot};
use voice::session::SessionOutput;

use super::{End, Live};
use crate::calls::media::sender::{self, Outbound};
use crate::calls::state::CallsState;
use crate::calls::watchdog::FallbackReason;

/// Acts on what the conversation produced; `Some` ends the socket.
pub(super) async fn on_voice(
    state: &CallsState,
    l: &mut Live,
    out: SessionOutput,
    _to_socket: &mpsc::Sender<Message>,
) -> Option<End> {
    match out {
        SessionOutput::Audio { utterance, mulaw } => {
            let _ = l.outbound.send(Outbound::Audio { utterance, mulaw }).await;
            None
        }
        SessionOutput::UtteranceEnd { utterance } => {
            let _ = l.outbound.send(Outbound::UtteranceEnd { utterance }).await;
            None
        }
        SessionOutput::Clear => {
            let _ = l.outbound.send(Outbound::Clear).await;
            None
        }
        SessionOutput::Turn(turn) => {
            l.turns += 1;
            crate::calls::conversation::store_turn(state, &l.call_sid, l.turns, &turn).await;
            None
        }
        SessionOutput::Action(action) => {
            crate::calls::actions::act(state, &l.call_sid, &action).await;
            None
        }
        SessionOutput::Fallback { reason } => {
            tracing::warn!(call_sid = %l.call_sid, %reason, "conversation asks for the recording fallback");
            let why = if reason.contains("dtmf") {
                FallbackReason::DtmfStar
            } else {
                FallbackReason::AgentFailure
            };
            if why == FallbackReason::AgentFailure {
                // The apology is already queued: let the caller hear it before the redirect
                // takes the call away from the stream (V7, V8).
                drain(l, Duration::from_secs(15)).await;
            }
            state.watchdog.fire(&l.call_sid, &l.watch, why).await;
            Some(End::Fallback)
        }
        SessionOutput::Transfer { number } => {
            // The caller heard the last words (their marks came back); let anything still
            // queued go out, then hand the call over.
            drain(l, Duration::from_secs(15)).await;
            if crate::calls::actions::transfer(state, &l.call_sid, l.watch.base(), &number).await {
                Some(End::Transferred)
            } else {
                state
                    .watchdog
                    .fire(&l.call_sid, &l.watch, FallbackReason::AgentFailure)
                    .await;
                Some(End::Fallback)
            }
        }
        SessionOutput::End { reason } => {
            // Let the goodbye play out before closing; Twilio then asks `stream_ended`.
            drain(l, Duration::from_secs(30)).await;
            tracing::info!(call_sid = %l.call_sid, %reason, "conversation complete");
            Some(End::ConversationComplete)
        }
    }
}

/// Waits until the audio queued for the caller has been sent (at most `max`). The reader
/// loop is paused meanwhile, not the stream: the call's watch is kept fresh so the media
/// watchdog does not take a goodbye or an apology for a dead stream.
pub(super) async fn drain(l: &Live, max: Duration) {
    let (done, mut drained) = oneshot::channel();
    let _ = l.outbound.send(Outbound::Drain(done)).await;
    let deadline = tokio::time::sleep(max);
    tokio::pin!(deadline);
    let mut fresh = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = &mut drained => break,
            _ = &mut deadline => break,
            _ = fresh.tick() => l.watch.frame(),
        }
    }
    tokio::time::sleep(sender::LEAD * 2).await;
    l.watch.frame();
}
