//! `<Connect><Stream>`: Twilio's side of a bidirectional Media Stream.
//!
//! Opens the WebSocket with the `audio.twilio.com` subprotocol, sends `connected`,
//! `start` and then one 160-byte mu-law frame every 20 ms, plays the server's audio
//! on a playback clock, echoes marks once their audio has played, honours `clear`,
//! and judges every server message as Twilio does (31924 malformed, 31951 wrong
//! streamSid). When the socket ends it posts `stream_status` and the Connect action.

use std::time::{Duration, Instant, SystemTime};

use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use telephony::media::{MediaParseError, ServerMessage, StartMeta, StreamEvent};
use telephony::twiml::{Connect, Stream};
use tokio::net::TcpStream;
use tokio::time::{MissedTickBehavior, interval, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Ctx, Flow, exec, urls};
use crate::error::codes;
use crate::mouth::AGENT_QUIET;
use crate::report::TimelineKind;
use crate::sid::new_sid;
use crate::webhook::short;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SUBPROTOCOL: &str = "audio.twilio.com";
/// How long Twilio tries to open the socket.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// With `never_connect_socket`, how long (call time, scaled by the sim's speed) the
/// stream hangs before Twilio gives up on it.
const NEVER_CONNECT_WAIT: Duration = Duration::from_secs(15);
/// A message that arrives this soon after the handshake, before `start`, is early.
const EARLY_WINDOW: Duration = Duration::from_millis(10);

pub(super) async fn run(ctx: &mut Ctx, connect: &Connect, doc_url: &str) -> Flow {
    let mut resolved = connect.stream.clone();
    resolved.status_callback = resolved
        .status_callback
        .map(|cb| urls::resolve(doc_url, &cb));
    let stream = &resolved;
    let url = urls::resolve(doc_url, &stream.url);
    let stream_sid = new_sid("MZ");
    ctx.journal.log(
        TimelineKind::Verb,
        format!(
            "<Connect><Stream> {url} ({} parameters)",
            stream.parameters.len()
        ),
    );
    if ctx.never_connect_socket {
        ctx.journal.log(
            TimelineKind::Note,
            "caller script: the media socket is never opened",
        );
        let frames = NEVER_CONNECT_WAIT.as_millis() as u64 / 20;
        let mut left = frames;
        let period = ctx.shared.cfg.verb_frame();
        if let Some(flow) = ctx
            .tick_loop(period, |_, _, _| {
                left = left.saturating_sub(1);
                left > 0
            })
            .await
        {
            return flow;
        }
        ctx.journal
            .error(codes::STREAM_HANDSHAKE, "the media stream never connected");
        status(
            ctx,
            stream,
            &stream_sid,
            "stream-error",
            Some("never connected"),
        );
        return after_stream(ctx, connect, doc_url).await;
    }
    let Some((mut ws, opened_in)) = open(ctx, &url, doc_url).await else {
        status(
            ctx,
            stream,
            &stream_sid,
            "stream-error",
            Some("handshake failed"),
        );
        return after_stream(ctx, connect, doc_url).await;
    };
    ctx.journal.log(
        TimelineKind::Socket,
        format!("socket opened in {} ms", opened_in.as_millis()),
    );
    ctx.journal.with(|r| {
        r.socket_open.get_or_insert(opened_in);
        r.stream_sid = Some(stream_sid.clone());
    });
    // Anything the server says before it could know the streamSid is a violation.
    tokio::time::sleep(EARLY_WINDOW).await;
    while let Some(Some(msg)) = ws.next().now_or_never() {
        if matches!(msg, Ok(Message::Text(_)) | Ok(Message::Binary(_))) {
            ctx.journal.with(|r| r.messages_before_start += 1);
            ctx.journal.error(
                codes::STREAM_INVALID_SID,
                "the server sent a message before Twilio's start event",
            );
        }
    }
    let mut start = StartMeta::new(&ctx.shared.cfg.account_sid, &ctx.sid, &stream_sid);
    for (k, v) in &stream.parameters {
        start = start.custom_parameter(k, v);
    }
    let opening = [StreamEvent::connected(), StreamEvent::start(1, start)];
    for ev in opening {
        if ws.send(Message::text(ev.to_json())).await.is_err() {
            ctx.journal
                .log(TimelineKind::Socket, "the server closed the socket at once");
            status(ctx, stream, &stream_sid, "stream-stopped", None);
            return after_stream(ctx, connect, doc_url).await;
        }
    }
    ctx.journal.log(
        TimelineKind::Stream,
        format!("connected, start {stream_sid}"),
    );
    status(ctx, stream, &stream_sid, "stream-started", None);
    let end = pump(ctx, &mut ws, &stream_sid).await;
    match end {
        End::ServerClosed => {
            ctx.journal
                .log(TimelineKind::Socket, "the server closed the socket");
            status(ctx, stream, &stream_sid, "stream-stopped", None);
            after_stream(ctx, connect, doc_url).await
        }
        End::Cut => {
            // Dropping the stream closes the TCP connection without a close frame.
            drop(ws);
            ctx.journal.log(
                TimelineKind::Socket,
                "caller script: the socket's TCP connection is cut (no stop, no close)",
            );
            status(
                ctx,
                stream,
                &stream_sid,
                "stream-error",
                Some("connection lost"),
            );
            after_stream(ctx, connect, doc_url).await
        }
        End::Caller(flow) => {
            let _ = ws.close(None).await;
            ctx.journal
                .log(TimelineKind::Socket, "socket closed by Twilio");
            status(ctx, stream, &stream_sid, "stream-stopped", None);
            flow
        }
    }
}

