//! The cascade's streaming ears: a Realtime transcription session (`?intent=transcription`,
//! session type `transcription`) per call. The caller's mu-law frames are appended to the
//! service's input buffer while they speak; when the cascade's own end of turn fires it
//! sends `input_audio_buffer.commit`, the service answers `input_audio_buffer.committed`
//! with the new item and, moments later,
//! `conversation.item.input_audio_transcription.completed` with its text. The transcript
//! is then ready about as soon as the caller stopped, where a whole-file upload would only
//! begin.
//!
//! Nothing here may make a caller wait in silence: the connection is made in the
//! background (frames wait for it), and a socket that cannot open, closes, or answers an
//! `error` ends the stream: every utterance still waiting gets its sender dropped, and the
//! cascade transcribes the audio it kept by the whole-file upload instead.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::{connect, events};
use crate::provider::{ProviderError, StreamingStt, SttStream, Transcript};

/// Frames waiting to be sent (about 20 s of audio): the socket is slower than that only
/// when it is broken, and then the stream gives up rather than hold the call.
const QUEUE: usize = 1024;

/// How to reach the transcription service.
#[derive(Clone)]
pub struct TranscriptionConfig {
    /// `OPENAI_REALTIME_URL` (`?intent=transcription` is added).
    pub url: String,
    /// `OPENAI_API_KEY`.
    pub api_key: String,
    /// The recognition model (`gpt-4o-transcribe`, `gpt-4o-mini-transcribe`).
    pub model: String,
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for TranscriptionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("TranscriptionConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .finish()
    }
}

/// The transcription endpoint: the Realtime URL with `intent=transcription`.
pub fn endpoint(url: &str) -> Result<url::Url, ProviderError> {
    let mut url = url::Url::parse(url)
        .map_err(|e| ProviderError::Unavailable(format!("OPENAI_REALTIME_URL: {e}")))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(ProviderError::Unavailable(
            "OPENAI_REALTIME_URL must be ws:// or wss://".into(),
        ));
    }
    url.query_pairs_mut().append_pair("intent", "transcription");
    Ok(url)
}

/// Streaming speech-to-text over Realtime transcription sessions.
#[derive(Debug, Clone)]
pub struct RealtimeStt {
    cfg: Arc<TranscriptionConfig>,
}

impl RealtimeStt {
    pub fn new(cfg: TranscriptionConfig) -> Self {
        Self { cfg: Arc::new(cfg) }
    }
}

impl StreamingStt for RealtimeStt {
    fn open(&self, language: &str) -> Box<dyn SttStream> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let alive = Arc::new(AtomicBool::new(true));
        tokio::spawn(run(
            self.cfg.clone(),
            language.to_string(),
            rx,
            alive.clone(),
        ));
        Box::new(Listening { tx, alive })
    }

    fn name(&self) -> &'static str {
        "openai-realtime"
    }
}

enum Cmd {
    Append(Vec<u8>),
    Commit(oneshot::Sender<Result<Transcript, ProviderError>>),
    Clear,
}

/// The turn loop's end of one call's stream.
struct Listening {
    tx: mpsc::Sender<Cmd>,
    alive: Arc<AtomicBool>,
}

impl Listening {
    fn send(&mut self, cmd: Cmd) -> bool {
        if !self.is_alive() {
            return false;
        }
        if self.tx.try_send(cmd).is_err() {
            // Full (the socket stalled) or closed: this stream is done.
            self.alive.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }
}

impl SttStream for Listening {
    fn push(&mut self, mulaw: &[u8]) {
        self.send(Cmd::Append(mulaw.to_vec()));
    }

    fn commit(&mut self) -> Option<oneshot::Receiver<Result<Transcript, ProviderError>>> {
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Commit(tx)).then_some(rx)
    }

    fn clear(&mut self) {
        self.send(Cmd::Clear);
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }
}

type Reply = oneshot::Sender<Result<Transcript, ProviderError>>;

/// The connection's task: it ends when the call's side is dropped or the socket fails,
/// and with it every utterance still waiting (their senders are dropped).
async fn run(
    cfg: Arc<TranscriptionConfig>,
    language: String,
    mut cmds: mpsc::Receiver<Cmd>,
    alive: Arc<AtomicBool>,
) {
    if let Err(e) = serve(&cfg, &language, &mut cmds).await {
        tracing::warn!(error = %e, "streaming speech-to-text stopped: whole-file uploads take over");
    }
    alive.store(false, Ordering::Relaxed);
}

