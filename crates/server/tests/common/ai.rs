//! An OpenAI-compatible stand-in that can turn bad mid-call: it answers speech-to-text and
//! chat (streamed for the live agent, JSON for summaries) until told to fail, then answers
//! 500 or hangs, so the fault tests can break a provider after a first good turn. Its
//! `audio/speech` answers a steady tone as raw 24 kHz PCM (or 500 once told to), so a test
//! can tell its voice from espeak-ng's and the bundled prompts.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

pub const KEY: &str = "sk-test-stand-in-0123456789";
/// What the stand-in hears in every recording and caller turn.
pub const HEARD: &str = "שלום, שמי דני כהן ואני רוצה לקבוע תור. אפשר לחזור אליי מחר בעשר.";
/// What the live agent answers.
pub const REPLY: &str = "תודה דני. מתי נוח לך שנחזור אליך?";

/// The stand-in voice: a tone of this frequency (Hz), at 24 kHz, this long (samples).
pub const SPEECH_TONE_HZ: f32 = 440.0;
pub const SPEECH_SAMPLES: usize = 12_000;

/// How the stand-in answers once its good answers are spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Error500,
    Hang,
}

#[derive(Clone)]
pub struct Ai {
    pub base: String,
    pub transcriptions: Arc<AtomicUsize>,
    pub chats: Arc<AtomicUsize>,
    /// Requests answered with the failure.
    pub failed: Arc<AtomicUsize>,
    /// Transcriptions answered well before the failure starts (`usize::MAX`: never fail).
    good_transcriptions: Arc<AtomicUsize>,
    failure: Arc<AtomicU8>,
    /// A tool the live agent calls after its reply: name and JSON arguments.
    tool: Arc<Mutex<Option<(String, String)>>>,
    /// With a tool: what the model says once it has the tool's result (the first answer
    /// of a turn is then the function call alone).
    confirm: Arc<Mutex<Option<String>>>,
    /// Every `tool` message the live agent sent back (the functions' results).
    pub tool_results: Arc<Mutex<Vec<serde_json::Value>>>,
    /// The last streamed chat request (the live agent's), as sent.
    pub last_chat: Arc<Mutex<Option<serde_json::Value>>>,
    /// `audio/speech` requests, and the input text of each, in order.
    pub speeches: Arc<AtomicUsize>,
    pub spoken: Arc<Mutex<Vec<String>>>,
    /// While set, `audio/speech` answers 500.
    pub speech_fails: Arc<AtomicBool>,
}

impl Ai {
    pub async fn start() -> Ai {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ai = Ai {
            base: format!("http://{addr}/v1"),
            transcriptions: Default::default(),
            chats: Default::default(),
            failed: Default::default(),
            good_transcriptions: Arc::new(AtomicUsize::new(usize::MAX)),
            failure: Default::default(),
            tool: Default::default(),
            confirm: Default::default(),
            tool_results: Default::default(),
            last_chat: Default::default(),
            speeches: Default::default(),
            spoken: Default::default(),
            speech_fails: Default::default(),
        };
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcription))
            .route("/v1/chat/completions", post(chat))
            .route("/v1/audio/speech", post(speech))
            .route("/v1/models", axum::routing::get(models))
            .with_state(ai.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ai
    }

    /// After `good` transcriptions, every request fails as `failure` says.
    pub fn fail_after(&self, good: usize, failure: Failure) {
        self.failure.store(
            match failure {
                Failure::Error500 => 1,
                Failure::Hang => 2,
            },
            Ordering::SeqCst,
        );
        self.good_transcriptions.store(good, Ordering::SeqCst);
    }

    /// From now on the live agent calls `name` with `arguments` (JSON) after its reply.
    pub fn call_tool(&self, name: &str, arguments: &str) {
        *self.tool.lock().unwrap() = Some((name.to_string(), arguments.to_string()));
    }

    /// From now on the live agent calls `name` with `arguments` (JSON) and says nothing
    /// else; given the function's result, it says `confirmation`.
    pub fn call_tool_then_confirm(&self, name: &str, arguments: &str, confirmation: &str) {
        self.call_tool(name, arguments);
        *self.confirm.lock().unwrap() = Some(confirmation.to_string());
    }

    /// The environment that points the service at this stand-in.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("OPENAI_API_KEY", KEY.to_string()),
            ("OPENAI_BASE_URL", self.base.clone()),
        ]
    }

    /// Whether this request is past the good ones; if so, fails it (500, or never answers).
    async fn failing(&self) -> Option<Response> {
        if self.transcriptions.load(Ordering::SeqCst)
            <= self.good_transcriptions.load(Ordering::SeqCst)
        {
            return None;
        }
        self.failed.fetch_add(1, Ordering::SeqCst);
        if self.failure.load(Ordering::SeqCst) == 2 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({"error": {"message": "The server had an error", "type": "server_error"}})),
            )
                .into_response(),
        )
    }
}

