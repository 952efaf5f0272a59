//! A local stand-in for OpenAI's Realtime API, following its published GA events
//! (`RealtimeServerEvent` in OpenAI's OpenAPI document): the key in `Authorization`, the
//! model in `?model=`, `session.created`/`session.updated`, a simple energy detector that
//! sends `input_audio_buffer.speech_started`/`speech_stopped`, the caller's transcript, and
//! replies as `response.output_audio.delta` (mu-law, paced in 100 ms deltas as the service
//! streams them) with their transcript, or as a function call. It honours `response.cancel`
//! and records every client event it received, so tests can check what mokdan sent (and
//! validate it against OpenAI's own SDK types). With `?intent=transcription` it is a
//! transcription session instead ([`super::realtime_stt`]): the cascade's streaming
//! recogniser.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::time::Instant;

pub const KEY: &str = "sk-realtime-stand-in-0123456789";
pub const MODEL: &str = "gpt-realtime";
/// Every byte of the stand-in's voice: its frames are told apart from the greeting's.
pub const VOICE_BYTE: u8 = 0x11;

/// One answer of the model.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// What the stand-in "heard" the caller say (the transcription event).
    pub heard: String,
    pub transcript: String,
    pub audio_ms: u32,
    /// A function to call first (name, JSON arguments); the spoken reply follows its output.
    pub tool: Option<(String, String)>,
}

/// How the stand-in misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Every handshake is refused with 401.
    RefuseKey,
    /// After this many replies, the next turn gets an `error` event.
    ErrorAfter(usize),
    /// After this many replies, the socket closes at the next turn.
    CloseAfter(usize),
}

#[derive(Clone)]
pub struct Realtime {
    pub url: String,
    /// Client events received, in order (appends: only the first few).
    pub received: Arc<Mutex<Vec<Value>>>,
    pub handshakes: Arc<AtomicUsize>,
    pub(super) replies: Arc<Vec<Reply>>,
    pub(super) fault: Fault,
    /// Milliseconds from the end of speech to the reply.
    pub delay: Duration,
    /// Transcription sessions: the audio bytes of each commit, in order.
    pub commits: Arc<Mutex<Vec<usize>>>,
}

impl Realtime {
    pub async fn start(replies: Vec<Reply>, fault: Fault) -> Realtime {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = Realtime {
            url: format!("ws://{addr}/v1/realtime"),
            received: Arc::default(),
            handshakes: Arc::default(),
            replies: Arc::new(replies),
            fault,
            delay: Duration::from_millis(300),
            commits: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/realtime", get(handshake))
            .with_state(rt.clone());
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        rt
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPENAI_API_KEY", KEY.to_string()),
            ("OPENAI_REALTIME_MODEL", MODEL.to_string()),
            ("OPENAI_REALTIME_URL", self.url.clone()),
            ("OPENAI_REALTIME_VOICE", "marin".to_string()),
            ("MOKDAN_TTS", "espeak".to_string()),
            // Nothing answers there: the cascade's providers are never asked.
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1".to_string()),
        ]
    }

    /// The client events of a type.
    pub fn events(&self, kind: &str) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind)
            .cloned()
            .collect()
    }
}

