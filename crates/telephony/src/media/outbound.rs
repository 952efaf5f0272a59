//! Messages the server sends back to Twilio on a bidirectional stream.
//!
//! Twilio ends the stream (error 31924) on a malformed message, so these have no
//! optional parts: every field Twilio requires is required here too, and they
//! serialise to exactly the documented shapes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::inbound::MarkName;

/// One message from the server to Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ServerMessage {
    /// Audio to play to the caller.
    #[serde(rename_all = "camelCase")]
    Media { stream_sid: String, media: OutMedia },
    /// Ask Twilio to echo `mark` once the audio queued before it has played.
    #[serde(rename_all = "camelCase")]
    Mark { stream_sid: String, mark: MarkName },
    /// Drop all queued audio (the caller barged in).
    #[serde(rename_all = "camelCase")]
    Clear { stream_sid: String },
}

/// Base64 μ-law 8 kHz audio, no headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutMedia {
    pub payload: String,
}

impl OutMedia {
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(&self.payload)
    }
}

impl ServerMessage {
    /// A media message; `mulaw` is base64-encoded here.
    pub fn media(stream_sid: impl Into<String>, mulaw: &[u8]) -> Self {
        Self::Media {
            stream_sid: stream_sid.into(),
            media: OutMedia {
                payload: STANDARD.encode(mulaw),
            },
        }
    }

    pub fn mark(stream_sid: impl Into<String>, name: impl Into<String>) -> Self {
        Self::Mark {
            stream_sid: stream_sid.into(),
            mark: MarkName { name: name.into() },
        }
    }

    pub fn clear(stream_sid: impl Into<String>) -> Self {
        Self::Clear {
            stream_sid: stream_sid.into(),
        }
    }

    pub fn stream_sid(&self) -> &str {
        match self {
            Self::Media { stream_sid, .. }
            | Self::Mark { stream_sid, .. }
            | Self::Clear { stream_sid } => stream_sid,
        }
    }

    /// The message as a WebSocket text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialise")
    }
}

/// Writes one stream's `media` messages straight into their text: the part before the
/// payload is rendered (and JSON-escaped) once per stream, so each 20 ms frame costs one
/// allocation and a base64 encode instead of a message built field by field and serialised.
/// The text is exactly [`ServerMessage::media`]'s `to_json`.
#[derive(Debug, Clone)]
pub struct MediaWriter {
    prefix: String,
}

impl MediaWriter {
    pub fn new(stream_sid: &str) -> Self {
        let sid = serde_json::to_string(stream_sid).expect("a string serialises");
        Self {
            prefix: format!(r#"{{"event":"media","streamSid":{sid},"media":{{"payload":""#),
        }
    }

    /// The `media` message carrying `mulaw`.
    pub fn media(&self, mulaw: &[u8]) -> String {
        let mut text = String::with_capacity(self.prefix.len() + mulaw.len().div_ceil(3) * 4 + 3);
        text.push_str(&self.prefix);
        STANDARD.encode_string(mulaw, &mut text);
        text.push_str(r#""}}"#);
        text
    }
}
