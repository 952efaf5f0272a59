//! The three seams of a live call — speech-to-text, text-to-speech and the agent — as
//! traits, so the turn loop works the same with OpenAI, Google, local espeak-ng or the
//! scripted intake agent, and so each can be swapped by configuration and tested alone.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// Why a provider could not answer. The turn loop treats every variant the same way
/// (apologise, retry once, then the recording fallback); the variants exist for logs,
/// metrics and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider did not answer in time.
    #[error("provider timed out")]
    Timeout,
    /// The provider answered with an HTTP error status.
    #[error("provider answered HTTP {status}: {body_excerpt}")]
    Http { status: u16, body_excerpt: String },
    /// The provider answered something we cannot understand.
    #[error("provider protocol error: {0}")]
    Protocol(String),
    /// The provider cannot be reached or is not configured.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
}

impl ProviderError {
    /// Wraps an HTTP error status, keeping a short excerpt of the body for the logs.
    pub fn http(status: u16, body: &str) -> Self {
        const MAX: usize = 300;
        let mut body_excerpt: String = body.chars().take(MAX).collect();
        if body.chars().count() > MAX {
            body_excerpt.push('…');
        }
        Self::Http {
            status,
            body_excerpt,
        }
    }
}

impl From<reqwest::Error> for ProviderError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() || e.is_request() {
            Self::Unavailable(e.without_url().to_string())
        } else if let Some(status) = e.status() {
            Self::http(status.as_u16(), "")
        } else {
            Self::Protocol(e.without_url().to_string())
        }
    }
}

/// Runs `fut` with a time limit, mapping the elapsed limit to [`ProviderError::Timeout`].
pub async fn with_timeout<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(ProviderError::Timeout))
}

/// What speech-to-text heard.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Transcript {
    pub text: String,
    /// 0..=1 when the provider reports it.
    pub confidence: Option<f32>,
}

/// One item of a streamed transcription.
#[derive(Debug, Clone, PartialEq)]
pub enum SttEvent {
    /// More of the text (a piece to append to the pieces before it), while the provider is
    /// still working.
    Partial(String),
    /// The whole utterance's text: the last item of a transcription that succeeded.
    Final(Transcript),
}

/// Audio to text.
#[async_trait]
pub trait SpeechToText: Send + Sync {
    /// Transcribes one utterance of 8 kHz mono PCM. `language` is ISO-639-1 (`he`).
    async fn transcribe(
        &self,
        pcm16_8k: &[i16],
        language: &str,
    ) -> Result<Transcript, ProviderError>;

    /// The same, streamed where the provider streams: partial text as it arrives, then
    /// [`SttEvent::Final`]. A stream that ends without `Final` has failed. By default the
    /// whole-utterance [`transcribe`](Self::transcribe) as a single `Final`.
    async fn transcribe_stream(
        &self,
        pcm16_8k: &[i16],
        language: &str,
    ) -> Result<BoxStream<'static, Result<SttEvent, ProviderError>>, ProviderError> {
        let transcript = self.transcribe(pcm16_8k, language).await?;
        Ok(futures::stream::once(async move { Ok(SttEvent::Final(transcript)) }).boxed())
    }

    /// Short name for logs and `/readyz` (`openai`, `google`, ...).
    fn name(&self) -> &'static str;

    /// The same recogniser listening while the caller speaks, when it can
    /// ([`StreamingStt`]); whole utterances go through [`transcribe`](Self::transcribe)
    /// when it cannot, or when its stream fails. By default `None`.
    fn streaming(&self) -> Option<&dyn StreamingStt> {
        None
    }
}

/// Speech-to-text that listens while the caller speaks: the caller's frames go to the
/// recogniser as they arrive, and the end of the turn only commits what it already has,
/// so the transcript is ready moments after the caller stops instead of after an upload.
pub trait StreamingStt: Send + Sync {
    /// Starts listening for one call (connecting in the background: frames pushed before
    /// the connection is up wait for it). `language` is ISO-639-1 (`he`).
    fn open(&self, language: &str) -> Box<dyn SttStream>;
    /// Short name for logs (`openai-realtime`, ...).
    fn name(&self) -> &'static str;
}

/// One call's open recogniser. Nothing here blocks the turn loop.
pub trait SttStream: Send {
    /// Adds one frame of the caller's 8 kHz mu-law to the utterance being heard.
    fn push(&mut self, mulaw: &[u8]);
    /// Ends the utterance; its transcript arrives on the receiver, or an error (or a
    /// dropped sender) if the recogniser could not give one. `None`: the stream is broken
    /// (the caller's audio must be transcribed another way).
    fn commit(
        &mut self,
    ) -> Option<tokio::sync::oneshot::Receiver<Result<Transcript, ProviderError>>>;
    /// Drops what was pushed since the last commit (it was not an utterance after all).
    fn clear(&mut self);
    /// Whether the stream can still take audio: false once its connection failed.
    fn is_alive(&self) -> bool;
}

/// A piece of synthesized speech, at the provider's own rate (resampled downstream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioChunk {
    pub pcm: Vec<i16>,
    pub sample_rate: u32,
}

/// Text to a stream of audio, so the first audio can go out before the whole sentence
/// has been synthesized.
#[async_trait]
pub trait TextToSpeech: Send + Sync {
    async fn synthesize(
        &self,
        text: &str,
    ) -> Result<BoxStream<'static, Result<AudioChunk, ProviderError>>, ProviderError>;
    fn name(&self) -> &'static str;
    /// The engine and voice that speak (`openai:gpt-4o-mini-tts:alloy`), so audio cached from one
    /// voice is never served as another's. By default the engine's name.
    fn voice_id(&self) -> String {
        self.name().to_string()
    }
}

