//! One call's media socket: the reader loop, the writer task and the paced sender.
//!
//! The reader parses Twilio's events; the writer alone owns the socket's sink, so the
//! reader, the sender and pings never contend for it; the sender paces the agent's audio.
//! Everything selects on the server's shutdown token, so stopping the server closes every
//! stream cleanly with "going away".

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures::{SinkExt, StreamExt};
use telephony::media::{Inbound, MediaFrame, MediaParseError, StreamEvent, parse_inbound};
use tokio::sync::{mpsc, oneshot};
use voice::session::{SessionInput, SessionOutput};

use super::sender::{self, Outbound};
use crate::app::AppState;
use crate::calls::token;
use crate::calls::watchdog::{CallWatch, FallbackReason};
use crate::store::calls;

/// Malformed messages tolerated before the socket is closed.
const MAX_BAD_MESSAGES: u32 = 50;
/// A frame larger than this (base64-decoded) is not a 20–60 ms telephone frame.
const MAX_FRAME_BYTES: usize = 2_048;
/// Log every Nth frame (`WS_FRAME`), with counts.
const FRAME_LOG_EVERY: u64 = 500;
/// A socket whose `start` has not come this long after the watchdog stopped waiting for it
/// can never carry a call: it is closed, so idle or junk connections cannot pile up.
const START_GRACE: Duration = Duration::from_secs(5);

/// A stream that passed its `start` checks.
struct Live {
    call_sid: String,
    stream_sid: String,
    watch: Arc<CallWatch>,
    outbound: mpsc::Sender<Outbound>,
    voice_in: mpsc::Sender<SessionInput>,
    voice_out: mpsc::Receiver<SessionOutput>,
    sender_task: tokio::task::JoinHandle<sender::SenderStats>,
    frames_in: u64,
    frames_dropped: u64,
    turns: i64,
}

/// Why the socket ended, as stored on the call row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Stop,
    SocketClosed,
    ServerShutdown,
    Refused,
    TooManyBadMessages,
    ConversationComplete,
    Fallback,
    Transferred,
}

impl End {
    fn as_str(self) -> &'static str {
        match self {
            End::Stop => "twilio_stop",
            End::SocketClosed => "socket_closed",
            End::ServerShutdown => "server_shutdown",
            End::Refused => "refused",
            End::TooManyBadMessages => "too_many_bad_messages",
            End::ConversationComplete => "conversation_complete",
            End::Fallback => "fallback",
            End::Transferred => "transferred",
        }
    }
}

pub async fn run(socket: WebSocket, state: AppState, remote: SocketAddr) {
    let (sink, mut stream) = socket.split();
    let (to_socket, from_tasks) = mpsc::channel::<Message>(256);
    let writer = tokio::spawn(write_loop(sink, from_tasks));
    tracing::info!(%remote, "WS_CONNECTED");
    metrics::gauge!("mokdan_media_sockets").increment(1.0);

    let mut live: Option<Live> = None;
    let mut bad = 0u32;
    let mut ping = tokio::time::interval(state.settings.media_ping_interval);
    ping.tick().await;
    // Made once: a fresh `cancelled()` per loop would join and leave the token's waiter
    // list (one lock shared by every call) on every frame.
    let shutdown = state.shutdown.clone().cancelled_owned();
    tokio::pin!(shutdown);
    let start_deadline = tokio::time::sleep(state.settings.watchdog_start_timeout + START_GRACE);
    tokio::pin!(start_deadline);

    let end = loop {
        let waiting_for_start = live.is_none();
        let voice_next = async {
            match live.as_mut() {
                Some(l) => l.voice_out.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = &mut shutdown => break End::ServerShutdown,
            _ = &mut start_deadline, if waiting_for_start => {
                tracing::warn!(%remote, "WS_HANDLER_ERROR no start in time: closed");
                break End::Refused;
            }
            _ = ping.tick() => {
                let _ = to_socket.try_send(Message::Ping(Default::default()));
            }
            out = voice_next => match out {
                Some(out) => {
                    if let Some(end) = on_voice(&state, live.as_mut().expect("live"), out, &to_socket).await {
                        break end;
                    }
                }
                // The conversation task ended without a word: treat as a failure.
                None => {
                    let l = live.as_ref().expect("live");
                    state.watchdog.fire(&l.call_sid, &l.watch, FallbackReason::AgentFailure).await;
                    break End::Fallback;
                }
            },
            msg = stream.next() => {
                let text = match msg {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break End::SocketClosed,
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        count_bad(&mut bad);
                        tracing::warn!(%remote, "WS_HANDLER_ERROR binary message ignored");
                        if bad > MAX_BAD_MESSAGES { break End::TooManyBadMessages; }
                        continue;
                    }
                    Some(Ok(_)) => continue,
                };
                match parse_inbound(&text) {
                    Ok(Inbound::Media(frame)) => on_media(&mut live, &frame, &mut bad),
                    Ok(Inbound::Event(event)) => {
                        if let Some(end) = on_event(&state, &mut live, event, &to_socket).await {
                            break end;
                        }
                    }
                    // Before `start` only `connected` is Twilio's: anything else is junk.
                    Err(MediaParseError::UnknownEvent(name)) if live.is_none() => {
                        count_bad(&mut bad);
                        let event = name.escape_debug().take(40).collect::<String>();
                        tracing::warn!(%remote, bad, %event, "WS_HANDLER_ERROR unknown event before start");
                    }
                    Err(MediaParseError::UnknownEvent(name)) => {
                        let event = name.escape_debug().take(40).collect::<String>();
                        tracing::info!(%remote, %event, "unknown media event ignored");
                    }
                    Err(MediaParseError::Malformed(why)) => {
                        count_bad(&mut bad);
                        tracing::warn!(%remote, bad, error = %why, "WS_HANDLER_ERROR malformed message");
                    }
                }
                if bad > MAX_BAD_MESSAGES {
                    break End::TooManyBadMessages;
                }
            }
        }
    };

    // Record how the stream ended before closing it: Twilio asks `stream_ended` (the
    // Connect action) as soon as the socket closes, and that answer depends on the reason.
    if let Some(l) = live {
        finish(&state, l, end).await;
    }
    let (code, why) = match end {
        End::Refused | End::TooManyBadMessages => (close_code::POLICY, end.as_str()),
        End::ServerShutdown => (close_code::AWAY, end.as_str()),
        _ => (close_code::NORMAL, end.as_str()),
    };
    let _ = to_socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: why.into(),
        })))
        .await;
    drop(to_socket);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    metrics::gauge!("mokdan_media_sockets").decrement(1.0);
}