async fn serve(
    cfg: &TranscriptionConfig,
    language: &str,
    cmds: &mut mpsc::Receiver<Cmd>,
) -> Result<(), ProviderError> {
    let url = endpoint(&cfg.url)?;
    let socket = connect::open_url(url, &cfg.api_key, cfg.connect_timeout).await?;
    let (mut sink, mut stream) = socket.split();
    let text = |v: &Value| Message::Text(v.to_string().into());
    let broken =
        |e: tokio_tungstenite::tungstenite::Error| ProviderError::Unavailable(e.to_string());
    let update = events::transcription_session_update(&cfg.model, language);
    sink.send(text(&update)).await.map_err(broken)?;
    // Commits sent, waiting for their item; items committed, waiting for their text.
    let mut committing: VecDeque<Reply> = VecDeque::new();
    let mut items: HashMap<String, Reply> = HashMap::new();
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                None => {
                    let _ = sink.close().await;
                    return Ok(());
                }
                Some(Cmd::Append(frame)) => {
                    let append = events::append(&B64.encode(&frame));
                    sink.send(Message::Text(append.into())).await.map_err(broken)?;
                }
                Some(Cmd::Commit(reply)) => {
                    sink.send(text(&events::commit())).await.map_err(broken)?;
                    committing.push_back(reply);
                }
                Some(Cmd::Clear) => {
                    sink.send(text(&events::clear())).await.map_err(broken)?;
                }
            },
            msg = stream.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => return Err(broken(e)),
                    None => return Err(ProviderError::Unavailable("the transcription socket closed".into())),
                };
                let data = match msg {
                    Message::Text(t) => t,
                    Message::Close(_) => {
                        return Err(ProviderError::Unavailable("the transcription socket closed".into()));
                    }
                    _ => continue,
                };
                let Ok(event) = serde_json::from_str::<Value>(data.as_str()) else {
                    return Err(ProviderError::Protocol("a transcription event that is not JSON".into()));
                };
                on_event(&event, &mut committing, &mut items)?;
            }
        }
    }
}

/// One server event; an `Err` ends the stream.
fn on_event(
    event: &Value,
    committing: &mut VecDeque<Reply>,
    items: &mut HashMap<String, Reply>,
) -> Result<(), ProviderError> {
    let item = || event["item_id"].as_str().unwrap_or_default().to_string();
    match event["type"].as_str().unwrap_or_default() {
        "input_audio_buffer.committed" => {
            if let Some(reply) = committing.pop_front() {
                items.insert(item(), reply);
            }
        }
        "conversation.item.input_audio_transcription.completed" => {
            if let Some(reply) = items.remove(&item()) {
                let text = event["transcript"].as_str().unwrap_or_default();
                let _ = reply.send(Ok(Transcript {
                    text: text.trim().to_string(),
                    confidence: None,
                }));
            }
        }
        "conversation.item.input_audio_transcription.failed" => {
            if let Some(reply) = items.remove(&item()) {
                let msg = event["error"]["message"].as_str().unwrap_or("failed");
                let _ = reply.send(Err(ProviderError::Protocol(format!(
                    "transcription failed: {msg}"
                ))));
            }
        }
        "error" => {
            let msg = event["error"]["message"].as_str().unwrap_or("error");
            return Err(ProviderError::Protocol(format!(
                "transcription service error: {msg}"
            )));
        }
        // session.created/updated, speech events, deltas: nothing to wait for.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_asks_for_a_transcription_session() {
        let url = endpoint("wss://api.openai.com/v1/realtime").unwrap();
        assert_eq!(
            url.as_str(),
            "wss://api.openai.com/v1/realtime?intent=transcription"
        );
        assert!(endpoint("https://api.openai.com/v1/realtime").is_err());
    }

    #[test]
    fn each_transcript_goes_to_the_utterance_committed_for_it() {
        let mut committing = VecDeque::new();
        let mut items = HashMap::new();
        let (a_tx, mut a) = oneshot::channel();
        let (b_tx, mut b) = oneshot::channel();
        committing.push_back(a_tx);
        committing.push_back(b_tx);
        let mut ev = |v: Value| on_event(&v, &mut committing, &mut items);
        ev(serde_json::json!({"type": "input_audio_buffer.committed", "item_id": "i1"})).unwrap();
        ev(serde_json::json!({"type": "input_audio_buffer.committed", "item_id": "i2"})).unwrap();
        // The second utterance's text may come first.
        ev(serde_json::json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "i2", "content_index": 0, "transcript": " לא "})).unwrap();
        ev(serde_json::json!({"type": "conversation.item.input_audio_transcription.failed", "item_id": "i1", "content_index": 0, "error": {"message": "bad audio"}})).unwrap();
        assert_eq!(b.try_recv().unwrap().unwrap().text, "לא");
        assert!(
            matches!(a.try_recv().unwrap(), Err(ProviderError::Protocol(m)) if m.contains("bad audio"))
        );
        assert!(
            ev(serde_json::json!({"type": "error", "error": {"message": "x"}})).is_err(),
            "an error ends the stream"
        );
    }
}
