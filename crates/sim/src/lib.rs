//! A local Twilio. Nobody can ring a real Twilio number from a laptop or a CI runner,
//! and most people trying mokdan have no Twilio account, so this crate plays Twilio's
//! side of every protocol mokdan speaks — signed voice webhooks, TwiML execution, the
//! bidirectional Media Stream, status callbacks and the REST API — over real HTTP and
//! WebSocket, and reports every deviation from what real Twilio would accept with
//! Twilio's own error code. Integration tests, benchmarks and `mokdan sim call` use it.
#![forbid(unsafe_code)]

mod call;
mod config;
mod ear;
mod error;
mod launch;
mod journal;
mod mouth;
mod report;
mod rest;
mod script;
mod sid;
mod sim;
mod state;
mod time_fmt;
mod utterance;
mod webhook;

pub use config::SimConfig;
pub use error::{ProtocolError, codes};
pub use report::{CallReport, RecordingInfo, TimelineEntry, TimelineKind};
pub use script::{CallerScript, Step};
pub use sim::{CallHandle, CallSpec, Sim};
pub use state::{CallInfo, MessageInfo, RestRequest};
pub use utterance::{speak_hebrew, wav_to_mulaw};
