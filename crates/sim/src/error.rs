//! Protocol errors, named by the codes Twilio's debugger would show.
//!
//! The point of the sim is to fail where Twilio would fail: each deviation is recorded
//! with Twilio's code so a test (or a person reading the timeline) can look it up in
//! Twilio's error dictionary, and a clean call has none.

use serde::Serialize;

/// Twilio error codes the sim reports.
pub mod codes {
    /// A URL in TwiML is not absolute ("Invalid URL").
    pub const INVALID_URL: u32 = 11100;
    /// A webhook answered non-2xx or could not be reached ("HTTP retrieval failure").
    pub const HTTP_RETRIEVAL_FAILURE: u32 = 11200;
    /// A webhook took longer than 15 s ("HTTP connection failure"/timeout).
    pub const HTTP_TIMEOUT: u32 = 11205;
    /// The TwiML document could not be parsed.
    pub const DOCUMENT_PARSE_FAILURE: u32 = 12100;
    /// A TwiML verb Twilio does not know.
    pub const SCHEMA_VALIDATION: u32 = 12200;
    /// The webhook's Content-Type is not one Twilio can process.
    pub const INVALID_CONTENT_TYPE: u32 = 12300;
    /// `<Say>` in a language Twilio cannot speak (Hebrew).
    pub const SAY_UNSUPPORTED_LANGUAGE: u32 = 13512;
    /// The stream's WebSocket handshake failed or did not echo `audio.twilio.com`.
    pub const STREAM_HANDSHAKE: u32 = 31920;
    /// The server sent a message Twilio cannot read.
    pub const STREAM_MALFORMED_MESSAGE: u32 = 31924;
    /// The server sent a message with a wrong (or not yet known) streamSid.
    pub const STREAM_INVALID_SID: u32 = 31951;
}

/// One protocol violation seen during a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtocolError {
    pub code: u32,
    pub message: String,
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Twilio error {}: {}", self.code, self.message)
    }
}