async fn handshake(
    State(rt): State<Realtime>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    rt.handshakes.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if rt.fault == Fault::RefuseKey || auth != format!("Bearer {KEY}") {
        let body = json!({"error": {"type": "invalid_request_error", "code": "invalid_api_key", "message": "Incorrect API key provided"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    if q.get("intent").map(String::as_str) == Some("transcription") {
        return ws.on_upgrade(move |socket| super::realtime_stt::serve(socket, rt));
    }
    if q.get("model").map(String::as_str) != Some(MODEL) {
        return (StatusCode::BAD_REQUEST, "model").into_response();
    }
    ws.on_upgrade(move |socket| serve(socket, rt))
}

struct Conn {
    rt: Realtime,
    socket: WebSocket,
    seq: u64,
    outgoing: VecDeque<Value>,
    /// The response whose events are queued.
    response: Option<String>,
    speaking: bool,
    silent_frames: u32,
    heard_ms: u32,
    turns: usize,
    replies_done: usize,
    respond_at: Option<Instant>,
    /// A spoken reply waits for the function's output and `response.create`.
    after_tool: Option<Reply>,
    appends: usize,
}

impl Conn {
    fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_{:04}", self.seq)
    }

    async fn send(&mut self, mut v: Value) -> bool {
        v["event_id"] = json!(self.id("event"));
        self.socket
            .send(Message::Text(v.to_string().into()))
            .await
            .is_ok()
    }

    /// Queues a spoken response: audio in 100 ms deltas, with its transcript.
    fn queue_speech(&mut self, transcript: &str, audio_ms: u32) {
        let response = self.id("resp");
        let item = self.id("item");
        self.response = Some(response.clone());
        self.outgoing.push_back(json!({"type": "response.created", "response": {"id": response, "object": "realtime.response", "status": "in_progress", "output": []}}));
        self.outgoing.push_back(json!({"type": "response.output_item.added", "response_id": response, "output_index": 0, "item": {"id": item, "object": "realtime.item", "type": "message", "role": "assistant", "status": "in_progress", "content": []}}));
        let deltas = audio_ms.div_ceil(100);
        let words: Vec<&str> = transcript.split(' ').collect();
        for d in 0..deltas {
            let ms = (audio_ms - d * 100).min(100);
            let audio = B64.encode(vec![VOICE_BYTE; (ms * 8) as usize]);
            self.outgoing.push_back(json!({"type": "response.output_audio.delta", "response_id": response, "item_id": item, "output_index": 0, "content_index": 0, "delta": audio}));
            // The transcript keeps pace with the audio.
            let from = words.len() * d as usize / deltas as usize;
            let to = words.len() * (d as usize + 1) / deltas as usize;
            if to > from {
                let mut piece = words[from..to].join(" ");
                if to < words.len() {
                    piece.push(' ');
                }
                self.outgoing.push_back(json!({"type": "response.output_audio_transcript.delta", "response_id": response, "item_id": item, "output_index": 0, "content_index": 0, "delta": piece}));
            }
        }
        self.outgoing.push_back(json!({"type": "response.output_audio.done", "response_id": response, "item_id": item, "output_index": 0, "content_index": 0}));
        self.outgoing.push_back(json!({"type": "response.output_audio_transcript.done", "response_id": response, "item_id": item, "output_index": 0, "content_index": 0, "transcript": transcript}));
        self.outgoing.push_back(json!({"type": "response.done", "response": {"id": response, "object": "realtime.response", "status": "completed", "output": []}}));
    }

    fn queue_tool(&mut self, name: &str, arguments: &str) {
        let response = self.id("resp");
        let item = self.id("item");
        let call_id = self.id("call");
        self.response = Some(response.clone());
        self.outgoing.push_back(json!({"type": "response.created", "response": {"id": response, "object": "realtime.response", "status": "in_progress", "output": []}}));
        self.outgoing.push_back(json!({"type": "response.output_item.added", "response_id": response, "output_index": 0, "item": {"id": item, "type": "function_call", "call_id": call_id, "name": name, "arguments": ""}}));
        self.outgoing.push_back(json!({"type": "response.function_call_arguments.done", "response_id": response, "item_id": item, "output_index": 0, "call_id": call_id, "name": name, "arguments": arguments}));
        self.outgoing.push_back(json!({"type": "response.done", "response": {"id": response, "object": "realtime.response", "status": "completed", "output": []}}));
    }

    /// One client event; `false` ends the connection.
    async fn on_client(&mut self, v: Value) -> bool {
        let kind = v["type"].as_str().unwrap_or_default().to_string();
        if kind != "input_audio_buffer.append" || self.appends < 3 {
            self.rt.received.lock().unwrap().push(v.clone());
        }
        match kind.as_str() {
            "session.update" => {
                let session = v["session"].clone();
                return self
                    .send(json!({"type": "session.updated", "session": session}))
                    .await;
            }
            "input_audio_buffer.append" => {
                self.appends += 1;
                let frame = B64
                    .decode(v["audio"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                return self.on_audio(&frame).await;
            }
            "response.cancel" => {
                if let Some(response) = self.response.take() {
                    self.outgoing.clear();
                    return self.send(json!({"type": "response.done", "response": {"id": response, "object": "realtime.response", "status": "cancelled", "output": []}})).await;
                }
                return self.send(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "response_cancel_not_active", "message": "Cancellation failed: no active response found"}})).await;
            }
            "conversation.item.truncate" => {
                let item = v["item_id"].clone();
                let ms = v["audio_end_ms"].clone();
                return self.send(json!({"type": "conversation.item.truncated", "item_id": item, "content_index": 0, "audio_end_ms": ms})).await;
            }
            "response.create" => {
                if let Some(reply) = self.after_tool.take() {
                    self.queue_speech(&reply.transcript, reply.audio_ms);
                    self.replies_done += 1;
                }
            }
            _ => {}
        }
        true
    }

    async fn on_audio(&mut self, frame: &[u8]) -> bool {
        let loud = frame
            .iter()
            .map(|&b| i32::from(audio::mulaw::decode_sample(b)).abs())
            .sum::<i32>()
            / frame.len().max(1) as i32
            > 600;
        self.heard_ms += 20;
        if loud {
            self.silent_frames = 0;
            if !self.speaking {
                self.speaking = true;
                let item = self.id("item");
                let ms = self.heard_ms;
                return self.send(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": ms, "item_id": item})).await;
            }
        } else if self.speaking {
            self.silent_frames += 1;
            if self.silent_frames >= 25 {
                self.speaking = false;
                return self.on_turn_end().await;
            }
        }
        true
    }

    async fn on_turn_end(&mut self) -> bool {
        let item = self.id("item");
        let ms = self.heard_ms;
        let turn = self.turns;
        self.turns += 1;
        match self.rt.fault {
            Fault::ErrorAfter(n) if self.replies_done >= n => {
                return self.send(json!({"type": "error", "error": {"type": "server_error", "code": "server_error", "message": "The server had an error while processing your request."}})).await;
            }
            Fault::CloseAfter(n) if self.replies_done >= n => return false,
            _ => {}
        }
        let heard = self
            .rt
            .replies
            .get(turn)
            .map(|r| r.heard.clone())
            .unwrap_or_default();
        let ok = self.send(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms, "item_id": item})).await
            && self.send(json!({"type": "input_audio_buffer.committed", "previous_item_id": null, "item_id": item})).await
            && self.send(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": item, "content_index": 0, "transcript": heard})).await;
        self.respond_at = Some(Instant::now() + self.rt.delay);
        ok
    }

    fn respond(&mut self) {
        let turn = self.turns.saturating_sub(1);
        let Some(reply) = self.rt.replies.get(turn).cloned() else {
            return;
        };
        match &reply.tool {
            Some((name, args)) => {
                self.queue_tool(name, args);
                self.after_tool = Some(reply);
            }
            None => {
                self.queue_speech(&reply.transcript, reply.audio_ms);
                self.replies_done += 1;
            }
        }
    }
}

async fn serve(socket: WebSocket, rt: Realtime) {
    let mut c = Conn {
        rt,
        socket,
        seq: 0,
        outgoing: VecDeque::new(),
        response: None,
        speaking: false,
        silent_frames: 0,
        heard_ms: 0,
        turns: 0,
        replies_done: 0,
        respond_at: None,
        after_tool: None,
        appends: 0,
    };
    let created = json!({"type": "session.created", "session": {"type": "realtime", "object": "realtime.session", "id": "sess_standin", "model": MODEL}});
    if !c.send(created).await {
        return;
    }
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    loop {
        let respond_at = c.respond_at;
        tokio::select! {
            msg = c.socket.recv() => {
                let Some(Ok(Message::Text(t))) = msg else { break };
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { break };
                if !c.on_client(v).await {
                    break;
                }
            }
            _ = tokio::time::sleep_until(respond_at.unwrap_or_else(Instant::now)), if respond_at.is_some() => {
                c.respond_at = None;
                c.respond();
            }
            _ = pace.tick() => {
                // Events up to and including the next audio delta (the service streams
                // audio a little faster than real time; 100 ms per tick is real time).
                while let Some(ev) = c.outgoing.pop_front() {
                    let audio = ev["type"] == "response.output_audio.delta";
                    if ev["type"] == "response.done" {
                        c.response = None;
                    }
                    if !c.send(ev).await {
                        return;
                    }
                    if audio {
                        break;
                    }
                }
            }
        }
    }
    let _ = c.socket.send(Message::Close(None)).await;
}

/// Checks client events with OpenAI's own Python SDK (`RealtimeClientEvent` through
/// pydantic, unknown fields refused; `scripts/realtime_client_events.py`): every one valid.
pub fn assert_sdk_accepts(python: impl AsRef<std::ffi::OsStr>, events: &[serde_json::Value]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client_events.json");
    std::fs::write(&file, serde_json::to_vec(events).unwrap()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/realtime_client_events.py"
    );
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&file)
        .output()
        .expect("run the SDK check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(&format!("{} valid, 0 invalid", events.len())),
        "client events OpenAI's SDK refuses:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
