//! A stand-in for OpenAI's `POST /v1/audio/transcriptions` that checks each request
//! against the published shape (bearer key, multipart `file` as WAV, `model`, `language`)
//! and answers the way OpenAI does: JSON for a whole utterance, or, when `stream=true` is
//! asked of a model that streams (gpt-4o-transcribe and kin, never whisper-1), server-sent
//! `transcript.text.delta` events then `transcript.text.done`, delivered in small pieces
//! split inside UTF-8 characters. It can also break a stream before `done`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::Notify;

pub const KEY: &str = "sk-test-key";

/// The models OpenAI documents for `audio/transcriptions`.
const MODELS: &[&str] = &[
    "whisper-1",
    "gpt-transcribe",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
];

/// What one request carried.
#[derive(Default, Debug, Clone)]
pub struct Upload {
    pub fields: Vec<(String, String)>,
    pub file_name: Option<String>,
    pub file_type: Option<String>,
    pub wav: Option<audio::Wav>,
}

impl Upload {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a broken streamed answer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Break {
    /// The body ends cleanly, without `transcript.text.done`.
    EndsEarly,
    /// The connection fails mid-body.
    Aborts,
}

/// How the stand-in answers.
#[derive(Clone)]
pub struct Transcriber {
    /// What the caller said.
    pub text: String,
    /// The first this many streamed answers break before `done`.
    pub broken: usize,
    pub how: Break,
    /// When set, a streamed answer waits after its first delta until notified.
    pub hold: Option<Arc<Notify>>,
}

impl Transcriber {
    pub fn saying(text: &str) -> Self {
        Self {
            text: text.to_string(),
            broken: 0,
            how: Break::EndsEarly,
            hold: None,
        }
    }
}

#[derive(Clone)]
struct Shared {
    t: Transcriber,
    uploads: Arc<Mutex<Vec<Upload>>>,
    streamed: Arc<AtomicUsize>,
}

/// A running stand-in.
pub struct StandIn {
    /// `http://127.0.0.1:port/v1`.
    pub base: String,
    pub uploads: Arc<Mutex<Vec<Upload>>>,
}

impl StandIn {
    pub async fn start(t: Transcriber) -> Self {
        let uploads = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            t,
            uploads: uploads.clone(),
            streamed: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcriptions))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}/v1"),
            uploads,
        }
    }

    pub fn uploads(&self) -> Vec<Upload> {
        self.uploads.lock().unwrap().clone()
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
    )
        .into_response()
}

async fn transcriptions(
    State(s): State<Shared>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {KEY}")) {
        return error(StatusCode::UNAUTHORIZED, "Incorrect API key provided");
    }
    let mut u = Upload::default();
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            u.file_name = field.file_name().map(str::to_string);
            u.file_type = field.content_type().map(str::to_string);
            let bytes = field.bytes().await.unwrap();
            u.wav = audio::wav::read(&bytes).ok();
        } else {
            u.fields.push((name, field.text().await.unwrap()));
        }
    }
    s.uploads.lock().unwrap().push(u.clone());
    let model = u.field("model").unwrap_or_default().to_string();
    if u.wav.is_none() || !MODELS.contains(&model.as_str()) || u.field("language") != Some("he") {
        return error(StatusCode::BAD_REQUEST, "missing file, model or language");
    }
    // "Streaming is not supported for the whisper-1 model and will be ignored."
    if u.field("stream") != Some("true") || model == "whisper-1" {
        return axum::Json(
            json!({"text": format!(" {} ", s.t.text), "usage": {"type": "duration", "seconds": 2}}),
        )
        .into_response();
    }
    let broken = s.streamed.fetch_add(1, Ordering::SeqCst) < s.t.broken;
    sse(&s.t, broken)
}

fn event(v: serde_json::Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

/// The streamed answer: the first delta alone, then the rest in 7-byte pieces.
fn sse(t: &Transcriber, broken: bool) -> Response {
    let mut deltas = Vec::new();
    for (i, word) in t.text.split(' ').enumerate() {
        let delta = if i == 0 {
            word.to_string()
        } else {
            format!(" {word}")
        };
        deltas.push(event(
            json!({"type": "transcript.text.delta", "delta": delta, "logprobs": []}),
        ));
    }
    let first = deltas.remove(0);
    let mut rest = deltas.concat();
    if !broken {
        rest.extend(event(json!({
            "type": "transcript.text.done",
            "text": t.text,
            "usage": {"type": "tokens", "input_tokens": 14, "output_tokens": 6, "total_tokens": 20},
        })));
    }
    let mut pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        rest.chunks(7).map(|c| Ok(c.to_vec())).collect();
    if broken && t.how == Break::Aborts {
        pieces.push(Err(std::io::Error::other("connection reset")));
    }
    let hold = t.hold.clone();
    let body = futures::stream::once(async move { Ok(first) }).chain(
        futures::stream::once(async move {
            if let Some(h) = hold {
                h.notified().await;
            }
            futures::stream::iter(pieces)
        })
        .flatten(),
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}
