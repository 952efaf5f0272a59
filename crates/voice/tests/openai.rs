//! The OpenAI providers against stand-in servers that check each request against
//! OpenAI's published shapes (auth header, multipart fields, JSON body) and answer with
//! the published response shapes, streamed the way OpenAI streams them. (Speech-to-text
//! has its own file, `openai_stt.rs`.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use voice::openai::{OpenAiAgent, OpenAiConfig, OpenAiTts};
use voice::{Agent, AgentAction, AgentContext, AgentEvent, ProviderError, Role, TextToSpeech};

const KEY: &str = "sk-test-key";

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn config(base: &str) -> OpenAiConfig {
    let mut c = OpenAiConfig::new(KEY).with_base_url(base);
    c.timeout = Duration::from_secs(5);
    c
}

fn authorized(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KEY}"))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})),
    )
        .into_response()
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let err = OpenAiTts::new(config(&base))
        .synthesize("שלום")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ProviderError::Unavailable(_)), "{err:?}");
}

/// SSE body pieces, split mid-JSON and mid-UTF-8, as a network would deliver them.
fn chat_sse() -> Vec<Vec<u8>> {
    let events = [
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}),
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"תודה דנה, "},"finish_reason":null}]}),
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"נחזור אלייך מחר."},"finish_reason":null}]}),
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"save_caller_details","arguments":""}}]},"finish_reason":null}]}),
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"name\":\"דנה\",\"reas"}}]},"finish_reason":null}]}),
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"on\":\"תור\",\"callback_time\":\"מחר\",\"urgency\":\"normal\"}"}}]},"finish_reason":null}]}),
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"end_call","arguments":"{}"}}]},"finish_reason":null}]}),
        json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}),
    ];
    let mut body = String::new();
    for e in events {
        body.push_str(&format!("data: {e}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    body.into_bytes().chunks(37).map(<[u8]>::to_vec).collect()
}

async fn chat(
    State(seen): State<Arc<Mutex<Option<Value>>>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    *seen.lock().unwrap() = Some(body.0);
    let chunks = chat_sse();
    let stream = futures::stream::iter(chunks).map(Ok::<_, std::io::Error>);
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn ctx() -> AgentContext {
    AgentContext {
        business_name: "מספרת רותי".into(),
        system_prompt: Some("פתוח א-ה".into()),
        history: vec![
            (
                Role::Agent,
                "שלום, הגעתם למספרת רותי. איך אפשר לעזור?".into(),
            ),
            (Role::Caller, "אני רוצה תור".into()),
            (Role::Agent, "בשמחה. מה השם?".into()),
        ],
        ..Default::default()
    }
}

#[tokio::test]
async fn agent_posts_the_conversation_and_decodes_text_and_tool_calls() {
    let seen = Arc::new(Mutex::new(None));
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(seen.clone());
    let agent = OpenAiAgent::new(config(&serve(app).await));
    let events: Vec<AgentEvent> = agent
        .reply(&ctx(), "דנה")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    // The call ends (end_call): the tools' results are recorded, and no further
    // completion is asked for.
    let tools: Vec<(String, bool)> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Tool(t) => Some((t.name.clone(), t.ok)),
            _ => None,
        })
        .collect();
    assert_eq!(
        tools,
        [
            ("save_caller_details".into(), true),
            ("end_call".into(), true)
        ]
    );
    let events: Vec<AgentEvent> = events
        .into_iter()
        .filter(|e| !matches!(e, AgentEvent::Tool(_)))
        .collect();
    assert_eq!(
        events,
        vec![
            AgentEvent::Text("תודה דנה, ".into()),
            AgentEvent::Text("נחזור אלייך מחר.".into()),
            AgentEvent::Action(AgentAction::SaveDetails {
                name: Some("דנה".into()),
                reason: Some("תור".into()),
                callback_time: Some("מחר".into()),
                urgency: Some("normal".into()),
            }),
            AgentEvent::Action(AgentAction::EndCall),
        ]
    );
    let body = seen.lock().unwrap().clone().unwrap();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["stream"], true);
    let messages = body["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "assistant", "user", "assistant", "user"]);
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.contains("מספרת רותי") && system.contains("פתוח א-ה"));
    assert_eq!(messages[4]["content"], "דנה");
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(tools.contains(&"end_call") && tools.contains(&"transfer_call"));
    assert!(tools.contains(&"save_caller_details"));
}

#[tokio::test]
async fn agent_text_arrives_before_the_reply_is_complete() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let g = g.clone();
            async move {
                let first = format!(
                    "data: {}\n\n",
                    json!({"id":"c","choices":[{"index":0,"delta":{"content":"רגע אחד."},"finish_reason":null}]})
                );
                let rest = format!(
                    "data: {}\n\ndata: [DONE]\n\n",
                    json!({"id":"c","choices":[{"index":0,"delta":{"content":" בודקת."},"finish_reason":"stop"}]})
                );
                let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(first) })
                    .chain(futures::stream::once(async move {
                        g.notified().await;
                        Ok(rest)
                    }));
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    let mut cfg = config(&serve(app).await);
    cfg.api_key.clear();
    let mut events = OpenAiAgent::new(cfg).reply(&ctx(), "שלום").await.unwrap();
    // The server holds the rest back until we have the first delta.
    assert_eq!(
        events.next().await.unwrap().unwrap(),
        AgentEvent::Text("רגע אחד.".into())
    );
    gate.notify_one();
    assert_eq!(
        events.next().await.unwrap().unwrap(),
        AgentEvent::Text(" בודקת.".into())
    );
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn agent_http_error_fails_the_reply() {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"error": {"message": "The server had an error", "type": "server_error"}})),
            )
        }),
    );
    let err = OpenAiAgent::new(config(&serve(app).await))
        .reply(&ctx(), "שלום")
        .await
        .err()
        .unwrap();
    assert!(
        matches!(err, ProviderError::Http { status: 500, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn tts_posts_pcm_request_and_streams_24k_samples() {
    let samples: Vec<i16> = (0..4801).map(|i| (i * 7 % 20000 - 10000) as i16).collect();
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let seen = Arc::new(Mutex::new(None::<Value>));
    let s2 = seen.clone();
    let app = Router::new().route(
        "/v1/audio/speech",
        post(move |headers: HeaderMap, body: axum::Json<Value>| {
            let bytes = bytes.clone();
            let seen = s2.clone();
            async move {
                if !authorized(&headers) {
                    return unauthorized();
                }
                *seen.lock().unwrap() = Some(body.0);
                // Odd-sized pieces: samples straddle chunk boundaries.
                let pieces: Vec<Vec<u8>> = bytes.chunks(1001).map(<[u8]>::to_vec).collect();
                let stream = futures::stream::iter(pieces).map(Ok::<_, std::io::Error>);
                Response::builder()
                    .header("content-type", "audio/pcm")
                    .body(Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    let mut cfg = config(&serve(app).await);
    cfg.tts_voice = "nova".into();
    let chunks: Vec<_> = OpenAiTts::new(cfg)
        .synthesize("שלום וברכה")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(chunks.iter().all(|c| c.sample_rate == 24_000));
    let got: Vec<i16> = chunks.into_iter().flat_map(|c| c.pcm).collect();
    assert_eq!(got, samples);
    let body = seen.lock().unwrap().clone().unwrap();
    assert_eq!(
        body,
        json!({"model": "gpt-4o-mini-tts", "voice": "nova", "input": "שלום וברכה", "response_format": "pcm"})
    );
}