async fn write_loop(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
) {
    while let Some(msg) = rx.recv().await {
        let closing = matches!(msg, Message::Close(_));
        if sink.send(msg).await.is_err() || closing {
            break;
        }
    }
    let _ = sink.close().await;
}

/// Handles one of Twilio's events; `Some` ends the socket.
async fn on_event(
    state: &AppState,
    live: &mut Option<Live>,
    event: StreamEvent,
    to_socket: &mpsc::Sender<Message>,
) -> Option<End> {
    match event {
        StreamEvent::Connected { protocol, .. } => {
            tracing::debug!(%protocol, "media stream connected");
            None
        }
        StreamEvent::Start {
            start, stream_sid, ..
        } => {
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
        // `parse_inbound` reads media frames as `Inbound::Media` (see `on_media`).
        StreamEvent::Media { .. } => None,
        StreamEvent::Dtmf { dtmf, .. } => {
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
        StreamEvent::Mark { mark, .. } => {
            let l = live.as_ref()?;
            if let Some(utterance) = sender::parse_mark(&mark.name) {
                let _ = l.voice_in.try_send(SessionInput::Played { utterance });
            }
            None
        }
        StreamEvent::Stop { .. } => Some(End::Stop),
    }
}

/// Counts a message that could not be used (malformed, bad base64, impossible size).
fn count_bad(bad: &mut u32) {
    *bad += 1;
    metrics::counter!("mokdan_ws_bad_messages_total").increment(1);
}

/// One 20 ms frame of the caller's audio, on its way to the conversation.
fn on_media(live: &mut Option<Live>, media: &MediaFrame<'_>, bad: &mut u32) {
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

/// Checks a `start` and brings the call's conversation up.
async fn begin(
    state: &AppState,
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
    state.watchdog.started(&call_sid, &watch);
    tracing::info!(stream_sid = %stream_sid, call_sid = %call_sid, "WS_START");
    {
        let db = state.db.clone();
        let (c, s) = (call_sid.clone(), stream_sid.clone());
        tokio::spawn(async move {
            if let Err(e) = calls::stream_started(&db, &c, &s).await {
                tracing::error!(call_sid = %c, error = %e, "cannot record stream start");
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

/// Acts on what the conversation produced; `Some` ends the socket.
async fn on_voice(
    state: &AppState,
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
async fn drain(l: &Live, max: Duration) {
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

/// Records how the stream ended and stops the call's tasks.
async fn finish(state: &AppState, l: Live, end: End) {
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
    if let Err(e) = calls::stream_ended(&state.db, &l.call_sid, end.as_str()).await {
        tracing::error!(call_sid = %l.call_sid, error = %e, "cannot record stream end");
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