/// Who said a line of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Caller,
    Agent,
}

/// What the agent knows about the business and the call so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentContext {
    pub business_name: String,
    /// The business's greeting; empty means a default one.
    pub greeting: String,
    /// Intake questions; empty means the scripted agent's defaults.
    pub questions: Vec<String>,
    /// Extra instructions and knowledge for an LLM agent.
    pub system_prompt: Option<String>,
    /// The conversation so far, oldest first. Agent lines hold what the caller heard.
    pub history: Vec<(Role, String)>,
    pub caller_number: Option<String>,
    /// Where the business takes transferred calls; `None`: calls are not transferred, and a
    /// request for a person becomes a request to be called back.
    pub transfer_number: Option<String>,
    /// The business's opening hours as stored (JSON or free text), for an LLM agent.
    pub business_hours: Option<String>,
    /// `Some` when the business placed the call (V4): the other party did not call us, so
    /// the agent opens with who is calling and why, and follows the outbound instructions.
    /// `caller_number` is then the number called.
    #[serde(default)]
    pub outbound: Option<Outbound>,
    /// Functions the server answers during the conversation (the appointment book),
    /// declared to the model beside the built-in tools; `None`: only those.
    #[serde(skip)]
    pub tool_host: Option<std::sync::Arc<dyn crate::tool_host::ToolHost>>,
}

/// A call the business placed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbound {
    /// Why the business calls, as the CRM's request gave it; `None` when not given.
    pub purpose: Option<String>,
}

/// The opening of a call the business placed: who is calling, and why when known.
pub fn outbound_opening(business_name: &str, purpose: Option<&str>) -> String {
    let name = business_name.trim();
    let who = if name.is_empty() {
        "שלום, מדברים מהעסק שפנית אליו.".to_string()
    } else {
        format!("שלום, מדברים מ{name}.")
    };
    match purpose.map(str::trim).filter(|p| !p.is_empty()) {
        Some(why) => {
            let why = why.trim_end_matches(['.', '!', '?', ' ']);
            format!("{who} אנחנו מתקשרים בעניין: {why}.")
        }
        None => who,
    }
}

/// Something the agent asks the call to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentAction {
    /// Say goodbye and hang up.
    EndCall,
    /// Transfer the call to a phone number.
    Transfer { number: String },
    /// Store what the caller told us (fields absent when not understood, e.g. no STT).
    SaveDetails {
        name: Option<String>,
        reason: Option<String>,
        callback_time: Option<String>,
        urgency: Option<String>,
    },
    /// The caller asked to be called back at a time.
    CallBack { when: String },
}

/// One item of an agent's streamed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// The next piece (delta) of the spoken reply.
    Text(String),
    Action(AgentAction),
    /// A function the model called and what it returned to the model, for the turn's
    /// record (its action, if any, comes as [`AgentEvent::Action`] before it).
    Tool(crate::session::ToolCall),
}

/// The business's side of the conversation.
#[async_trait]
pub trait Agent: Send + Sync {
    /// Streams the reply to what the caller just said (`""` when there is no STT).
    async fn reply(
        &self,
        ctx: &AgentContext,
        caller_said: &str,
    ) -> Result<BoxStream<'static, Result<AgentEvent, ProviderError>>, ProviderError>;
    /// The first thing the caller hears.
    fn greeting(&self, ctx: &AgentContext) -> String;
    fn name(&self) -> &'static str;
    /// The model behind an LLM agent (for `/readyz`); `None` for a scripted one.
    fn model(&self) -> Option<&str> {
        None
    }
}

/// The greeting used when the business has not written one.
pub fn default_greeting(business_name: &str) -> String {
    let name = business_name.trim();
    if name.is_empty() {
        "שלום, תודה שהתקשרתם.".to_string()
    } else {
        format!("שלום, הגעתם ל{name}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_error_keeps_a_short_excerpt() {
        let e = ProviderError::http(500, &"x".repeat(1000));
        let ProviderError::Http {
            status,
            body_excerpt,
        } = e
        else {
            panic!()
        };
        assert_eq!(status, 500);
        assert!(body_excerpt.chars().count() <= 301);
    }

    #[test]
    fn actions_serialize_with_a_type_tag() {
        let a = AgentAction::Transfer {
            number: "+972501234567".into(),
        };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["type"], "transfer");
        assert_eq!(v["number"], "+972501234567");
    }

    struct Fixed;

    #[async_trait]
    impl SpeechToText for Fixed {
        async fn transcribe(
            &self,
            pcm: &[i16],
            language: &str,
        ) -> Result<Transcript, ProviderError> {
            Ok(Transcript {
                text: format!("{} {language}", pcm.len()),
                confidence: Some(0.5),
            })
        }
        fn name(&self) -> &'static str {
            "fixed"
        }
    }

    #[tokio::test]
    async fn a_provider_that_does_not_stream_yields_one_final_transcript() {
        let items: Vec<_> = Fixed
            .transcribe_stream(&[0; 3], "he")
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(
            items,
            vec![Ok(SttEvent::Final(Transcript {
                text: "3 he".into(),
                confidence: Some(0.5),
            }))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_timeout_maps_elapsed_to_timeout() {
        let r: Result<(), _> = with_timeout(Duration::from_secs(1), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
        assert_eq!(r, Err(ProviderError::Timeout));
    }
}
