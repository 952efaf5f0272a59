//! Reads TwiML back into typed verbs.
//!
//! The call simulator has to follow whatever TwiML the server returns, and tests
//! assert on verbs rather than on strings. Parsing is lenient the way Twilio is:
//! unknown verbs become [`Verb::Unknown`] and unknown attributes are ignored, but
//! malformed XML or a number that is not a number is an error, because Twilio
//! would reject that document on a real call.

use super::verbs::{
    Connect, Dial, Gather, Pause, Play, Record, Recording, Redirect, Response, Say, Start, Stream,
    Verb,
};
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Why a TwiML document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwimlError {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("the root element is <{0}>, not <Response>")]
    NotResponse(String),
    #[error("<{verb}> attribute {attribute}={value:?} is invalid")]
    InvalidAttribute {
        verb: String,
        attribute: String,
        value: String,
    },
    #[error("<{verb}> lacks its required {attribute}")]
    Missing { verb: String, attribute: String },
}

/// A minimal element tree: just enough structure to map onto verbs.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    fn attr(&self, key: &str) -> Option<String> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn number(&self, key: &str) -> Result<Option<u32>, TwimlError> {
        self.attr(key)
            .map(|v| v.trim().parse().map_err(|_| self.invalid(key, &v)))
            .transpose()
    }

    fn boolean(&self, key: &str) -> Result<Option<bool>, TwimlError> {
        self.attr(key)
            .map(|v| match v.trim() {
                t if t.eq_ignore_ascii_case("true") => Ok(true),
                t if t.eq_ignore_ascii_case("false") => Ok(false),
                _ => Err(self.invalid(key, &v)),
            })
            .transpose()
    }

    fn invalid(&self, key: &str, value: &str) -> TwimlError {
        TwimlError::InvalidAttribute {
            verb: self.name.clone(),
            attribute: key.to_owned(),
            value: value.to_owned(),
        }
    }

    /// All descendant text, concatenated (SSML inside `<Say>` keeps its words).
    fn text(&self) -> String {
        let mut out = String::new();
        for child in &self.children {
            match child {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => out.push_str(&e.text()),
            }
        }
        out
    }

    fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }
}

/// Parses a TwiML document. Its root must be `<Response>`.
pub fn parse(xml: &str) -> Result<Response, TwimlError> {
    let root = read_tree(xml)?;
    if root.name != "Response" {
        return Err(TwimlError::NotResponse(root.name));
    }
    let verbs = root.elements().map(to_verb).collect::<Result<_, _>>()?;
    Ok(Response { verbs })
}

impl std::str::FromStr for Response {
    type Err = TwimlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

fn xml_err(e: impl std::fmt::Display) -> TwimlError {
    TwimlError::Xml(e.to_string())
}

fn start(e: &BytesStart<'_>) -> Result<Element, TwimlError> {
    let name = e.local_name().into_inner().to_owned();
    let mut attrs = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(xml_err)?;
        let key = attr.key.local_name().into_inner().to_owned();
        attrs.push((
            key,
            attr.normalized_value(XmlVersion::Implicit1_0)
                .map_err(xml_err)?
                .into_owned(),
        ));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
    })
}

fn read_tree(xml: &str) -> Result<Element, TwimlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(xml_err)?;
        let finished = match event {
            Event::Start(e) => {
                stack.push(start(&e)?);
                None
            }
            Event::Empty(e) => Some(start(&e)?),
            Event::End(_) => stack.pop(),
            Event::Text(t) => {
                push_text(&mut stack, t.xml10_content().into_owned());
                None
            }
            // `&amp;`, `&#1488;`: the reader hands entity references over on their own.
            Event::GeneralRef(r) => {
                push_text(&mut stack, reference(&r)?);
                None
            }
            Event::CData(c) => {
                push_text(&mut stack, c.into_inner().into_owned());
                None
            }
            Event::Eof => break,
            _ => None,
        };
        if let Some(done) = finished {
            match stack.last_mut() {
                Some(parent) => parent.children.push(Node::Element(done)),
                None if root.is_none() => root = Some(done),
                None => return Err(TwimlError::Xml("more than one root element".into())),
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(TwimlError::Xml(format!("<{}> is never closed", open.name)));
    }
    root.ok_or_else(|| TwimlError::Xml("no root element".into()))
}

