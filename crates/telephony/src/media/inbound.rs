//! Messages Twilio sends to our WebSocket (`connected`, `start`, `media`, ...).
//!
//! Deserialisation is lenient, as Twilio's payloads grow fields over time and
//! omit some in edge cases: every field but the `event` tag has a default, and
//! counters are accepted as strings (Twilio's form) or as numbers.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::parse::{cow_or_number, string_or_number};

/// One message from Twilio to the server: the one type for this side of the wire, read by
/// [`super::parse_inbound`] and written (`{"event": "...", ...}`) by serde.
///
/// A call sends 50 `media` frames a second, so a parsed [`MediaFrame`] borrows its strings
/// from the message where it can; [`StreamEvent::into_owned`] detaches an event from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum StreamEvent<'a> {
    Connected(ConnectedFrame),
    Start(StartFrame),
    Media(MediaFrame<'a>),
    Dtmf(DtmfFrame),
    Mark(MarkFrame),
    Stop(StopFrame),
}

/// `connected`: the socket is open, before the stream starts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectedFrame {
    pub protocol: String,
    pub version: String,
}

/// `start`: which call and stream this is, and how its audio is encoded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StartFrame {
    #[serde(deserialize_with = "string_or_number")]
    pub sequence_number: String,
    pub start: StartMeta,
    pub stream_sid: String,
}

/// `media`: 20 ms of caller audio. Its strings point into the message where they can.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFrame<'a> {
    #[serde(default, borrow, deserialize_with = "cow_or_number")]
    pub sequence_number: Cow<'a, str>,
    #[serde(default, borrow)]
    pub stream_sid: Cow<'a, str>,
    #[serde(default, borrow)]
    pub media: MediaFields<'a>,
}

/// The `media` object of a [`MediaFrame`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaFields<'a> {
    #[serde(borrow)]
    pub track: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "cow_or_number")]
    pub chunk: Cow<'a, str>,
    /// Milliseconds since the stream started.
    #[serde(borrow, deserialize_with = "cow_or_number")]
    pub timestamp: Cow<'a, str>,
    /// Base64 of raw μ-law bytes.
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

/// `dtmf`: a key the caller pressed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DtmfFrame {
    #[serde(deserialize_with = "string_or_number")]
    pub sequence_number: String,
    pub stream_sid: String,
    pub dtmf: Dtmf,
}

/// `mark`: Twilio's echo of a mark the server sent, once the audio before it played.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MarkFrame {
    #[serde(deserialize_with = "string_or_number")]
    pub sequence_number: String,
    pub stream_sid: String,
    pub mark: MarkName,
}

/// `stop`: the stream ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StopFrame {
    #[serde(deserialize_with = "string_or_number")]
    pub sequence_number: String,
    pub stream_sid: String,
    pub stop: StopMeta,
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

impl MediaFrame<'_> {
    /// The raw μ-law bytes.
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(self.media.payload.as_bytes())
    }

    pub fn timestamp_ms(&self) -> Option<u64> {
        self.media.timestamp.parse().ok()
    }

    pub fn chunk_number(&self) -> Option<u64> {
        self.media.chunk.parse().ok()
    }

    /// The frame with its strings copied out of the message.
    pub fn into_owned(self) -> MediaFrame<'static> {
        MediaFrame {
            sequence_number: Cow::Owned(self.sequence_number.into_owned()),
            stream_sid: Cow::Owned(self.stream_sid.into_owned()),
            media: MediaFields {
                track: Cow::Owned(self.media.track.into_owned()),
                chunk: Cow::Owned(self.media.chunk.into_owned()),
                timestamp: Cow::Owned(self.media.timestamp.into_owned()),
                payload: Cow::Owned(self.media.payload.into_owned()),
            },
        }
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

