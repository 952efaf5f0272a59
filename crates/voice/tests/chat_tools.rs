//! Tools that return results in the cascade: the chat agent runs the function the model
//! called, sends the model an `assistant` message with its `tool_calls` and a `tool`
//! message with the result, and speaks the new completion's confirmation. A stand-in for
//! an OpenAI-compatible `chat/completions` answers the first request with a function call
//! and the second (which must carry the result) with words.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use futures::TryStreamExt;
use serde_json::{Value, json};
use voice::openai::{OpenAiAgent, OpenAiConfig};
use voice::{Agent, AgentAction, AgentContext, AgentEvent};

fn sse(events: &[Value]) -> String {
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    body.push_str("data: [DONE]\n\n");
    body
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

/// The first answer calls `request_callback` (arguments split over two events); an answer
/// to a request carrying a tool result confirms, or apologises when the tool failed.
fn answer(request: &Value) -> String {
    let messages = request["messages"].as_array().unwrap();
    let last = messages.last().unwrap();
    if last["role"] == "tool" {
        let ok = last["content"].as_str().unwrap().contains("\"ok\":true");
        let text = if ok {
            "רשמתי, נחזור אליך מחר בעשר."
        } else {
            "סליחה, לא הצלחתי לרשום."
        };
        return sse(&[chunk(json!({"content": text}), Some("stop"))]);
    }
    let args = if last["content"] == "תחזרו אליי" {
        ["{\"when\":\"מחר ", "בעשר\"}"]
    } else {
        ["{\"wh", "en\":\"\"}"]
    };
    sse(&[
        chunk(json!({"content": "רגע, "}), None),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_7", "type": "function", "function": {"name": "request_callback", "arguments": args[0]}}]}),
            None,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": args[1]}}]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
    ])
}

async fn stand_in() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |body: axum::Json<Value>| {
            let seen = s.clone();
            async move {
                let text = answer(&body.0);
                seen.lock().unwrap().push(body.0);
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from(text))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

async fn reply(said: &str) -> (Vec<AgentEvent>, Vec<Value>) {
    let (base, seen) = stand_in().await;
    let mut cfg = OpenAiConfig::new("").with_base_url(base);
    cfg.timeout = Duration::from_secs(5);
    let ctx = AgentContext {
        business_name: "מספרת רותי".into(),
        ..Default::default()
    };
    let events = OpenAiAgent::new(cfg)
        .reply(&ctx, said)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let requests = seen.lock().unwrap().clone();
    (events, requests)
}

#[tokio::test]
async fn the_model_hears_the_tool_result_and_confirms() {
    let (events, requests) = reply("תחזרו אליי").await;
    let AgentEvent::Tool(record) = &events[2] else {
        panic!("{events:?}")
    };
    assert_eq!(
        events[..2],
        [
            AgentEvent::Text("רגע, ".into()),
            AgentEvent::Action(AgentAction::CallBack {
                when: "מחר בעשר".into()
            }),
        ]
    );
    assert_eq!(record.name, "request_callback");
    assert_eq!(record.arguments, "{\"when\":\"מחר בעשר\"}");
    assert!(
        record.ok && record.output.contains("call-back requested"),
        "{record:?}"
    );
    assert_eq!(
        events[3..],
        [AgentEvent::Text("רשמתי, נחזור אליך מחר בעשר.".into())]
    );

    assert_eq!(requests.len(), 2);
    let messages = requests[1]["messages"].as_array().unwrap();
    let n = messages.len();
    let assistant = &messages[n - 2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["content"], "רגע, ");
    assert_eq!(assistant["tool_calls"][0]["id"], "call_7");
    assert_eq!(assistant["tool_calls"][0]["type"], "function");
    assert_eq!(
        assistant["tool_calls"][0]["function"]["name"],
        "request_callback"
    );
    let tool = &messages[n - 1];
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], "call_7");
    assert_eq!(tool["content"].as_str().unwrap(), record.output);
    assert!(
        requests[1]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
}

#[tokio::test]
async fn a_tool_that_fails_gets_an_apology() {
    let (events, requests) = reply("משהו אחר").await;
    let tool = events
        .iter()
        .find_map(|e| match e {
            AgentEvent::Tool(t) => Some(t.clone()),
            _ => None,
        })
        .expect("the call is recorded");
    assert!(
        !tool.ok && tool.output.contains("invalid arguments"),
        "{tool:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, AgentEvent::Action(_))),
        "nothing is done: {events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&AgentEvent::Text("סליחה, לא הצלחתי לרשום.".into()))
    );
    assert_eq!(requests.len(), 2);
}
