//! The turn loop of a live call. The server feeds it the caller's 20 ms mu-law frames,
//! DTMF, playback confirmations (from Twilio marks) and hang-up; it answers with audio to
//! play, marks to place, `clear` on barge-in, per-turn records with timings, the agent's
//! actions, and how the call should end (goodbye, or the recording fallback).
//!
//! A sound whose transcript holds no word (a cough, a door) is never an answer: the agent
//! is not asked, nothing is recorded, and the session keeps listening. Only when it happens
//! twice running, or when such a sound cut the agent off mid-sentence (the caller heard it
//! stop), does the caller hear [`NOT_HEARD`], which leaves the question open.
//!
//! It knows nothing of WebSockets or Twilio's JSON, so it runs the same under the server,
//! the simulator, benchmarks and tests.

pub(crate) mod cache;
mod encode;
pub mod endpoint;
mod hear;
mod pipeline;
mod run;
mod sentences;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::provider::{Agent, AgentAction, AgentContext, SpeechToText, TextToSpeech};

pub use cache::is_cached;
pub use encode::MulawEncoder;
pub use pipeline::HANDOFF_AHEAD;
pub use sentences::SentenceSplitter;

/// Said before retrying after a provider failed.
pub const APOLOGY: &str = "סליחה, יש לי תקלה קטנה. רגע אחד.";
/// Said when the caller has been silent for `silence_prompt_after`.
pub const SILENCE_PROMPT: &str = "הלו? אני עדיין כאן. אפשר לדבר.";
/// Said after the agent ends the call.
pub const GOODBYE: &str = "להתראות ויום טוב.";
/// Said when the caller's sound held no word twice running, or right after such a sound
/// cut the agent off: the caller hears that they were not understood, and the question
/// stays open.
pub const NOT_HEARD: &str = "סליחה, לא שמעתי. אפשר לחזור על זה?";
/// Said before hanging up on a silent caller.
pub const SILENCE_GOODBYE: &str = "לא שמעתי תשובה. תודה שהתקשרתם, להתראות.";

/// Timing of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// End-of-turn and barge-in detection.
    pub turn: audio::TurnConfig,
    /// Silence before the caller is prompted, counted from when the caller heard the end
    /// of our last turn (its mark came back; without marks, its estimated end of playback)
    /// or stopped speaking.
    pub silence_prompt_after: Duration,
    /// Silence (from the same moment; the prompt does not restart it) before a goodbye and
    /// the end of the call.
    pub silence_hangup_after: Duration,
    /// Longest wait for any provider step (transcript, each agent event, each audio chunk).
    pub provider_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            turn: audio::TurnConfig::default(),
            silence_prompt_after: Duration::from_secs(8),
            silence_hangup_after: Duration::from_secs(20),
            provider_timeout: Duration::from_secs(6),
        }
    }
}

/// The providers a call uses. The caller's answers are kept as audio (in
/// [`TurnRecord::caller_audio`]) in any case: with no speech-to-text for offline
/// transcription, and always so the owner can listen to each answer.
#[derive(Clone)]
pub struct Providers {
    pub stt: Option<Arc<dyn SpeechToText>>,
    pub tts: Arc<dyn TextToSpeech>,
    pub agent: Arc<dyn Agent>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("stt", &self.stt.as_ref().map(|s| s.name()))
            .field("tts", &self.tts.name())
            .field("agent", &self.agent.name())
            .finish()
    }
}

/// What the server tells the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionInput {
    /// One 20 ms frame of the caller's mu-law audio (a Twilio `media` payload).
    Audio(Vec<u8>),
    /// A key the caller pressed.
    Dtmf(char),
    /// Playback is confirmed up to the end of this utterance (its mark came back).
    Played { utterance: u64 },
    /// The call is over.
    Hangup,
}

