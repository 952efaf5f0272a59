//! URL hygiene in TwiML: Twilio error 11100 came from relative URLs in production.
//!
//! Every URL attribute of a document is checked when the document arrives; the sim
//! then resolves relative ones against the document's own URL so the rest of the call
//! can still be observed.

use telephony::twiml::{Response, Verb};

use crate::error::codes;
use crate::journal::Journal;

/// True when `u` is an absolute URL.
pub(crate) fn is_absolute(u: &str) -> bool {
    url::Url::parse(u).is_ok()
}

/// `u` resolved against the document URL `base`.
pub(crate) fn resolve(base: &str, u: &str) -> String {
    if is_absolute(u) {
        return u.to_owned();
    }
    url::Url::parse(base)
        .and_then(|b| b.join(u))
        .map(String::from)
        .unwrap_or_else(|_| u.to_owned())
}

fn urls(verb: &Verb, out: &mut Vec<(&'static str, String)>) {
    let mut push = |what: &'static str, u: &Option<String>| {
        if let Some(u) = u {
            out.push((what, u.clone()));
        }
    };
    match verb {
        Verb::Play(p) => push("<Play>", &Some(p.url.clone())),
        Verb::Record(r) => {
            push("<Record action>", &r.action);
            push(
                "<Record recordingStatusCallback>",
                &r.recording_status_callback,
            );
        }
        Verb::Redirect(r) => push("<Redirect>", &Some(r.url.clone())),
        Verb::Dial(d) => push("<Dial action>", &d.action),
        Verb::Gather(g) => {
            push("<Gather action>", &g.action);
            for child in &g.children {
                urls(child, out);
            }
        }
        Verb::Connect(c) => {
            push("<Connect action>", &c.action);
            push("<Stream url>", &Some(c.stream.url.clone()));
            push("<Stream statusCallback>", &c.stream.status_callback);
        }
        Verb::Start(s) => {
            if let Some(r) = &s.recording {
                push(
                    "<Recording recordingStatusCallback>",
                    &r.recording_status_callback,
                );
            }
        }
        Verb::Say(_) | Verb::Pause(_) | Verb::Hangup | Verb::Unknown(_) => {}
    }
}

/// Flags every relative URL in `doc` with 11100.
pub(crate) fn check(doc: &Response, journal: &Journal) {
    let mut found = Vec::new();
    for verb in &doc.verbs {
        urls(verb, &mut found);
    }
    for (what, u) in found {
        if !is_absolute(&u) {
            journal.error(
                codes::INVALID_URL,
                format!("{what} URL {u:?} is not absolute"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_against_document() {
        assert_eq!(
            resolve("http://h:1/webhook/incoming_call", "/static/a.wav"),
            "http://h:1/static/a.wav"
        );
        assert_eq!(resolve("http://h:1/x", "https://o/y"), "https://o/y");
        assert!(!is_absolute("/webhook/x"));
    }

    #[test]
    fn flags_relative_urls() {
        let doc = telephony::twiml::parse(
            r#"<Response><Play>/static/p.wav</Play><Record action="https://h/r"/></Response>"#,
        )
        .unwrap();
        let j = Journal::new(Default::default());
        check(&doc, &j);
        let r = j.snapshot();
        assert_eq!(r.protocol_errors.len(), 1);
        assert_eq!(r.protocol_errors[0].code, 11100);
    }
}
