//! Text-to-speech as the caller hears it: a sentence's first audio goes out while the
//! provider is still sending the rest of it, and the next sentence is requested while
//! the current one streams. The stand-in for OpenAI's `audio/speech` holds the first
//! reply sentence's body open until both have happened, so a session that waited for
//! whole bodies, or asked for one sentence at a time, would never finish the turn.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use common::{Call, caller_says};
use serde_json::Value;
use tokio::sync::Notify;
use voice::AgentContext;
use voice::agent::ScriptedAgent;
use voice::openai::{OpenAiConfig, OpenAiTts};
use voice::session::{self, Providers, SessionConfig, SessionInput, SessionOutput};

/// 24 kHz PCM of a tone, `ms` long, as OpenAI's `pcm` format.
fn pcm(ms: usize) -> Vec<u8> {
    (0..24 * ms)
        .flat_map(|i| (((i as f32 * 0.05).sin() * 8000.0) as i16).to_le_bytes())
        .collect()
}

#[derive(Default)]
struct Stage {
    /// The test saw the first sentence's first audio.
    first_audio_out: Notify,
    /// The second sentence was requested.
    second_requested: Notify,
    requests: Mutex<Vec<String>>,
}

const FIRST: &str = "תודה.";
const SECOND: &str = "במה אפשר לעזור?";

async fn serve(stage: Arc<Stage>) -> String {
    let app = Router::new().route(
        "/v1/audio/speech",
        post(move |body: axum::Json<Value>| {
            let stage = stage.clone();
            async move {
                let input = body.0["input"].as_str().unwrap_or_default().to_string();
                stage.requests.lock().unwrap().push(input.clone());
                if input == SECOND {
                    stage.second_requested.notify_one();
                }
                let body = if input == FIRST {
                    let s = stage.clone();
                    let stream = first_body(s);
                    Body::from_stream(stream)
                } else {
                    Body::from(pcm(400))
                };
                Response::builder()
                    .header("content-type", "audio/pcm")
                    .body(body)
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// The first sentence's body: 300 ms of audio at once, the rest only once the caller's
/// side has its first audio and the next sentence has been asked for.
fn first_body(
    stage: Arc<Stage>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send {
    futures::stream::unfold(0u8, move |step| {
        let stage = stage.clone();
        async move {
            match step {
                0 => Some((Ok(pcm(300)), 1)),
                1 => {
                    stage.first_audio_out.notified().await;
                    stage.second_requested.notified().await;
                    Some((Ok(pcm(300)), 2))
                }
                _ => None,
            }
        }
    })
}

#[tokio::test]
async fn audio_streams_by_the_chunk_and_the_next_sentence_is_asked_for_early() {
    let stage = Arc::new(Stage::default());
    let mut cfg = OpenAiConfig::new("").with_base_url(serve(stage.clone()).await);
    cfg.timeout = Duration::from_secs(5);
    let providers = Providers {
        stt: None,
        tts: Arc::new(OpenAiTts::new(cfg)),
        agent: Arc::new(ScriptedAgent::new()),
    };
    let session_cfg = SessionConfig {
        provider_timeout: Duration::from_secs(5),
        silence_prompt_after: Duration::from_secs(600),
        silence_hangup_after: Duration::from_secs(900),
        ..Default::default()
    };
    let ctx = AgentContext {
        business_name: "מספרת רותי".into(),
        ..Default::default()
    };
    let mut call = Call::new(session::spawn(session_cfg, providers, ctx));
    let (_, greeting) = call.until_turn().await;
    call.say(&caller_says("דנה כהן").await).await;
    let reply_audio =
        |o: &SessionOutput| matches!(o, SessionOutput::Audio { utterance, .. } if *utterance > 1);
    let within = Duration::from_secs(10);
    tokio::time::timeout(within, call.until(reply_audio))
        .await
        .expect("the first audio went out before the body ended");
    stage.first_audio_out.notify_one();
    let (_, reply) = tokio::time::timeout(within, call.until_turn())
        .await
        .expect("the next sentence was asked for while the first streamed");
    assert!(
        reply.agent_text.starts_with("תודה. במה אפשר לעזור?"),
        "{reply:?}"
    );
    assert_eq!(reply.heard_text, reply.agent_text);
    let requests = stage.requests.lock().unwrap().clone();
    let at = requests.iter().position(|r| r == FIRST).unwrap();
    assert_eq!(requests[0], greeting.agent_text);
    assert_eq!(requests[at + 1], SECOND, "{requests:?}");
    // The first sentence's utterance carries all 600 ms (8 kHz mu-law: 8 bytes a ms).
    let first_bytes: usize = call
        .log
        .iter()
        .filter_map(|o| match o {
            SessionOutput::Audio {
                utterance: 2,
                mulaw,
            } => Some(mulaw.len()),
            _ => None,
        })
        .sum();
    assert!((4600..=4900).contains(&first_bytes), "{first_bytes}");
    call.h.input.send(SessionInput::Hangup).await.unwrap();
    call.rest().await;
}