/// What the session asks of the server.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOutput {
    /// Audio to queue for the caller: 8 kHz mu-law, a whole number of 160-byte frames.
    /// Fixed phrases arrive as slices of the shared cached rendering, handed over as they
    /// play (at most [`HANDOFF_AHEAD`] early), never copied per call.
    Audio { utterance: u64, mulaw: Bytes },
    /// The utterance's audio is all sent: place a mark and report it back as `Played`.
    UtteranceEnd { utterance: u64 },
    /// Barge-in: drop all queued audio now (Twilio `clear`). Marks for audio that was
    /// queued at this point and come back later are not counted as heard.
    Clear,
    /// A finished turn, for the call log and metrics.
    Turn(TurnRecord),
    /// The agent asked for something (saved details, a transfer, a call-back, ...).
    /// `EndCall` is reported for the record; the session itself says goodbye and then
    /// sends `End`.
    Action(AgentAction),
    /// Send the caller to the recording fallback. The session is over.
    Fallback { reason: String },
    /// Hang up once the queued audio has played. The session is over.
    End { reason: String },
    /// Transfer the call to `number` (the business's transfer number, never one the agent
    /// made up): the agent's last words were heard. The session is over.
    Transfer { number: String },
}

/// One exchange: what the caller said and what the agent said and was heard, with the
/// latency of each step. Times are milliseconds from the end of the caller's speech
/// (for the greeting and prompts, from when the session decided to speak).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnRecord {
    pub caller_text: String,
    pub agent_text: String,
    /// What was confirmed played before any barge-in.
    pub heard_text: String,
    pub barged_in: bool,
    pub stt_ms: Option<u32>,
    pub llm_first_token_ms: Option<u32>,
    pub tts_first_audio_ms: Option<u32>,
    pub first_frame_out_ms: Option<u32>,
    /// When the session decided the caller was barging in (and sent `Clear` at once):
    /// nothing of this turn is handed over after it.
    pub barge_in_ms: Option<u32>,
    /// The caller's audio (8 kHz PCM) of a reply turn, with or without speech-to-text.
    pub caller_audio: Option<Vec<i16>>,
    /// The functions the model called in this turn, with what each returned to it.
    pub tools: Vec<ToolCall>,
}

/// One function call of a turn and its result.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    pub name: String,
    /// The arguments as the model sent them (JSON text).
    pub arguments: String,
    /// What mokdan returned to the model (JSON text).
    pub output: String,
    pub ok: bool,
}

/// The server's ends of a running session.
#[derive(Debug)]
pub struct SessionHandle {
    pub input: mpsc::Sender<SessionInput>,
    pub output: mpsc::Receiver<SessionOutput>,
}

/// Capacity of the input and output channels (frames are 20 ms: ~5 s of input).
const CHANNEL: usize = 256;

/// Starts a session: the greeting starts at once. Dropping `input` hangs up.
pub fn spawn(cfg: SessionConfig, providers: Providers, ctx: AgentContext) -> SessionHandle {
    let (in_tx, in_rx) = mpsc::channel(CHANNEL);
    let (out_tx, out_rx) = mpsc::channel(CHANNEL);
    tokio::spawn(run::Session::new(cfg, providers, ctx, out_tx).run(in_rx));
    SessionHandle {
        input: in_tx,
        output: out_rx,
    }
}

/// Renders this business's greeting and the session's fixed phrases into the
/// process-wide cache, so the first call starts speaking at once. Failures are ignored
/// (the session falls back on its own).
pub async fn prewarm(providers: &Providers, ctx: &AgentContext, timeout: Duration) {
    let greeting = providers.agent.greeting(ctx);
    for text in [
        greeting.as_str(),
        APOLOGY,
        SILENCE_PROMPT,
        NOT_HEARD,
        GOODBYE,
        SILENCE_GOODBYE,
    ] {
        if let Err(e) = cache::phrase(providers.tts.as_ref(), text, timeout).await {
            tracing::warn!(error = %e, "could not prewarm a phrase");
        }
    }
}
