//! Parsing Media Streams frames, telling an unknown event apart from garbage.
//!
//! The server logs and skips an event type Twilio added after this code was
//! written, but a frame it cannot read at all is a protocol error; the simulator
//! needs the same distinction to report Twilio's error 31924.
//!
//! A call sends 50 `media` frames a second, so reading one is a single pass over the
//! text ([`super::tagged`]) and [`parse_inbound`] borrows the frame's strings instead of
//! copying them; [`parse_event`] gives the same event detached from the text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::inbound::{MarkName, StreamEvent};
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

/// Parses a frame Twilio sent to the server, detached from the text.
pub fn parse_event(text: &str) -> Result<StreamEvent<'static>, MediaParseError> {
    parse_inbound(text).map(StreamEvent::into_owned)
}

/// Parses a frame Twilio sent to the server in one pass; a `media` frame borrows its
/// strings from `text`.
pub fn parse_inbound(text: &str) -> Result<StreamEvent<'_>, MediaParseError> {
    tagged::parse::<Wire<'_>>(text, STREAM_EVENTS).map(|Wire(event)| event)
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

/// A [`StreamEvent`] as the one-pass reader sees it: the event name as the variant of an
/// externally tagged enum, the rest of the object as the body of that variant's frame.
struct Wire<'a>(StreamEvent<'a>);

/// The event names of [`StreamEvent`], read without allocating.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Name {
    Connected,
    Start,
    Media,
    Dtmf,
    Mark,
    Stop,
}

impl<'de: 'a, 'a> Deserialize<'de> for Wire<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Wire<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Media Streams event")
            }
            fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Wire<'a>, A::Error> {
                let (event, body) = data.variant()?;
                Ok(Wire(match event {
                    Name::Connected => StreamEvent::Connected(body.newtype_variant()?),
                    Name::Start => StreamEvent::Start(body.newtype_variant()?),
                    Name::Media => StreamEvent::Media(body.newtype_variant()?),
                    Name::Dtmf => StreamEvent::Dtmf(body.newtype_variant()?),
                    Name::Mark => StreamEvent::Mark(body.newtype_variant()?),
                    Name::Stop => StreamEvent::Stop(body.newtype_variant()?),
                }))
            }
        }
        d.deserialize_enum("StreamEvent", STREAM_EVENTS, V(std::marker::PhantomData))
    }
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
pub(super) fn cow_or_number<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Cow<'a, str>, D::Error> {
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
