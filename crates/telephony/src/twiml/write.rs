//! Serialises a [`Response`] to the exact XML Twilio expects.
//!
//! Written by hand rather than through a generic XML writer so that attribute
//! names, their order and the escaping rules are explicit and reviewable here:
//! a caller-supplied name or URL containing `&` or `<` must never break the
//! document Twilio is about to execute on a live call.

use super::verbs::{Connect, Dial, Gather, Play, Record, Redirect, Response, Say, Start, Verb};
use std::fmt::Write as _;

const XML_DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

impl Response {
    /// The document as `<?xml ...?><Response>...</Response>`.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str(XML_DECL);
        if self.verbs.is_empty() {
            out.push_str("<Response/>");
            return out;
        }
        out.push_str("<Response>");
        for verb in &self.verbs {
            write_verb(&mut out, verb);
        }
        out.push_str("</Response>");
        out
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_xml())
    }
}

/// Attributes in emission order; `None` values are omitted.
type Attrs = Vec<(&'static str, Option<String>)>;

fn write_verb(out: &mut String, verb: &Verb) {
    match verb {
        Verb::Say(Say {
            text,
            voice,
            language,
        }) => element(
            out,
            "Say",
            vec![("voice", voice.clone()), ("language", language.clone())],
            Some(text),
        ),
        Verb::Play(Play { url, loop_ }) => element(
            out,
            "Play",
            vec![("loop", loop_.map(|n| n.to_string()))],
            Some(url),
        ),
        Verb::Pause(p) => element(
            out,
            "Pause",
            vec![("length", p.length.map(|n| n.to_string()))],
            None,
        ),
        Verb::Record(r) => element(out, "Record", record_attrs(r), None),
        Verb::Redirect(Redirect { url, method }) => {
            element(out, "Redirect", vec![("method", method.clone())], Some(url))
        }
        Verb::Hangup => out.push_str("<Hangup/>"),
        Verb::Dial(d) => write_dial(out, d),
        Verb::Gather(g) => write_gather(out, g),
        Verb::Connect(c) => write_connect(out, c),
        Verb::Start(s) => write_start(out, s),
        Verb::Unknown(name) => {
            if is_xml_name(name) {
                let _ = write!(out, "<{name}/>");
            }
        }
    }
}

fn record_attrs(r: &Record) -> Attrs {
    vec![
        ("action", r.action.clone()),
        ("method", r.method.clone()),
        ("maxLength", r.max_length.map(|n| n.to_string())),
        ("timeout", r.timeout.map(|n| n.to_string())),
        ("playBeep", r.play_beep.map(|b| b.to_string())),
        ("finishOnKey", r.finish_on_key.clone()),
        (
            "recordingStatusCallback",
            r.recording_status_callback.clone(),
        ),
        ("trim", r.trim.clone()),
    ]
}

fn write_dial(out: &mut String, d: &Dial) {
    let attrs = vec![
        ("action", d.action.clone()),
        ("callerId", d.caller_id.clone()),
        ("timeout", d.timeout.map(|n| n.to_string())),
    ];
    element(out, "Dial", attrs, Some(&d.number));
}

fn write_gather(out: &mut String, g: &Gather) {
    let attrs = vec![
        ("input", g.input.clone()),
        ("action", g.action.clone()),
        ("timeout", g.timeout.map(|n| n.to_string())),
        ("numDigits", g.num_digits.map(|n| n.to_string())),
    ];
    open(out, "Gather", &attrs, g.children.is_empty());
    if !g.children.is_empty() {
        for child in &g.children {
            write_verb(out, child);
        }
        out.push_str("</Gather>");
    }
}

fn write_connect(out: &mut String, c: &Connect) {
    open(out, "Connect", &vec![("action", c.action.clone())], false);
    let s = &c.stream;
    let attrs = vec![
        ("url", Some(s.url.clone())),
        ("name", s.name.clone()),
        ("track", s.track.clone()),
        ("statusCallback", s.status_callback.clone()),
        ("statusCallbackMethod", s.status_callback_method.clone()),
    ];
    open(out, "Stream", &attrs, s.parameters.is_empty());
    if !s.parameters.is_empty() {
        for (name, value) in &s.parameters {
            let attrs = vec![("name", Some(name.clone())), ("value", Some(value.clone()))];
            open(out, "Parameter", &attrs, true);
        }
        out.push_str("</Stream>");
    }
    out.push_str("</Connect>");
}

fn write_start(out: &mut String, s: &Start) {
    let Some(r) = &s.recording else {
        out.push_str("<Start/>");
        return;
    };
    out.push_str("<Start>");
    let attrs = vec![
        (
            "recordingStatusCallback",
            r.recording_status_callback.clone(),
        ),
        (
            "recordingStatusCallbackMethod",
            r.recording_status_callback_method.clone(),
        ),
        (
            "recordingStatusCallbackEvent",
            r.recording_status_callback_event.clone(),
        ),
        ("channels", r.channels.clone()),
        ("track", r.track.clone()),
        ("trim", r.trim.clone()),
    ];
    open(out, "Recording", &attrs, true);
    out.push_str("</Start>");
}

/// Writes `<name attrs>text</name>`, or `<name attrs/>` when there is no text.
fn element(out: &mut String, name: &str, attrs: Attrs, text: Option<&String>) {
    let text = text.filter(|t| !t.is_empty());
    open(out, name, &attrs, text.is_none());
    if let Some(text) = text {
        escape_into(out, text, false);
        let _ = write!(out, "</{name}>");
    }
}

fn open(out: &mut String, name: &str, attrs: &Attrs, self_close: bool) {
    out.push('<');
    out.push_str(name);
    for (key, value) in attrs {
        if let Some(value) = value {
            let _ = write!(out, " {key}=\"");
            escape_into(out, value, true);
            out.push('"');
        }
    }
    out.push_str(if self_close { "/>" } else { ">" });
}

/// Escapes XML's five special characters. Characters XML 1.0 cannot carry at all
/// (most C0 controls) are dropped so the document always parses; whitespace that
/// a parser would normalise is written as a character reference.
pub(crate) fn escape_into(out: &mut String, s: &str, in_attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' | '\t' if in_attribute => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
