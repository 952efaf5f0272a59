//! Messages Twilio sends to our WebSocket (`connected`, `start`, `media`, ...).
//!
//! Deserialisation is lenient, as Twilio's payloads grow fields over time and
//! omit some in edge cases: every field but the `event` tag has a default, and
//! counters are accepted as strings (Twilio's form) or as numbers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::parse::string_or_number;

/// One message from Twilio to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum StreamEvent {
    Connected {
        #[serde(default)]
        protocol: String,
        #[serde(default)]
        version: String,
    },
    #[serde(rename_all = "camelCase")]
    Start {
        #[serde(default, deserialize_with = "string_or_number")]
        sequence_number: String,
        #[serde(default)]
        start: StartMeta,
        #[serde(default)]
        stream_sid: String,
    },
    #[serde(rename_all = "camelCase")]
    Media {
        #[serde(default, deserialize_with = "string_or_number")]
        sequence_number: String,
        #[serde(default)]
        media: MediaPayload,
        #[serde(default)]
        stream_sid: String,
    },
    #[serde(rename_all = "camelCase")]
    Dtmf {
        #[serde(default, deserialize_with = "string_or_number")]
        sequence_number: String,
        #[serde(default)]
        stream_sid: String,
        #[serde(default)]
        dtmf: Dtmf,
    },
    #[serde(rename_all = "camelCase")]
    Mark {
        #[serde(default, deserialize_with = "string_or_number")]
        sequence_number: String,
        #[serde(default)]
        stream_sid: String,
        #[serde(default)]
        mark: MarkName,
    },
    #[serde(rename_all = "camelCase")]
    Stop {
        #[serde(default, deserialize_with = "string_or_number")]
        sequence_number: String,
        #[serde(default)]
        stream_sid: String,
        #[serde(default)]
        stop: StopMeta,
    },
}

/// The `start` message's metadata about the call and the stream.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StartMeta {
    pub account_sid: String,
    pub call_sid: String,
    pub stream_sid: String,
    pub tracks: Vec<String>,
    /// The `<Parameter>`s of the TwiML `<Stream>`.
    pub custom_parameters: BTreeMap<String, String>,
    pub media_format: MediaFormat,
}

impl StartMeta {
    /// Metadata as Twilio sends it for an inbound-track μ-law 8 kHz stream.
    pub fn new(
        account_sid: impl Into<String>,
        call_sid: impl Into<String>,
        stream_sid: impl Into<String>,
    ) -> Self {
        Self {
            account_sid: account_sid.into(),
            call_sid: call_sid.into(),
            stream_sid: stream_sid.into(),
            tracks: vec!["inbound".into()],
            custom_parameters: BTreeMap::new(),
            media_format: MediaFormat::default(),
        }
    }

    pub fn custom_parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.custom_parameters.insert(name.into(), value.into());
        self
    }
}

/// Audio encoding of the stream; Twilio always uses μ-law, 8 kHz, mono.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaFormat {
    pub encoding: String,
    pub sample_rate: u32,
    pub channels: u32,
}

impl Default for MediaFormat {
    fn default() -> Self {
        Self {
            encoding: "audio/x-mulaw".into(),
            sample_rate: 8000,
            channels: 1,
        }
    }
}

/// One chunk of caller audio.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaPayload {
    pub track: String,
    #[serde(deserialize_with = "string_or_number")]
    pub chunk: String,
    /// Milliseconds since the stream started.
    #[serde(deserialize_with = "string_or_number")]
    pub timestamp: String,
    /// Base64 of raw μ-law bytes.
    pub payload: String,
}

impl MediaPayload {
    /// The raw μ-law bytes.
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(&self.payload)
    }

    pub fn timestamp_ms(&self) -> Option<u64> {
        self.timestamp.parse().ok()
    }

    pub fn chunk_number(&self) -> Option<u64> {
        self.chunk.parse().ok()
    }
}

/// A key the caller pressed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Dtmf {
    pub track: String,
    pub digit: String,
}

/// A mark's label, in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MarkName {
    pub name: String,
}

/// The `stop` message's identification of the call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StopMeta {
    pub account_sid: String,
    pub call_sid: String,
}

impl StreamEvent {
    /// `{"event":"connected","protocol":"Call","version":"1.0.0"}`.
    pub fn connected() -> Self {
        Self::Connected {
            protocol: "Call".into(),
            version: "1.0.0".into(),
        }
    }

    pub fn start(sequence_number: u64, start: StartMeta) -> Self {
        Self::Start {
            sequence_number: sequence_number.to_string(),
            stream_sid: start.stream_sid.clone(),
            start,
        }
    }

    /// An inbound-track media message carrying `mulaw` (base64-encoded here).
    pub fn media(
        stream_sid: impl Into<String>,
        sequence_number: u64,
        chunk: u64,
        timestamp_ms: u64,
        mulaw: &[u8],
    ) -> Self {
        Self::Media {
            sequence_number: sequence_number.to_string(),
            stream_sid: stream_sid.into(),
            media: MediaPayload {
                track: "inbound".into(),
                chunk: chunk.to_string(),
                timestamp: timestamp_ms.to_string(),
                payload: STANDARD.encode(mulaw),
            },
        }
    }

    pub fn dtmf(
        stream_sid: impl Into<String>,
        sequence_number: u64,
        digit: impl Into<String>,
    ) -> Self {
        Self::Dtmf {
            sequence_number: sequence_number.to_string(),
            stream_sid: stream_sid.into(),
            dtmf: Dtmf {
                track: "inbound_track".into(),
                digit: digit.into(),
            },
        }
    }

    /// Twilio's echo of a mark the server sent, once the audio before it played.
    pub fn mark(
        stream_sid: impl Into<String>,
        sequence_number: u64,
        name: impl Into<String>,
    ) -> Self {
        Self::Mark {
            sequence_number: sequence_number.to_string(),
            stream_sid: stream_sid.into(),
            mark: MarkName { name: name.into() },
        }
    }

    pub fn stop(
        stream_sid: impl Into<String>,
        sequence_number: u64,
        account_sid: impl Into<String>,
        call_sid: impl Into<String>,
    ) -> Self {
        Self::Stop {
            sequence_number: sequence_number.to_string(),
            stream_sid: stream_sid.into(),
            stop: StopMeta {
                account_sid: account_sid.into(),
                call_sid: call_sid.into(),
            },
        }
    }

    /// The stream this message belongs to (`connected` names none).
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            Self::Connected { .. } => None,
            Self::Start { stream_sid, .. }
            | Self::Media { stream_sid, .. }
            | Self::Dtmf { stream_sid, .. }
            | Self::Mark { stream_sid, .. }
            | Self::Stop { stream_sid, .. } => Some(stream_sid),
        }
    }

    /// The message's `sequenceNumber`, when present and numeric.
    pub fn sequence_number(&self) -> Option<u64> {
        match self {
            Self::Connected { .. } => None,
            Self::Start {
                sequence_number, ..
            }
            | Self::Media {
                sequence_number, ..
            }
            | Self::Dtmf {
                sequence_number, ..
            }
            | Self::Mark {
                sequence_number, ..
            }
            | Self::Stop {
                sequence_number, ..
            } => sequence_number.parse().ok(),
        }
    }

    /// The message as Twilio would send it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("stream events always serialise")
    }
}