/// The model list, as OpenAI answers it: only to the stand-in's own key (else 401).
async fn models(headers: axum::http::HeaderMap) -> Response {
    let authorised = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {KEY}"));
    if !authorised {
        let body = serde_json::json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    axum::Json(
        serde_json::json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]}),
    )
    .into_response()
}

async fn transcription(State(ai): State<Ai>, _body: Bytes) -> Response {
    ai.transcriptions.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = ai.failing().await {
        return r;
    }
    axum::Json(serde_json::json!({ "text": HEARD })).into_response()
}

/// The stand-in voice's audio, as OpenAI's `pcm` format: 16-bit little-endian, 24 kHz.
pub fn speech_pcm() -> Vec<u8> {
    (0..SPEECH_SAMPLES)
        .flat_map(|i| {
            let t = i as f32 / 24_000.0;
            let v = (t * SPEECH_TONE_HZ * std::f32::consts::TAU).sin() * 12_000.0;
            (v as i16).to_le_bytes()
        })
        .collect()
}

async fn speech(State(ai): State<Ai>, body: Bytes) -> Response {
    ai.speeches.fetch_add(1, Ordering::SeqCst);
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    ai.spoken
        .lock()
        .unwrap()
        .push(req["input"].as_str().unwrap_or_default().to_string());
    if ai.speech_fails.load(Ordering::SeqCst) || req["response_format"] != "pcm" {
        return (StatusCode::INTERNAL_SERVER_ERROR, "speech failed").into_response();
    }
    ([("content-type", "audio/pcm")], speech_pcm()).into_response()
}

async fn chat(State(ai): State<Ai>, body: Bytes) -> Response {
    if let Some(r) = ai.failing().await {
        return r;
    }
    ai.chats.fetch_add(1, Ordering::SeqCst);
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if req["stream"] == true {
        *ai.last_chat.lock().unwrap() = Some(req.clone());
        let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
            serde_json::json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,
                "model":"stand-in","choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
        };
        let confirm = ai.confirm.lock().unwrap().clone();
        let messages = req["messages"].as_array().cloned().unwrap_or_default();
        let answering_tool = messages.last().is_some_and(|m| m["role"] == "tool");
        if answering_tool {
            ai.tool_results.lock().unwrap().extend(
                messages
                    .iter()
                    .rev()
                    .take_while(|m| m["role"] == "tool")
                    .cloned(),
            );
        }
        let tool = match (&confirm, answering_tool) {
            (Some(_), true) => None,
            _ => ai.tool.lock().unwrap().clone(),
        };
        let said = match (&confirm, answering_tool) {
            (Some(c), true) => c.clone(),
            (Some(_), false) => String::new(),
            (None, _) => REPLY.to_string(),
        };
        let (tool_chunk, finish) = match tool {
            Some((name, arguments)) => (
                format!(
                    "data: {}\n\n",
                    chunk(
                        serde_json::json!({"tool_calls": [{"index": 0, "id": "call_1",
                            "type": "function",
                            "function": {"name": name, "arguments": arguments}}]}),
                        serde_json::Value::Null
                    )
                ),
                "tool_calls",
            ),
            None => (String::new(), "stop"),
        };
        let body = format!(
            "data: {}\n\ndata: {}\n\n{tool_chunk}data: {}\n\ndata: [DONE]\n\n",
            chunk(
                serde_json::json!({"role":"assistant","content":""}),
                serde_json::Value::Null
            ),
            chunk(
                serde_json::json!({"content": said}),
                serde_json::Value::Null
            ),
            chunk(serde_json::json!({}), serde_json::json!(finish)),
        );
        return ([("content-type", "text/event-stream")], body).into_response();
    }
    let content = serde_json::json!({
        "summary": "דני כהן מבקש לקבוע תור ומבקש שיחזרו אליו מחר.",
        "name": "דני כהן",
        "reason": "קביעת תור",
        "urgency": "normal",
        "callback_time": "מחר 10:00",
    })
    .to_string();
    axum::Json(serde_json::json!({
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "created": 0,
        "model": req["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
    }))
    .into_response()
}
