//! A local Twilio. Nobody can ring a real Twilio number from a laptop or a CI runner,
//! and most people trying mokdan have no Twilio account, so this crate plays Twilio's
//! side of every protocol mokdan speaks — signed voice webhooks, TwiML execution, the
//! bidirectional Media Stream, status callbacks and the REST API — over real HTTP and
//! WebSocket, and reports every deviation from what real Twilio would accept with
//! Twilio's own error code. Integration tests, benchmarks and `mokdan sim call` use it.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use sim::{CallSpec, CallerScript, Sim, SimConfig};
//!
//! // The fake Twilio; point the server's TWILIO_API_BASE at `sim.api_base()`.
//! let sim = Sim::start(SimConfig::new("AC0123456789abcdef0123456789abcdef", "token")).await?;
//! let caller = CallerScript::new()
//!     .wait_for_agent(Duration::from_secs(10)) // let the agent greet
//!     .say("שלום, אני רוצה לקבוע תור")
//!     .wait_for_agent(Duration::from_secs(10))
//!     .hang_up();
//! let report = sim
//!     .call(CallSpec::new("http://127.0.0.1:8080", "+97231234567", "+972541112222", caller))
//!     .await?;
//! println!("{}", report.print_timeline());
//! assert!(report.protocol_errors.is_empty());
//! std::fs::write("heard.wav", report.heard_wav())?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod call;
mod config;
mod ear;
mod error;
mod journal;
mod launch;
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
pub use utterance::{speak, speak_hebrew, wav_to_mulaw};
