//! Phone calls: the Twilio voice webhooks, the TwiML we answer, and outbound calls.
//!
//! This is the HTTP half of a call (V1–V4, V11, V12, S1). Each webhook verifies Twilio's
//! signature, writes what it learned to the call log idempotently, and answers at once;
//! any internal failure still answers safe TwiML so the caller is never left in silence.

pub mod actions;
pub mod conversation;
pub mod media;
pub mod outbound;
pub mod policy;
pub mod post_call;
pub mod routes;
pub mod state;
pub mod token;
pub mod twiml;
pub mod watchdog;