impl StreamEvent<'static> {
    /// `{"event":"connected","protocol":"Call","version":"1.0.0"}`.
    pub fn connected() -> Self {
        Self::Connected(ConnectedFrame {
            protocol: "Call".into(),
            version: "1.0.0".into(),
        })
    }

    pub fn start(sequence_number: u64, start: StartMeta) -> Self {
        Self::Start(StartFrame {
            sequence_number: sequence_number.to_string(),
            stream_sid: start.stream_sid.clone(),
            start,
        })
    }

    /// An inbound-track media message carrying `mulaw` (base64-encoded here).
    pub fn media(
        stream_sid: impl Into<String>,
        sequence_number: u64,
        chunk: u64,
        timestamp_ms: u64,
        mulaw: &[u8],
    ) -> Self {
        Self::Media(MediaFrame {
            sequence_number: Cow::Owned(sequence_number.to_string()),
            stream_sid: Cow::Owned(stream_sid.into()),
            media: MediaFields {
                track: Cow::Borrowed("inbound"),
                chunk: Cow::Owned(chunk.to_string()),
                timestamp: Cow::Owned(timestamp_ms.to_string()),
                payload: Cow::Owned(STANDARD.encode(mulaw)),
            },
        })
    }

    pub fn dtmf(
        stream_sid: impl Into<String>,
        sequence_number: u64,
        digit: impl Into<String>,
    ) -> Self {
        Self::Dtmf(DtmfFrame {
            sequence_number: sequence_number.to_string(),
            stream_sid: stream_sid.into(),
            dtmf: Dtmf {
                track: "inbound_track".into(),
                digit: digit.into(),
            },
        })
    }

    /// Twilio's echo of a mark the server sent, once the audio before it played.
    pub fn mark(
        stream_sid: impl Into<String>,
        sequence_number: u64,
        name: impl Into<String>,
    ) -> Self {
        Self::Mark(MarkFrame {
            sequence_number: sequence_number.to_string(),
            stream_sid: stream_sid.into(),
            mark: MarkName { name: name.into() },
        })
    }

    pub fn stop(
        stream_sid: impl Into<String>,
        sequence_number: u64,
        account_sid: impl Into<String>,
        call_sid: impl Into<String>,
    ) -> Self {
        Self::Stop(StopFrame {
            sequence_number: sequence_number.to_string(),
            stream_sid: stream_sid.into(),
            stop: StopMeta {
                account_sid: account_sid.into(),
                call_sid: call_sid.into(),
            },
        })
    }
}

impl StreamEvent<'_> {
    /// The stream this message belongs to (`connected` names none).
    pub fn stream_sid(&self) -> Option<&str> {
        match self {
            Self::Connected(_) => None,
            Self::Start(f) => Some(&f.stream_sid),
            Self::Media(f) => Some(&f.stream_sid),
            Self::Dtmf(f) => Some(&f.stream_sid),
            Self::Mark(f) => Some(&f.stream_sid),
            Self::Stop(f) => Some(&f.stream_sid),
        }
    }

    /// The message's `sequenceNumber`, when present and numeric.
    pub fn sequence_number(&self) -> Option<u64> {
        let n = match self {
            Self::Connected(_) => return None,
            Self::Start(f) => &f.sequence_number,
            Self::Media(f) => &*f.sequence_number,
            Self::Dtmf(f) => &f.sequence_number,
            Self::Mark(f) => &f.sequence_number,
            Self::Stop(f) => &f.sequence_number,
        };
        n.parse().ok()
    }

    /// The event with its strings copied out of the message it was read from.
    pub fn into_owned(self) -> StreamEvent<'static> {
        match self {
            Self::Media(f) => StreamEvent::Media(f.into_owned()),
            Self::Connected(f) => StreamEvent::Connected(f),
            Self::Start(f) => StreamEvent::Start(f),
            Self::Dtmf(f) => StreamEvent::Dtmf(f),
            Self::Mark(f) => StreamEvent::Mark(f),
            Self::Stop(f) => StreamEvent::Stop(f),
        }
    }

    /// The message as Twilio would send it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("stream events always serialise")
    }
}
