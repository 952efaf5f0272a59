//! The handful of Twilio REST calls mokdan makes, on plain reqwest.
//!
//! The `twilio*` crates are stale, and we need only a few endpoints: place a call,
//! redirect a live call to fallback TwiML, fetch a call, list and download its
//! recordings, and send a message. The base URL is configurable so the simulator
//! can stand in for `api.twilio.com` in tests and benchmarks.

mod client;
mod config;
mod error;
mod resources;

pub use client::TwilioClient;
pub use config::RestConfig;
pub use error::TwilioError;
pub use resources::{
    CallResource, CreateCall, CreateMessage, MessageResource, RecordingResource, UpdateOutcome,
};