/// The text a character reference or one of XML's five predefined entities stands for.
fn reference(r: &BytesRef<'_>) -> Result<String, TwimlError> {
    if let Some(c) = r.resolve_char_ref().map_err(xml_err)? {
        return Ok(c.to_string());
    }
    let name = r.xml10_content();
    resolve_predefined_entity(&name)
        .map(str::to_owned)
        .ok_or_else(|| TwimlError::Xml(format!("unknown entity &{name};")))
}

fn push_text(stack: &mut [Element], text: String) {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(Node::Text(text));
    }
}

fn to_verb(e: &Element) -> Result<Verb, TwimlError> {
    Ok(match e.name.as_str() {
        "Say" => Verb::Say(Say {
            text: e.text(),
            voice: e.attr("voice"),
            language: e.attr("language"),
        }),
        "Play" => Verb::Play(Play {
            url: e.text().trim().to_owned(),
            loop_: e.number("loop")?,
        }),
        "Pause" => Verb::Pause(Pause {
            length: e.number("length")?,
        }),
        "Record" => Verb::Record(Record {
            action: e.attr("action"),
            method: e.attr("method"),
            max_length: e.number("maxLength")?,
            timeout: e.number("timeout")?,
            play_beep: e.boolean("playBeep")?,
            finish_on_key: e.attr("finishOnKey"),
            recording_status_callback: e.attr("recordingStatusCallback"),
            trim: e.attr("trim"),
        }),
        "Redirect" => Verb::Redirect(Redirect {
            url: e.text().trim().to_owned(),
            method: e.attr("method"),
        }),
        "Hangup" => Verb::Hangup,
        "Dial" => Verb::Dial(Dial {
            // `<Dial>+1..</Dial>` or `<Dial><Number>+1..</Number></Dial>`.
            number: e.text().trim().to_owned(),
            caller_id: e.attr("callerId"),
            action: e.attr("action"),
            timeout: e.number("timeout")?,
        }),
        "Gather" => Verb::Gather(Gather {
            input: e.attr("input"),
            action: e.attr("action"),
            timeout: e.number("timeout")?,
            num_digits: e.number("numDigits")?,
            children: e.elements().map(to_verb).collect::<Result<_, _>>()?,
        }),
        "Connect" => match e.elements().find(|c| c.name == "Stream") {
            Some(s) => Verb::Connect(Connect {
                action: e.attr("action"),
                stream: to_stream(s)?,
            }),
            // `<Connect><Room>` and friends are not modelled.
            None => Verb::Unknown(e.name.clone()),
        },
        "Start" => Verb::Start(Start {
            recording: e
                .elements()
                .find(|c| c.name == "Recording")
                .map(|r| Recording {
                    recording_status_callback: r.attr("recordingStatusCallback"),
                    recording_status_callback_method: r.attr("recordingStatusCallbackMethod"),
                    recording_status_callback_event: r.attr("recordingStatusCallbackEvent"),
                    channels: r.attr("channels"),
                    track: r.attr("track"),
                    trim: r.attr("trim"),
                }),
            other: e
                .elements()
                .filter(|c| c.name != "Recording")
                .map(|c| c.name.clone())
                .collect(),
        }),
        _ => Verb::Unknown(e.name.clone()),
    })
}

fn to_stream(e: &Element) -> Result<Stream, TwimlError> {
    let url = e.attr("url").ok_or_else(|| TwimlError::Missing {
        verb: "Stream".into(),
        attribute: "url".into(),
    })?;
    let parameters = e
        .elements()
        .filter(|p| p.name == "Parameter")
        .filter_map(|p| Some((p.attr("name")?, p.attr("value").unwrap_or_default())))
        .collect();
    Ok(Stream {
        url,
        name: e.attr("name"),
        track: e.attr("track"),
        status_callback: e.attr("statusCallback"),
        status_callback_method: e.attr("statusCallbackMethod"),
        parameters,
    })
}