/// Opens the socket and checks the subprotocol; `None` after recording 31920.
async fn open(ctx: &mut Ctx, url: &str, doc_url: &str) -> Option<(Ws, Duration)> {
    let target = match url.split_once("://") {
        Some(("wss", rest)) if doc_url.starts_with("http://") => {
            ctx.journal.log(
                TimelineKind::Note,
                "plain-HTTP server: connecting to its wss:// stream URL as ws://",
            );
            format!("ws://{rest}")
        }
        Some(("ws", _)) => {
            ctx.journal.log(
                TimelineKind::Note,
                "the stream URL is ws://; real Twilio only connects to wss://",
            );
            url.to_owned()
        }
        Some(("wss", _)) => url.to_owned(),
        _ => {
            ctx.journal.error(
                codes::STREAM_HANDSHAKE,
                format!("the stream URL {url:?} is not a wss:// URL"),
            );
            return None;
        }
    };
    let mut req = match target.as_str().into_client_request() {
        Ok(r) => r,
        Err(e) => {
            ctx.journal.error(
                codes::STREAM_HANDSHAKE,
                format!("bad stream URL {url}: {e}"),
            );
            return None;
        }
    };
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let started = Instant::now();
    let result = timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(req)).await;
    let elapsed = started.elapsed();
    let (ws, resp) = match result {
        Ok(Ok(ok)) => ok,
        Ok(Err(e)) => {
            ctx.journal.error(
                codes::STREAM_HANDSHAKE,
                format!("WebSocket handshake with {} failed: {e}", short(url)),
            );
            return None;
        }
        Err(_) => {
            ctx.journal.error(
                codes::STREAM_HANDSHAKE,
                format!("WebSocket handshake with {} timed out", short(url)),
            );
            return None;
        }
    };
    let echoed = resp
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if echoed != Some(SUBPROTOCOL) {
        ctx.journal.error(
            codes::STREAM_HANDSHAKE,
            format!("the server did not echo subprotocol {SUBPROTOCOL} (got {echoed:?})"),
        );
        let mut ws = ws;
        let _ = ws.close(None).await;
        return None;
    }
    Some((ws, elapsed))
}

enum End {
    ServerClosed,
    Caller(Flow),
    /// The caller script cut the TCP connection.
    Cut,
}

/// Counters kept while the stream runs.
struct Pump {
    seq: u64,
    chunk: u64,
    started: Instant,
    media_stopped: bool,
}

