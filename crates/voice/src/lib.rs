//! The live Hebrew conversation of a mokdan call, kept apart from the server so that the
//! providers (speech-to-text, text-to-speech, the agent) and the turn loop that drives them
//! can be built, tested and benchmarked without HTTP routing, a database or Twilio.
//!
//! - [`provider`]: the traits every provider implements, and their shared error.
//! - [`tts`]: local text-to-speech with espeak-ng (the default with no keys).
//! - [`openai`], [`google`]: cloud providers over their published HTTP APIs.
//! - [`agent`]: the scripted intake agent (the default with no LLM).
//! - [`session`]: the turn loop: frames in, audio and events out, with barge-in.
//! - [`realtime`]: the same session contract, speech-to-speech over OpenAI's Realtime API.
//! - [`tool_host`]: functions the server answers during the conversation (appointments).
#![forbid(unsafe_code)]

pub mod tts;

pub use tts::{TtsError, to_twilio_wav};
pub mod provider;

pub use provider::{
    Agent, AgentAction, AgentContext, AgentEvent, AudioChunk, ProviderError, Role, SpeechToText,
    SttEvent, TextToSpeech, Transcript,
};
pub mod agent;
pub mod google;
mod http;
pub mod openai;
pub mod realtime;
pub mod session;
pub mod tool_host;
