//! One call's media socket: the reader loop, the writer task and the paced sender.
//!
//! The reader parses Twilio's events; the writer alone owns the socket's sink, so the
//! reader, the sender and pings never contend for it; the sender paces the agent's audio.
//! Everything selects on the server's shutdown token, so stopping the server closes every
//! stream cleanly with "going away".
//!
//! This module holds the loop and the call's state; beside it are Twilio's side
//! ([`inbound`]: events and the caller's frames), the stream's life ([`lifecycle`]: the
//! `start` checks and what is recorded at the end) and the conversation's side
//! ([`outputs`]: audio, turns, actions and how the call ends).

mod inbound;
mod lifecycle;
mod outputs;

use inbound::{on_event, on_media};
use lifecycle::finish;
use outputs::on_voice;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures::{SinkExt, StreamExt};
use telephony::media::{MediaParseError, StreamEvent, parse_inbound};
use tokio::sync::mpsc;
use voice::session::{SessionInput, SessionOutput};

use super::sender::{self, Outbound};
use crate::calls::state::CallsState;
use crate::calls::watchdog::{CallWatch, FallbackReason};

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

pub async fn run(socket: WebSocket, state: CallsState, remote: SocketAddr) {
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
        // The conversation's next output, or the watchdog asking the stream to end (its
        // redirect could not be made: Twilio's Connect action then offers the recording).
        let voice_next = async {
            match live.as_mut() {
                Some(l) => tokio::select! {
                    out = l.voice_out.recv() => Some(out),
                    _ = l.watch.stream_ended() => None,
                },
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
                None => {
                    tracing::warn!(%remote, "the watchdog could not redirect the call: stream closed for the recording");
                    break End::Fallback;
                }
                Some(Some(out)) => {
                    if let Some(end) = on_voice(&state, live.as_mut().expect("live"), out, &to_socket).await {
                        break end;
                    }
                }
                // The conversation task ended without a word: treat as a failure.
                Some(None) => {
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
                    Ok(StreamEvent::Media(frame)) => on_media(&mut live, &frame, &mut bad),
                    Ok(event) => {
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

/// Counts a message that could not be used (malformed, bad base64, impossible size).
fn count_bad(bad: &mut u32) {
    *bad += 1;
    metrics::counter!("mokdan_ws_bad_messages_total").increment(1);
}
