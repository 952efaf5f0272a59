//! A stream's life: the `start` is checked (the call's token, a call waiting for its
//! stream) before the conversation and the paced sender come up, and when the socket ends
//! the reason is recorded, the call's post-call work is queued and its tasks are stopped.

use std::time::Duration;

use axum::extract::ws::Message;
use tokio::sync::mpsc;
use voice::session::SessionInput;

use super::{End, Live};
use crate::calls::media::sender;
use crate::calls::post_call::streamed;
use crate::calls::state::CallsState;
use crate::calls::token;
use crate::outbox::Pending;
use crate::store::calls;

/// Checks a `start` and brings the call's conversation up.
pub(super) async fn begin(
    state: &CallsState,
    start: telephony::media::StartMeta,
    stream_sid: String,
    to_socket: &mpsc::Sender<Message>,
) -> Result<Live, &'static str> {
    let call_sid = start
        .custom_parameters
        .get("call_id")
        .cloned()
        .ok_or("no call_id parameter")?;
    let presented = start
        .custom_parameters
        .get("token")
        .ok_or("no token parameter")?;
    if !start.call_sid.is_empty() && start.call_sid != call_sid {
        return Err("call_id does not match the stream's callSid");
    }
    if !token::verify(state.settings.jwt_secret.expose(), &call_sid, presented) {
        return Err("bad token");
    }
    // Only a call that is waiting for its stream may have one.
    let watch = state
        .watchdog
        .attach(&call_sid)
        .await
        .ok_or("no call is waiting for this stream")?;
    if watch.has_fired() {
        return Err("the call already went to the recording fallback");
    }
    let stream_sid = if stream_sid.is_empty() {
        start.stream_sid.clone()
    } else {
        stream_sid
    };
    if stream_sid.is_empty() {
        return Err("no streamSid");
    }
    // One live socket per call: a second one with the same token gets nothing (S3).
    if !state.watchdog.started(&call_sid, &watch).await {
        return Err("the call's stream is already live");
    }
    tracing::info!(stream_sid = %stream_sid, call_sid = %call_sid, "WS_START");
    {
        let db = state.db.clone();
        let (c, s) = (call_sid.clone(), stream_sid.clone());
        let outbox = state.outbox.clone();
        tokio::spawn(async move {
            let written = crate::calls::conversation::quick(calls::stream_started(&db, &c, &s));
            if let Err(e) = written.await {
                tracing::error!(call_sid = %c, error = %e, "cannot record stream start: kept for replay");
                let kept = Pending::StreamStarted {
                    call_sid: c,
                    stream_sid: s,
                };
                outbox.keep(&[kept]).await;
            }
        });
    }
    let (outbound, commands) = mpsc::channel(64);
    let sender_task = tokio::spawn(sender::run(
        stream_sid.clone(),
        commands,
        to_socket.clone(),
        false,
    ));
    let session = crate::calls::conversation::start(state, &call_sid).await;
    Ok(Live {
        call_sid,
        stream_sid,
        watch,
        outbound,
        voice_in: session.input,
        voice_out: session.output,
        sender_task,
        frames_in: 0,
        frames_dropped: 0,
        turns: 0,
    })
}

/// Records how the stream ended and stops the call's tasks.
pub(super) async fn finish(state: &CallsState, l: Live, end: End) {
    let _ = l.voice_in.try_send(SessionInput::Hangup);
    drop(l.outbound);
    let stats = match tokio::time::timeout(Duration::from_secs(1), l.sender_task).await {
        Ok(Ok(s)) => s,
        _ => sender::SenderStats::default(),
    };
    if end != End::Fallback {
        // The watchdog has nothing left to guard once the stream is gone for good.
        state.watchdog.disarm(&l.call_sid);
    }
    // How the stream ended, and the call's post-call work (every streamed call is
    // summarised into a lead, V10): bounded, and kept in the outbox when the database is
    // down, like the webhooks' writes. A conversation that did not finish may go on into
    // the recording fallback, so its work waits for the call to complete.
    let delay = match end {
        End::ConversationComplete | End::Transferred => Duration::ZERO,
        _ => streamed::AFTER_FALLBACK,
    };
    let written = crate::calls::conversation::quick(async {
        calls::stream_ended(&state.db, &l.call_sid, end.as_str()).await?;
        streamed::enqueue(&state.db, &l.call_sid, delay).await
    })
    .await;
    if let Err(e) = written {
        tracing::error!(call_sid = %l.call_sid, error = %e, "cannot record stream end: kept for replay");
        state
            .outbox
            .keep(&[
                Pending::StreamEnded {
                    call_sid: l.call_sid.clone(),
                    reason: end.as_str().to_string(),
                    fallback: false,
                },
                Pending::StreamedCall {
                    call_sid: l.call_sid.clone(),
                    delay_ms: delay.as_millis() as u64,
                },
            ])
            .await;
    }
    tracing::info!(
        call_sid = %l.call_sid,
        stream_sid = %l.stream_sid,
        reason = end.as_str(),
        frames_in = l.frames_in,
        frames_dropped = l.frames_dropped,
        frames_out = stats.frames_sent,
        chunks_out = stats.chunks_sent,
        marks = stats.marks_sent,
        clears = stats.clears,
        "WS_STOP"
    );
}
