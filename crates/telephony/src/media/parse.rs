//! Parsing Media Streams frames, telling an unknown event apart from garbage.
//!
//! The server logs and skips an event type Twilio added after this code was
//! written, but a frame it cannot read at all is a protocol error; the simulator
//! needs the same distinction to report Twilio's error 31924.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::inbound::StreamEvent;
use super::outbound::ServerMessage;

/// Why a Media Streams frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaParseError {
    /// Well-formed JSON whose `event` this crate does not know.
    #[error("unknown media stream event {0:?}")]
    UnknownEvent(String),
    /// Not JSON, no `event`, or a known event with the wrong shape.
    #[error("malformed media stream message: {0}")]
    Malformed(String),
}

const STREAM_EVENTS: &[&str] = &["connected", "start", "media", "dtmf", "mark", "stop"];
const SERVER_EVENTS: &[&str] = &["media", "mark", "clear"];

/// Parses a frame Twilio sent to the server.
pub fn parse_event(text: &str) -> Result<StreamEvent, MediaParseError> {
    let value = tagged(text, STREAM_EVENTS)?;
    serde_json::from_value(value).map_err(|e| MediaParseError::Malformed(e.to_string()))
}

/// Parses a frame the server sent to Twilio, as strictly as Twilio does:
/// required fields must be present and media payloads must be valid base64.
pub fn parse_server_message(text: &str) -> Result<ServerMessage, MediaParseError> {
    let value = tagged(text, SERVER_EVENTS)?;
    let msg: ServerMessage =
        serde_json::from_value(value).map_err(|e| MediaParseError::Malformed(e.to_string()))?;
    if msg.stream_sid().is_empty() {
        return Err(MediaParseError::Malformed("empty streamSid".into()));
    }
    if let ServerMessage::Media { media, .. } = &msg {
        media
            .decode()
            .map_err(|e| MediaParseError::Malformed(format!("media.payload is not base64: {e}")))?;
    }
    Ok(msg)
}

/// Parses `text` as a JSON object and checks its `event` is one of `known`.
fn tagged(text: &str, known: &[&str]) -> Result<Value, MediaParseError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| MediaParseError::Malformed(e.to_string()))?;
    let event = match value.get("event") {
        Some(Value::String(event)) => event,
        Some(_) => return Err(MediaParseError::Malformed("`event` is not a string".into())),
        None => return Err(MediaParseError::Malformed("no `event` field".into())),
    };
    if !known.contains(&event.as_str()) {
        return Err(MediaParseError::UnknownEvent(event.clone()));
    }
    Ok(value)
}

/// Accepts `"12"`, `12` or `null` (as empty) for fields Twilio sends as strings.
pub(super) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, got {other}"
        ))),
    }
}
