//! The TwiML interpreter: fetch a document, run its verbs in order, follow whatever
//! the verbs lead to (Redirect, actions, REST updates), and stop when Twilio would.
//!
//! Verbs that are instantaneous live here; Play, Record and Connect/Stream have their
//! own modules because they last and listen to the caller while they do.

use std::time::Duration;

use telephony::twiml::{Dial, Gather, Response, Say, Verb};

use super::{Ctx, Flow, play, record, stream, urls};
use crate::error::codes;
use crate::report::TimelineKind;
use crate::state::Control;
use crate::webhook::{self, short};

/// Twilio stops following a call that keeps redirecting.
const MAX_DOCUMENTS: usize = 64;

/// Verbs real Twilio knows that the sim does not act out; they are noted, not errors.
const OTHER_TWILIO_VERBS: &[&str] = &[
    "Start", "Stop", "Enqueue", "Leave", "Reject", "Sms", "Message", "Refer", "Pay", "Queue",
];

/// Requests a TwiML document and checks it as Twilio would. `None` means Twilio
/// would play its application error and hang up.
pub(super) async fn fetch_twiml(
    ctx: &mut Ctx,
    url: &str,
    method: &str,
    extra: Vec<(String, String)>,
) -> Option<Response> {
    let mut params = ctx.params();
    params.extend(extra);
    let out = webhook::send(
        &ctx.shared.http,
        &ctx.shared.cfg.auth_token,
        method,
        url,
        &params,
    )
    .await;
    ctx.journal.log(TimelineKind::Webhook, out.line);
    if let Some(e) = out.error {
        ctx.journal.error(e.code, e.message);
        return None;
    }
    let reply = out.reply?;
    if !webhook::is_twiml_type(&reply.content_type) {
        ctx.journal.error(
            codes::INVALID_CONTENT_TYPE,
            format!(
                "{} answered Content-Type {:?}, not TwiML",
                short(url),
                reply.content_type
            ),
        );
        return None;
    }
    match telephony::twiml::parse(&reply.body) {
        Ok(doc) => {
            urls::check(&doc, &ctx.journal);
            Some(doc)
        }
        Err(e) => {
            ctx.journal.error(
                codes::DOCUMENT_PARSE_FAILURE,
                format!("{} answered unparsable TwiML: {e}", short(url)),
            );
            None
        }
    }
}

/// Parses TwiML handed over inline (Calls create or update with `Twiml`).
pub(super) fn parse_inline(ctx: &Ctx, xml: &str) -> Option<Response> {
    match telephony::twiml::parse(xml) {
        Ok(doc) => {
            urls::check(&doc, &ctx.journal);
            Some(doc)
        }
        Err(e) => {
            ctx.journal.error(
                codes::DOCUMENT_PARSE_FAILURE,
                format!("inline Twiml is unparsable: {e}"),
            );
            None
        }
    }
}

/// Runs documents until the call ends. Returns true when it ended on a failure.
pub(super) async fn run(ctx: &mut Ctx, mut doc: Response, mut doc_url: String) -> bool {
    let mut documents = 1;
    'docs: loop {
        let verbs = std::mem::take(&mut doc.verbs);
        for verb in &verbs {
            let mut flow = match ctx.control.try_recv() {
                Ok(c) => ctx.take_interrupt(c).map(Flow::Control),
                Err(_) => None,
            };
            if flow.is_none() {
                flow = Some(run_verb(ctx, verb, &doc_url).await);
            }
            let flow = flow.unwrap_or(Flow::Next);
            let next = match flow {
                Flow::Next => continue,
                Flow::Hangup | Flow::CallerHungUp => return false,
                Flow::Goto { doc, url } => Some((doc, url)),
                Flow::Control(c) => follow_control(ctx, c, &doc_url).await,
            };
            let Some((next_doc, next_url)) = next else {
                return false;
            };
            documents += 1;
            if documents > MAX_DOCUMENTS {
                ctx.journal.log(
                    TimelineKind::Note,
                    format!("more than {MAX_DOCUMENTS} TwiML documents: Twilio ends the call"),
                );
                return true;
            }
            doc = next_doc;
            doc_url = next_url;
            continue 'docs;
        }
        // The document ran out of verbs: Twilio hangs up.
        return false;
    }
}

/// A REST Calls update: the new TwiML replaces whatever was running.
async fn follow_control(ctx: &mut Ctx, c: Control, doc_url: &str) -> Option<(Response, String)> {
    match c {
        Control::Twiml(xml) => {
            ctx.journal.log(
                TimelineKind::RestUpdate,
                format!("REST Calls update: new TwiML ({} bytes)", xml.len()),
            );
            parse_inline(ctx, &xml).map(|doc| (doc, doc_url.to_owned()))
        }
        Control::Url { url, method } => {
            ctx.journal.log(
                TimelineKind::RestUpdate,
                format!("REST Calls update: fetch {method} {}", short(&url)),
            );
            let doc = fetch_twiml(ctx, &url, &method, Vec::new()).await?;
            Some((doc, url))
        }
        Control::Hangup => {
            ctx.journal.log(
                TimelineKind::RestUpdate,
                "REST Calls update: Status=completed",
            );
            None
        }
        Control::StartRecording { .. } => None,
    }
}