async fn pump(ctx: &mut Ctx, ws: &mut Ws, stream_sid: &str) -> End {
    let period = ctx.shared.cfg.media_frame();
    let mut send_iv = interval(period);
    send_iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut play_iv = interval(period);
    play_iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut p = Pump {
        seq: 2,
        chunk: 1,
        started: Instant::now(),
        media_stopped: false,
    };
    loop {
        tokio::select! {
            _ = send_iv.tick() => {
                if let Some(end) = send_tick(ctx, ws, stream_sid, &mut p).await {
                    return end;
                }
            }
            _ = play_iv.tick() => {
                let now = Instant::now();
                let played = ctx.ear.tick(now);
                if played.started {
                    ctx.journal.log(TimelineKind::AgentAudio, "agent audio starts playing");
                }
                if let Some(frame) = &played.frame {
                    ctx.note_heard(frame);
                }
                if echo_marks(ctx, ws, stream_sid, &mut p, played.marks).await.is_err() {
                    return End::ServerClosed;
                }
            }
            msg = ws.next() => {
                match msg {
                    Some(Ok(Message::Text(text))) => {
                        let marks = on_text(ctx, text.as_str(), stream_sid);
                        if echo_marks(ctx, ws, stream_sid, &mut p, marks).await.is_err() {
                            return End::ServerClosed;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => ctx.journal.error(
                        codes::STREAM_MALFORMED_MESSAGE,
                        "the server sent a binary frame; Twilio expects JSON text",
                    ),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return End::ServerClosed,
                    Some(Ok(_)) => {}
                }
            }
            Some(c) = ctx.control.recv() => {
                if let Some(c) = ctx.take_interrupt(c) {
                    send_stop(ctx, ws, stream_sid, &mut p).await;
                    return End::Caller(Flow::Control(c));
                }
            }
        }
    }
}

async fn send_tick(ctx: &mut Ctx, ws: &mut Ws, stream_sid: &str, p: &mut Pump) -> Option<End> {
    let now = Instant::now();
    if now >= ctx.deadline {
        ctx.journal.log(
            TimelineKind::Note,
            "the caller's patience ran out (max_duration)",
        );
        send_stop(ctx, ws, stream_sid, p).await;
        return Some(End::Caller(Flow::CallerHungUp));
    }
    // The agent's quiet is judged at the stream's pace.
    let quiet = AGENT_QUIET.mul_f64(
        ctx.shared.cfg.media_frame().as_secs_f64() / audio::frame::FRAME_DURATION.as_secs_f64(),
    );
    let t = ctx.mouth.tick(&ctx.ear, now, quiet);
    ctx.note_turn(&t, now);
    if let Some(d) = t.dtmf {
        ctx.journal
            .log(TimelineKind::Dtmf, format!("caller presses {d}"));
        let ev = StreamEvent::dtmf(stream_sid, p.seq, d.to_string());
        p.seq += 1;
        if ws.send(Message::text(ev.to_json())).await.is_err() {
            return Some(End::ServerClosed);
        }
    }
    if ctx
        .cut_socket_after
        .is_some_and(|a| now.saturating_duration_since(p.started) >= a)
    {
        return Some(End::Cut);
    }
    let stop_at = ctx.stop_media_after;
    if stop_at.is_some_and(|a| now.saturating_duration_since(p.started) >= a) {
        if !p.media_stopped {
            p.media_stopped = true;
            ctx.journal.log(
                TimelineKind::Note,
                "caller script: media frames stop; the socket stays open",
            );
        }
    } else {
        let ts = (p.chunk - 1) * 20;
        let ev = StreamEvent::media(stream_sid, p.seq, p.chunk, ts, &t.frame);
        p.seq += 1;
        p.chunk += 1;
        if ws.send(Message::text(ev.to_json())).await.is_err() {
            return Some(End::ServerClosed);
        }
        ctx.journal.with(|r| r.media_frames_sent += 1);
    }
    if t.hang_up {
        ctx.journal.log(TimelineKind::Note, "the caller hangs up");
        send_stop(ctx, ws, stream_sid, p).await;
        return Some(End::Caller(Flow::CallerHungUp));
    }
    None
}

async fn send_stop(ctx: &mut Ctx, ws: &mut Ws, stream_sid: &str, p: &mut Pump) {
    let ev = StreamEvent::stop(stream_sid, p.seq, &ctx.shared.cfg.account_sid, &ctx.sid);
    p.seq += 1;
    let _ = ws.send(Message::text(ev.to_json())).await;
    ctx.journal.log(TimelineKind::Stream, "stop");
}

async fn echo_marks(
    ctx: &mut Ctx,
    ws: &mut Ws,
    stream_sid: &str,
    p: &mut Pump,
    marks: Vec<String>,
) -> Result<(), ()> {
    for name in marks {
        let ev = StreamEvent::mark(stream_sid, p.seq, &name);
        p.seq += 1;
        ws.send(Message::text(ev.to_json())).await.map_err(|_| ())?;
        ctx.journal
            .log(TimelineKind::MarkEchoed, format!("mark {name:?} echoed"));
        ctx.journal.with(|r| r.marks_echoed.push(name));
    }
    Ok(())
}

/// Handles one server message; returns marks to echo at once (after a `clear`).
fn on_text(ctx: &mut Ctx, text: &str, stream_sid: &str) -> Vec<String> {
    let msg = match telephony::media::parse_server_message(text) {
        Ok(m) => m,
        Err(MediaParseError::UnknownEvent(e)) => {
            ctx.journal.error(
                codes::STREAM_MALFORMED_MESSAGE,
                format!("unknown event {e:?} from the server"),
            );
            return Vec::new();
        }
        Err(MediaParseError::Malformed(m)) => {
            ctx.journal.error(
                codes::STREAM_MALFORMED_MESSAGE,
                format!("malformed message from the server: {m}"),
            );
            return Vec::new();
        }
    };
    if msg.stream_sid() != stream_sid {
        ctx.journal.error(
            codes::STREAM_INVALID_SID,
            format!(
                "message with streamSid {:?}; this stream is {stream_sid}",
                msg.stream_sid()
            ),
        );
        return Vec::new();
    }
    match msg {
        ServerMessage::Media { media, .. } => {
            let bytes = media.decode().unwrap_or_default();
            let at = ctx.journal.start().elapsed();
            ctx.journal.with(|r| {
                r.media_messages_received += 1;
                r.agent_media_at.push(at);
            });
            ctx.note_agent_media(Instant::now());
            ctx.ear.enqueue_audio(bytes);
            Vec::new()
        }
        ServerMessage::Mark { mark, .. } => {
            ctx.journal
                .log(TimelineKind::MarkSent, format!("mark {:?}", mark.name));
            ctx.ear.enqueue_mark(mark.name);
            Vec::new()
        }
        ServerMessage::Clear { .. } => {
            let (dropped, marks) = ctx.ear.clear();
            ctx.journal.with(|r| r.clears += 1);
            ctx.journal.log(
                TimelineKind::Clear,
                format!(
                    "clear: {} ms of unplayed audio dropped, {} marks returned",
                    dropped / 8,
                    marks.len()
                ),
            );
            marks
        }
    }
}

/// Posts a `stream_status` callback when the Stream asked for them.
fn status(ctx: &mut Ctx, stream: &Stream, stream_sid: &str, event: &str, error: Option<&str>) {
    let Some(url) = stream.status_callback.clone() else {
        return;
    };
    let method = stream
        .status_callback_method
        .clone()
        .unwrap_or_else(|| "POST".into());
    let mut params = vec![
        ("AccountSid".into(), ctx.shared.cfg.account_sid.clone()),
        ("CallSid".into(), ctx.sid.clone()),
        ("StreamSid".into(), stream_sid.to_owned()),
        (
            "StreamName".into(),
            stream.name.clone().unwrap_or_else(|| stream_sid.to_owned()),
        ),
        ("StreamEvent".into(), event.to_owned()),
        (
            "Timestamp".into(),
            crate::time_fmt::rfc2822(SystemTime::now()),
        ),
    ];
    if let Some(e) = error {
        params.push(("StreamError".into(), e.to_owned()));
    }
    ctx.callbacks
        .post(format!("stream {event}"), url, method, params);
}

/// After the stream: the Connect action's TwiML, or the next verb.
async fn after_stream(ctx: &mut Ctx, connect: &Connect, doc_url: &str) -> Flow {
    let Some(action) = &connect.action else {
        return Flow::Next;
    };
    let url = urls::resolve(doc_url, action);
    match exec::fetch_twiml(ctx, &url, "POST", Vec::new()).await {
        Some(doc) => Flow::Goto { doc, url },
        None => Flow::Hangup,
    }
}
