//! Speech-to-speech calls over OpenAI's Realtime API (GA events), behind the same session
//! contract as the cascade ([`crate::session`]): the server feeds [`SessionInput`]s and
//! plays [`SessionOutput`]s, and does not know which engine speaks.
//!
//! Why a second engine: the cascade waits for the end of the caller's turn, uploads it to
//! speech-to-text, then streams the LLM into text-to-speech, about two seconds before the
//! first word back. The Realtime model hears Twilio's mu-law as is (`audio/pcmu`), detects
//! turns itself and answers in the same mu-law, so the caller hears the model's bytes.
//!
//! - [`connect`]: the WebSocket handshake (key in `Authorization`, model in `?model=`), and
//!   the readiness probe that reports a refused key before any call.
//! - [`events`]: the client events mokdan sends, built to OpenAI's published schema.
//! - [`tools`]: the agent's actions as functions whose results go back to the model.
//! - [`call`]: one call's loop: greeting, audio both ways, barge-in with truncation at
//!   what the caller heard (from Twilio's marks), turns with timings, and failures that
//!   end in the apology and the recording fallback, never in silence.
//! - [`clock`]: today's date and time in Israel for the instructions.
//! - `silence`: a silent caller is prompted, then told goodbye, as in the cascade.
//! - `turn`: a turn as it is stored, cut at what the caller heard.
//! - [`transcribe`]: the cascade's streaming recogniser, a transcription session that hears
//!   the caller while they speak.

mod call;
pub mod clock;
pub mod connect;
pub mod events;
mod silence;
pub mod tools;
pub mod transcribe;
mod turn;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::provider::AgentContext;
use crate::session::{Providers, SessionHandle};

pub use connect::{ProbeState, probe};
pub use transcribe::{RealtimeStt, TranscriptionConfig};

/// OpenAI's Realtime endpoint.
pub const DEFAULT_URL: &str = "wss://api.openai.com/v1/realtime";
/// The transcription model for the caller's turns (stored as text).
pub const TRANSCRIPTION_MODEL: &str = "gpt-4o-transcribe";
/// How long the socket may take to open before the call falls back.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Who decides that the caller finished a turn (`MOKDAN_TURN_DETECTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TurnDetection {
    /// The model judges from what was said whether the caller is done (the default).
    #[default]
    SemanticVad,
    /// Silence after speech ends the turn.
    ServerVad,
}

impl TurnDetection {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnDetection::SemanticVad => "semantic_vad",
            TurnDetection::ServerVad => "server_vad",
        }
    }
}

/// How to reach the Realtime service.
#[derive(Clone)]
pub struct RealtimeConfig {
    /// `OPENAI_REALTIME_URL` (the model is added as `?model=`).
    pub url: String,
    /// `OPENAI_REALTIME_MODEL`.
    pub model: String,
    /// `OPENAI_API_KEY`.
    pub api_key: String,
    /// `OPENAI_REALTIME_VOICE`; `None`: the service's default.
    pub voice: Option<String>,
    pub turn_detection: TurnDetection,
    pub connect_timeout: Duration,
    /// Caller silence before the prompt, and before the goodbye (as the cascade's).
    pub silence_prompt_after: Duration,
    pub silence_hangup_after: Duration,
}

impl std::fmt::Debug for RealtimeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("RealtimeConfig")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("voice", &self.voice)
            .field("turn_detection", &self.turn_detection)
            .finish()
    }
}

impl RealtimeConfig {
    pub fn new(model: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            url: DEFAULT_URL.to_string(),
            model: model.into(),
            api_key: api_key.into(),
            voice: None,
            turn_detection: TurnDetection::default(),
            connect_timeout: CONNECT_TIMEOUT,
            silence_prompt_after: crate::session::SessionConfig::default().silence_prompt_after,
            silence_hangup_after: crate::session::SessionConfig::default().silence_hangup_after,
        }
    }
}

/// Capacity of the session's channels (as the cascade's).
const CHANNEL: usize = 256;

/// Starts a Realtime session for a call: the cached greeting plays at once while the
/// socket opens. `providers` give the greeting's text (the agent) and the cached voice of
/// the greeting and the apology (the text-to-speech). Dropping `input` hangs up.
pub fn spawn(cfg: Arc<RealtimeConfig>, providers: Providers, ctx: AgentContext) -> SessionHandle {
    let (in_tx, in_rx) = mpsc::channel(CHANNEL);
    let (out_tx, out_rx) = mpsc::channel(CHANNEL);
    tokio::spawn(call::run(cfg, providers, ctx, out_tx, in_rx));
    SessionHandle {
        input: in_tx,
        output: out_rx,
    }
}