async fn run_verb(ctx: &mut Ctx, verb: &Verb, doc_url: &str) -> Flow {
    match verb {
        Verb::Say(say) => run_say(ctx, say).await,
        Verb::Play(p) => play::run(ctx, p, doc_url).await,
        Verb::Pause(p) => {
            let secs = p.length.unwrap_or(1);
            ctx.journal
                .log(TimelineKind::Verb, format!("<Pause length={secs}>"));
            ctx.idle(u64::from(secs) * 50).await.unwrap_or(Flow::Next)
        }
        Verb::Record(r) => record::run(ctx, r, doc_url).await,
        Verb::Redirect(r) => {
            let url = urls::resolve(doc_url, &r.url);
            let method = r.method.clone().unwrap_or_else(|| "POST".into());
            ctx.journal
                .log(TimelineKind::Verb, format!("<Redirect> {}", short(&url)));
            match fetch_twiml(ctx, &url, &method, Vec::new()).await {
                Some(doc) => Flow::Goto { doc, url },
                None => Flow::Hangup,
            }
        }
        Verb::Hangup => {
            ctx.journal.log(TimelineKind::Verb, "<Hangup/>");
            Flow::Hangup
        }
        Verb::Dial(d) => run_dial(ctx, d, doc_url).await,
        Verb::Gather(g) => run_gather(ctx, g, doc_url).await,
        Verb::Connect(c) => stream::run(ctx, c, doc_url).await,
        Verb::Start(s) => {
            match &s.recording {
                Some(r) if ctx.recording.is_none() => {
                    let callback = r
                        .recording_status_callback
                        .as_deref()
                        .map(|u| urls::resolve(doc_url, u));
                    ctx.take_interrupt(Control::StartRecording {
                        sid: crate::sid::new_sid("RE"),
                        status_callback: callback,
                        // Twilio's default for `<Start><Recording>` is dual.
                        dual: r.channels.as_deref() != Some("mono"),
                        source: "StartCallRecordingTwiML",
                    });
                }
                Some(_) => ctx
                    .journal
                    .log(TimelineKind::Note, "<Start><Recording>: already recording"),
                None => ctx.journal.log(
                    TimelineKind::Note,
                    format!("<Start> with {:?} is not simulated; skipped", s.other),
                ),
            }
            Flow::Next
        }
        Verb::Unknown(name) => {
            if OTHER_TWILIO_VERBS.contains(&name.as_str()) {
                ctx.journal.log(
                    TimelineKind::Note,
                    format!("<{name}> is not simulated; skipped"),
                );
            } else {
                ctx.journal.error(
                    codes::SCHEMA_VALIDATION,
                    format!("<{name}> is not a TwiML verb"),
                );
            }
            Flow::Next
        }
    }
}

fn is_hebrew(say: &Say) -> bool {
    let lang = say.language.as_deref().unwrap_or("");
    lang.to_ascii_lowercase().starts_with("he")
        || lang.to_ascii_lowercase().starts_with("iw")
        || say
            .text
            .chars()
            .any(|c| ('\u{0590}'..='\u{05FF}').contains(&c))
}

async fn run_say(ctx: &mut Ctx, say: &Say) -> Flow {
    ctx.journal
        .log(TimelineKind::Verb, format!("<Say> {:?}", say.text));
    if is_hebrew(say) {
        ctx.journal.error(
            codes::SAY_UNSUPPORTED_LANGUAGE,
            "<Say> cannot speak Hebrew: the caller hears nothing",
        );
        return Flow::Next;
    }
    // About 70 ms per character of English speech.
    let frames = (say.text.chars().count() as u64 * 70).div_ceil(20);
    ctx.idle(frames.max(1)).await.unwrap_or(Flow::Next)
}

async fn run_dial(ctx: &mut Ctx, d: &Dial, doc_url: &str) -> Flow {
    ctx.journal.log(
        TimelineKind::Transfer,
        format!("<Dial> transfers the caller to {}", d.number),
    );
    let Some(action) = &d.action else {
        return Flow::Next;
    };
    let url = urls::resolve(doc_url, action);
    let extra = vec![
        ("DialCallStatus".into(), "completed".into()),
        ("DialCallDuration".into(), "0".into()),
    ];
    match fetch_twiml(ctx, &url, "POST", extra).await {
        Some(doc) => Flow::Goto { doc, url },
        None => Flow::Hangup,
    }
}

async fn run_gather(ctx: &mut Ctx, g: &Gather, doc_url: &str) -> Flow {
    ctx.journal.log(TimelineKind::Verb, "<Gather>");
    for child in &g.children {
        let flow = match child {
            Verb::Say(s) => run_say(ctx, s).await,
            Verb::Play(p) => play::run(ctx, p, doc_url).await,
            Verb::Pause(p) => ctx
                .idle(u64::from(p.length.unwrap_or(1)) * 50)
                .await
                .unwrap_or(Flow::Next),
            _ => Flow::Next,
        };
        if !matches!(flow, Flow::Next) {
            return flow;
        }
    }
    let timeout = Duration::from_secs(u64::from(g.timeout.unwrap_or(5)));
    let wanted = g.num_digits.map(|n| n as usize);
    let mut digits = String::new();
    let mut quiet_frames = 0u64;
    let limit = (timeout.as_millis() / 20) as u64;
    let period = ctx.shared.cfg.verb_frame();
    let interrupted = ctx
        .tick_loop(period, |ctx, t, _| {
            quiet_frames += 1;
            if let Some(d) = t.dtmf {
                ctx.journal
                    .log(TimelineKind::Dtmf, format!("caller presses {d}"));
                quiet_frames = 0;
                if d == '#' && wanted.is_none() {
                    return false;
                }
                digits.push(d);
                if wanted.is_some_and(|n| digits.len() >= n) {
                    return false;
                }
            }
            quiet_frames < limit
        })
        .await;
    if let Some(flow) = interrupted {
        return flow;
    }
    if digits.is_empty() {
        return Flow::Next;
    }
    let url = urls::resolve(doc_url, g.action.as_deref().unwrap_or(doc_url));
    match fetch_twiml(ctx, &url, "POST", vec![("Digits".into(), digits)]).await {
        Some(doc) => Flow::Goto { doc, url },
        None => Flow::Hangup,
    }
}
