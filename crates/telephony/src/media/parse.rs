//! Parsing Media Streams frames, telling an unknown event apart from garbage.
//!
//! The server logs and skips an event type Twilio added after this code was
//! written, but a frame it cannot read at all is a protocol error; the simulator
//! needs the same distinction to report Twilio's error 31924.
//!
//! A call sends 50 `media` frames a second, so reading one is a single pass over the
//! text ([`super::tagged`]) and [`parse_inbound`] borrows the frame's strings instead of
//! copying them; the rare events come out as the owned [`StreamEvent`].

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

use super::inbound::{Dtmf, MarkName, MediaPayload, StartMeta, StopMeta, StreamEvent};
use super::outbound::{OutMedia, ServerMessage};
use super::tagged;

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

/// A frame Twilio sent, as read by [`parse_inbound`]: `media` borrows from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound<'a> {
    Media(MediaFrame<'a>),
    Event(StreamEvent),
}

/// A `media` event whose strings point into the message where they can.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct MediaFields<'a> {
    #[serde(borrow)]
    pub track: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "cow_or_number")]
    pub chunk: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "cow_or_number")]
    pub timestamp: Cow<'a, str>,
    #[serde(borrow)]
    pub payload: Cow<'a, str>,
}

impl MediaFrame<'_> {
    /// The raw μ-law bytes.
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(self.media.payload.as_bytes())
    }

    pub fn into_event(self) -> StreamEvent {
        StreamEvent::Media {
            sequence_number: self.sequence_number.into_owned(),
            stream_sid: self.stream_sid.into_owned(),
            media: MediaPayload {
                track: self.media.track.into_owned(),
                chunk: self.media.chunk.into_owned(),
                timestamp: self.media.timestamp.into_owned(),
                payload: self.media.payload.into_owned(),
            },
        }
    }
}

impl Inbound<'_> {
    pub fn into_event(self) -> StreamEvent {
        match self {
            Inbound::Media(m) => m.into_event(),
            Inbound::Event(e) => e,
        }
    }
}

/// Parses a frame Twilio sent to the server.
pub fn parse_event(text: &str) -> Result<StreamEvent, MediaParseError> {
    parse_inbound(text).map(Inbound::into_event)
}

/// Parses a frame Twilio sent to the server in one pass, borrowing `media` frames.
pub fn parse_inbound(text: &str) -> Result<Inbound<'_>, MediaParseError> {
    Ok(
        match tagged::parse::<InboundWire<'_>>(text, STREAM_EVENTS)? {
            InboundWire::Media(m) => Inbound::Media(m),
            InboundWire::Connected { protocol, version } => {
                Inbound::Event(StreamEvent::Connected { protocol, version })
            }
            InboundWire::Start {
                sequence_number,
                start,
                stream_sid,
            } => Inbound::Event(StreamEvent::Start {
                sequence_number,
                start,
                stream_sid,
            }),
            InboundWire::Dtmf {
                sequence_number,
                stream_sid,
                dtmf,
            } => Inbound::Event(StreamEvent::Dtmf {
                sequence_number,
                stream_sid,
                dtmf,
            }),
            InboundWire::Mark {
                sequence_number,
                stream_sid,
                mark,
            } => Inbound::Event(StreamEvent::Mark {
                sequence_number,
                stream_sid,
                mark,
            }),
            InboundWire::Stop {
                sequence_number,
                stream_sid,
                stop,
            } => Inbound::Event(StreamEvent::Stop {
                sequence_number,
                stream_sid,
                stop,
            }),
        },
    )
}

/// Parses a frame the server sent to Twilio, as strictly as Twilio does:
/// required fields must be present and media payloads must be valid base64.
pub fn parse_server_message(text: &str) -> Result<ServerMessage, MediaParseError> {
    let msg = match tagged::parse::<ServerWire>(text, SERVER_EVENTS)? {
        ServerWire::Media { stream_sid, media } => ServerMessage::Media { stream_sid, media },
        ServerWire::Mark { stream_sid, mark } => ServerMessage::Mark { stream_sid, mark },
        ServerWire::Clear { stream_sid } => ServerMessage::Clear { stream_sid },
    };
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

/// [`StreamEvent`]'s variants, externally tagged for the one-pass reader. Field rules
/// (defaults, numbers as strings) match `StreamEvent`'s own.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum InboundWire<'a> {
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
    Media(#[serde(borrow)] MediaFrame<'a>),
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

/// [`ServerMessage`]'s variants, externally tagged for the one-pass reader; every field
/// is required, as Twilio requires it.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ServerWire {
    #[serde(rename_all = "camelCase")]
    Media { stream_sid: String, media: OutMedia },
    #[serde(rename_all = "camelCase")]
    Mark { stream_sid: String, mark: MarkName },
    #[serde(rename_all = "camelCase")]
    Clear { stream_sid: String },
}

/// Accepts `"12"`, `12` or `null` (as empty) for fields Twilio sends as strings.
pub(super) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    cow_or_number(d).map(Cow::into_owned)
}

/// [`string_or_number`], borrowing the string when it can.
fn cow_or_number<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, str>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or number")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_string()))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_string()))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Cow::Owned(
                serde_json::Number::from_f64(v).map_or_else(String::new, |n| n.to_string()),
            ))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_any(V)
}
