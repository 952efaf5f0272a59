//! Reading `{"event": "...", ...}` messages in one pass.
//!
//! serde's internally tagged enums buffer every message into an intermediate tree before
//! they know which variant it is, and the old parser built a `serde_json::Value` first to
//! tell unknown events from garbage: two allocating passes over every 20 ms frame of every
//! call. Twilio writes `event` first, so here the tag is read, checked against the known
//! events, and the rest of the object is handed straight to the variant's own fields. A
//! message whose `event` comes later still parses, in a second pass that knows the tag.
//!
//! The variants come from an externally tagged "wire" enum (`#[derive(Deserialize)]`, no
//! `tag`), which is fed the event name as its variant and the remaining fields as its body.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, IntoDeserializer, MapAccess,
    VariantAccess, Visitor,
};
use serde::{Deserialize, forward_to_deserialize_any};

use super::parse::MediaParseError;

/// Parses `text` as a message of one of the `known` events into `T` (a wire enum whose
/// variants are those events).
pub(super) fn parse<'de, T: Deserialize<'de>>(
    text: &'de str,
    known: &'static [&'static str],
) -> Result<T, MediaParseError> {
    let first = FirstPass::<T> {
        known,
        t: PhantomData,
    };
    match read(text, first) {
        Ok(Outcome::Parsed(t)) => Ok(t),
        Ok(Outcome::Unknown(event)) => Err(MediaParseError::UnknownEvent(event)),
        Ok(Outcome::EventNotFirst) => {
            let probe: Probe<'_> = serde_json::from_str(text).map_err(malformed)?;
            let event = match probe.event {
                Some(Tag::Str(s)) => s,
                Some(Tag::Other(IgnoredAny)) => {
                    return Err(MediaParseError::Malformed("`event` is not a string".into()));
                }
                None => return Err(MediaParseError::Malformed("no `event` field".into())),
            };
            if !known.contains(&event.as_ref()) {
                return Err(MediaParseError::UnknownEvent(event.into_owned()));
            }
            match read(
                text,
                SecondPass::<T> {
                    event: &event,
                    t: PhantomData,
                },
            )? {
                Outcome::Parsed(t) => Ok(t),
                _ => unreachable!("the second pass always parses or fails"),
            }
        }
        Err(e) => Err(e),
    }
}

fn malformed(e: serde_json::Error) -> MediaParseError {
    MediaParseError::Malformed(e.to_string())
}

/// Runs `visitor` over `text` as a JSON object, requiring nothing after it.
fn read<'de, V: Visitor<'de>>(text: &'de str, visitor: V) -> Result<V::Value, MediaParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = (&mut de).deserialize_map(visitor).map_err(malformed)?;
    de.end().map_err(malformed)?;
    Ok(value)
}

enum Outcome<T> {
    Parsed(T),
    Unknown(String),
    EventNotFirst,
}

/// The second pass: the event is known, every field (including `event`) goes to the body,
/// which ignores the ones it does not have.
struct SecondPass<'e, T> {
    event: &'e str,
    t: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for SecondPass<'_, T> {
    type Value = Outcome<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(TaggedBody {
            event: self.event,
            rest: map,
        })
        .map(Outcome::Parsed)
    }
}

/// A string that borrows from the input when it can.
struct Str<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The `event` value in the second pass's probe: a string, or anything else (an error).
#[derive(Deserialize)]
#[serde(untagged)]
enum Tag<'a> {
    Str(#[serde(borrow)] Cow<'a, str>),
    Other(IgnoredAny),
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow)]
    event: Option<Tag<'a>>,
}

/// Reads the first key; if it is `event`, dispatches on it without buffering.
struct FirstPass<T> {
    known: &'static [&'static str],
    t: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstPass<T> {
    type Value = Outcome<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(Str(key)) = map.next_key::<Str<'de>>()? else {
            return Err(de::Error::custom("no `event` field"));
        };
        if key != "event" {
            // Finish reading (the message must still be valid JSON), then retry knowing the tag.
            map.next_value::<IgnoredAny>()?;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Outcome::EventNotFirst);
        }
        let Str(event) = map
            .next_value::<Str<'de>>()
            .map_err(|_| de::Error::custom("`event` is not a string"))?;
        if !self.known.contains(&event.as_ref()) {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Outcome::Unknown(event.into_owned()));
        }
        T::deserialize(TaggedBody {
            event: &event,
            rest: map,
        })
        .map(Outcome::Parsed)
    }
}

/// Presents "event name + the object's remaining fields" as an externally tagged enum.
struct TaggedBody<'e, A> {
    event: &'e str,
    rest: A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for TaggedBody<'_, A> {
    type Error = A::Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, 'e, A: MapAccess<'de>> EnumAccess<'de> for TaggedBody<'e, A> {
    type Error = A::Error;
    type Variant = Body<A>;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Body<A>), A::Error> {
        let name: de::value::StrDeserializer<'e, A::Error> = self.event.into_deserializer();
        Ok((seed.deserialize(name)?, Body(self.rest)))
    }
}

/// The object's fields other than `event`, as the body of the variant.
struct Body<A>(A);

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for Body<A> {
    type Error = A::Error;
    fn unit_variant(mut self) -> Result<(), A::Error> {
        while self.0.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        seed.deserialize(MapAccessDeserializer::new(self.0))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _v: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("tuple variants are not messages"))
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }
}
