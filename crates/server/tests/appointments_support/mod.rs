//! For the appointment-tool tests: a business with a bookable service, and an
//! OpenAI-compatible stand-in whose chat model books like a receptionist would. It answers
//! each streamed `chat/completions` from the conversation it is sent, as OpenAI's shapes
//! have it: with no tool result yet it makes its first move (a function call the test
//! chooses); after `find_free_slots` it books the first time offered; after
//! `book_appointment` it says what the result says (`appointment.spoken`), or books the
//! first of `next_free` when the time was taken. So what the caller hears can only come
//! from the results the server gave. Speech-to-text hears a fixed request and speech is the
//! tone of `common::ai`, with every text it was asked to speak recorded.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mokdan::store::Db;
use mokdan::store::scheduling::{self, HoursRow, ServiceFields};
use serde_json::{Value, json};

/// What the caller asks for (the stand-in's speech-to-text hears it in every turn).
pub const HEARD: &str = "שלום, אני דני כהן ואני רוצה לקבוע תור לתספורת ביום שלישי אחרי עשר.";
/// The day asked for: a Tuesday, far enough ahead never to be in the past.
pub const TUESDAY: &str = "2030-01-08";
pub const SERVICE: &str = "תספורת";
pub const NAME: &str = "דני כהן";

/// A 30-minute service with a 10-minute buffer and one staff member giving it Sunday to
/// Friday 08:00–20:00; `(service_id, staff_id)`.
pub async fn salon(db: &Db, business_id: i64, staff: &str) -> (i64, i64) {
    let sid = scheduling::create_service(
        db,
        business_id,
        &ServiceFields {
            name: SERVICE.into(),
            duration_minutes: 30,
            buffer_after_minutes: 10,
            price_agorot: Some(8000),
        },
    )
    .await
    .unwrap();
    let hours: Vec<HoursRow> = (0..6)
        .map(|weekday| HoursRow {
            staff_id: None,
            weekday,
            start_minute: 8 * 60,
            end_minute: 20 * 60,
        })
        .collect();
    let staff_id = scheduling::save_staff(db, business_id, None, staff, &[sid], &hours)
        .await
        .unwrap()
        .unwrap();
    (sid, staff_id)
}

/// The chat stand-in.
#[derive(Clone)]
pub struct Model {
    pub base: String,
    /// The first function the model calls in a turn: name and arguments.
    first: Arc<(String, Value)>,
    /// Every streamed chat request, in order.
    pub requests: Arc<Mutex<Vec<Value>>>,
    /// Every text it was asked to speak, in order.
    pub spoken: Arc<Mutex<Vec<String>>>,
}

impl Model {
    pub async fn start(first_tool: &str, first_arguments: Value) -> Model {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let model = Model {
            base: format!("http://{addr}/v1"),
            first: Arc::new((first_tool.to_string(), first_arguments)),
            requests: Arc::default(),
            spoken: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcription))
            .route("/v1/chat/completions", post(chat))
            .route("/v1/audio/speech", post(speech))
            .with_state(model.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        model
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPENAI_API_KEY", "sk-booking-stand-in".into()),
            ("OPENAI_BASE_URL", self.base.clone()),
        ]
    }

    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

async fn transcription(_body: Bytes) -> Response {
    axum::Json(json!({ "text": HEARD })).into_response()
}

async fn speech(State(m): State<Model>, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    m.spoken
        .lock()
        .unwrap()
        .push(req["input"].as_str().unwrap_or_default().to_string());
    (
        [("content-type", "audio/pcm")],
        crate::common::ai::speech_pcm(),
    )
        .into_response()
}

/// What the model does next.
enum Move {
    Call(String, Value),
    Say(String),
}

/// The name of the function a tool message answers, from the assistant message that
/// called it.
fn called_name(messages: &[Value], call_id: &str) -> String {
    messages
        .iter()
        .filter_map(|m| m["tool_calls"].as_array())
        .flatten()
        .find(|c| c["id"] == call_id)
        .and_then(|c| c["function"]["name"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn book(start: &Value) -> Move {
    Move::Call(
        "book_appointment".into(),
        json!({ "service": SERVICE, "start": start, "name": NAME }),
    )
}

fn decide(first: &(String, Value), messages: &[Value]) -> Move {
    let Some(last) = messages.last().filter(|m| m["role"] == "tool") else {
        return Move::Call(first.0.clone(), first.1.clone());
    };
    let name = called_name(messages, last["tool_call_id"].as_str().unwrap_or_default());
    let result: Value =
        serde_json::from_str(last["content"].as_str().unwrap_or_default()).unwrap_or_default();
    match name.as_str() {
        "find_free_slots" => match result["slots"].get(0) {
            Some(slot) => book(&slot["start"]),
            None => Move::Say("אין תורים פנויים ביום הזה.".into()),
        },
        "book_appointment" if result["ok"] == true => Move::Say(format!(
            "קבעתי לך תור ל{}.",
            result["appointment"]["spoken"].as_str().unwrap_or("?")
        )),
        "book_appointment" => match result["next_free"].get(0) {
            Some(next) => book(&next["start"]),
            None => Move::Say("סליחה, לא הצלחתי לקבוע.".into()),
        },
        _ => Move::Say("סליחה, משהו השתבש.".into()),
    }
}

fn chunk(delta: Value, finish: Value) -> String {
    let c = json!({"id": "chatcmpl-book", "object": "chat.completion.chunk", "created": 1,
        "model": "stand-in", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

async fn chat(State(m): State<Model>, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    if req["stream"] != true {
        // The post-call summary.
        let content = json!({"summary": "דני כהן קבע תור לתספורת.", "name": NAME,
            "reason": "קביעת תור", "urgency": "normal"})
        .to_string();
        return axum::Json(
            json!({"id": "chatcmpl-sum", "object": "chat.completion", "created": 0,
            "model": req["model"], "choices": [{"index": 0, "message": {"role": "assistant",
            "content": content}, "finish_reason": "stop"}]}),
        )
        .into_response();
    }
    m.requests.lock().unwrap().push(req.clone());
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let mut out = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    match decide(&m.first, &messages) {
        Move::Call(name, arguments) => {
            let n = messages.iter().filter(|m| m["role"] == "tool").count();
            out.push_str(&chunk(
                json!({"tool_calls": [{"index": 0, "id": format!("call_{n}"), "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()}}]}),
                Value::Null,
            ));
            out.push_str(&chunk(json!({}), json!("tool_calls")));
        }
        Move::Say(text) => {
            out.push_str(&chunk(json!({"content": text}), Value::Null));
            out.push_str(&chunk(json!({}), json!("stop")));
        }
    }
    out.push_str("data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], out).into_response()
}
