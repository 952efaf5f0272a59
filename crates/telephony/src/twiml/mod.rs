//! TwiML: the XML documents that tell Twilio what to do with a call.
//!
//! The server answers every voice webhook with TwiML (stream the call to us, or
//! fall back to a recording), and the simulator parses that TwiML to play the
//! part of Twilio. Both go through this one typed model so they cannot drift.

mod parse;
mod verbs;
mod write;

pub use parse::{TwimlError, parse};
pub use verbs::{
    Connect, Dial, Gather, Pause, Play, Record, Recording, Redirect, Response, Say, Start, Stream,
    Verb,
};

#[cfg(test)]
mod tests;
