//! Twilio's side of the socket: its stream events (`start`, DTMF, marks, `stop`) and the
//! caller's audio frames, checked for size and encoding before they reach the
//! conversation. Junk is counted, never trusted.

use axum::extract::ws::Message;
use telephony::media::{DtmfFrame, MarkFrame, MediaFrame, StartFrame, StreamEvent};
use tokio::sync::mpsc;
use voice::session::SessionInput;

use super::lifecycle::begin;
use super::{End, FRAME_LOG_EVERY, Live, MAX_FRAME_BYTES, count_bad};
use crate::calls::media::sender;
use crate::calls::state::CallsState;
use crate::calls::watchdog::FallbackReason;

/// Handles one of Twilio's events; `Some` ends the socket.
pub(super) async fn on_event(
    state: &CallsState,
    live: &mut Option<Live>,
    event: StreamEvent<'_>,
    to_socket: &mpsc::Sender<Message>,
) -> Option<End> {
    match event {
        StreamEvent::Connected(connected) => {
            tracing::debug!(protocol = %connected.protocol, "media stream connected");
            None
        }
        StreamEvent::Start(StartFrame {
            start, stream_sid, ..
        }) => {
            if live.is_some() {
                tracing::warn!("WS_HANDLER_ERROR second start ignored");
                return None;
            }
            match begin(state, start, stream_sid, to_socket).await {
                Ok(l) => {
                    *live = Some(l);
                    None
                }
                Err(why) => {
                    crate::telemetry::count_error("ws_rejected");
                    tracing::warn!(reason = why, "WS_HANDLER_ERROR stream refused");
                    Some(End::Refused)
                }
            }
        }
        // The reader hands media frames to `on_media` before they get here.
        StreamEvent::Media(_) => None,
        StreamEvent::Dtmf(DtmfFrame { dtmf, .. }) => {
            let l = live.as_ref()?;
            tracing::info!(call_sid = %l.call_sid, digit = %dtmf.digit, "WS_DTMF");
            if dtmf.digit == "*" {
                state
                    .watchdog
                    .fire(&l.call_sid, &l.watch, FallbackReason::DtmfStar)
                    .await;
                return Some(End::Fallback);
            }
            if let Some(c) = dtmf.digit.chars().next() {
                let _ = l.voice_in.try_send(SessionInput::Dtmf(c));
            }
            None
        }
        StreamEvent::Mark(MarkFrame { mark, .. }) => {
            let l = live.as_ref()?;
            if let Some(utterance) = sender::parse_mark(&mark.name) {
                let _ = l.voice_in.try_send(SessionInput::Played { utterance });
            }
            None
        }
        StreamEvent::Stop(_) => Some(End::Stop),
    }
}

/// One 20 ms frame of the caller's audio, on its way to the conversation.
pub(super) fn on_media(live: &mut Option<Live>, media: &MediaFrame<'_>, bad: &mut u32) {
    let Some(l) = live.as_mut() else {
        count_bad(bad);
        tracing::warn!("WS_HANDLER_ERROR media before start");
        return;
    };
    // Too long to be a telephone frame: refused before decoding it.
    if media.media.payload.len() > MAX_FRAME_BYTES.div_ceil(3) * 4 {
        count_bad(bad);
        let len = media.media.payload.len() / 4 * 3;
        tracing::warn!(len, "WS_HANDLER_ERROR frame of impossible size");
        return;
    }
    let frame = match media.decode() {
        Ok(f) if !f.is_empty() && f.len() <= MAX_FRAME_BYTES => f,
        Ok(f) => {
            count_bad(bad);
            tracing::warn!(len = f.len(), "WS_HANDLER_ERROR frame of impossible size");
            return;
        }
        Err(e) => {
            count_bad(bad);
            tracing::warn!(error = %e, "WS_HANDLER_ERROR bad base64");
            return;
        }
    };
    l.watch.frame();
    l.frames_in += 1;
    if l.voice_in.try_send(SessionInput::Audio(frame)).is_err() {
        l.frames_dropped += 1;
    }
    if l.frames_in % FRAME_LOG_EVERY == 1 {
        tracing::info!(
            call_sid = %l.call_sid,
            frames = l.frames_in,
            dropped = l.frames_dropped,
            "WS_FRAME"
        );
    }
}
