//! Starting calls: an inbound call the sim places at a server, or an outbound call
//! the server asked for through the REST API.
//!
//! Both end up in the same runner; they differ in who is called, which URL is
//! requested first, with what `CallStatus`, and where progress callbacks go.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::call::{CallSetup, StatusTarget, run_call};
use crate::mouth::Mouth;
use crate::report::{CallReport, TimelineKind};
use crate::script::CallerScript;
use crate::sid::new_sid;
use crate::state::{CallInfo, Control, Shared};
use crate::utterance::prepare;

/// A call the server placed with `POST /Calls.json`.
pub(crate) struct Outbound {
    pub to: String,
    pub from: String,
    pub url: Option<String>,
    pub method: String,
    pub twiml: Option<String>,
    pub status_callback: Option<String>,
    pub status_callback_method: String,
    pub events: Vec<String>,
    pub record: Option<Option<String>>,
    /// `RecordingChannels=dual`: the two sides on their own channels.
    pub record_dual: bool,
}

fn info(sid: &str, from: &str, to: &str, direction: &str, status: &str) -> CallInfo {
    CallInfo {
        sid: sid.to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        direction: direction.to_owned(),
        status: status.to_owned(),
        date_created: SystemTime::now(),
        start_time: None,
        end_time: None,
        duration_secs: None,
    }
}

/// Registers and starts the outbound call; returns it as created (`queued`).
pub(crate) fn spawn_outbound(shared: Arc<Shared>, o: Outbound) -> CallInfo {
    let sid = new_sid("CA");
    let created = info(&sid, &o.from, &o.to, "outbound-api", "queued");
    let (tx, rx) = mpsc::unbounded_channel();
    shared.register_call(created.clone(), tx);
    let script = shared.callee_script();
    tokio::spawn(async move {
        let steps = match prepare(&script).await {
            Ok(steps) => steps,
            Err(e) => {
                tracing::warn!(target: "sim", error = %e, "callee script could not be synthesised");
                Vec::new()
            }
        };
        let setup = CallSetup {
            sid,
            from: o.from,
            to: o.to,
            direction: "outbound-api",
            url: o.url.unwrap_or_default(),
            method: o.method,
            initial_twiml: o.twiml,
            status: StatusTarget {
                url: o.status_callback,
                method: o.status_callback_method,
                events: o.events,
            },
            mouth: Mouth::new(steps),
            never_connect_socket: script.never_connect_socket,
            stop_media_after: script.stop_media_after,
            cut_socket_after: script.cut_socket_after,
            max_duration: script.max_duration,
            control: rx,
            record_call: o.record,
            record_dual: o.record_dual,
        };
        run_call(shared, setup).await
    });
    created
}

/// Places an inbound call at `server` (its base URL); returns the running call.
pub(crate) async fn start_inbound(
    shared: Arc<Shared>,
    server: &str,
    to: &str,
    from: &str,
    script: &CallerScript,
) -> anyhow::Result<(
    String,
    mpsc::UnboundedSender<Control>,
    JoinHandle<CallReport>,
)> {
    let server = server.trim_end_matches('/');
    let base = url::Url::parse(server).with_context(|| format!("server URL {server:?}"))?;
    let steps = prepare(script).await?;
    let sid = new_sid("CA");
    let (tx, rx) = mpsc::unbounded_channel();
    shared.register_call(info(&sid, from, to, "inbound", "ringing"), tx.clone());
    let status_url = base
        .join("/webhook/call_status")
        .map(String::from)
        .context("status URL")?;
    let setup = CallSetup {
        sid: sid.clone(),
        from: from.to_owned(),
        to: to.to_owned(),
        direction: "inbound",
        url: format!("{server}/webhook/incoming_call"),
        method: "POST".into(),
        initial_twiml: None,
        status: StatusTarget {
            url: Some(status_url),
            method: "POST".into(),
            events: ["ringing", "answered", "completed"]
                .map(String::from)
                .to_vec(),
        },
        mouth: Mouth::new(steps),
        never_connect_socket: script.never_connect_socket,
        stop_media_after: script.stop_media_after,
        cut_socket_after: script.cut_socket_after,
        max_duration: script.max_duration,
        control: rx,
        record_call: None,
        record_dual: false,
    };
    let task = tokio::spawn(run_call(shared, setup));
    Ok((sid, tx, task))
}

/// A report for a call whose runner died (a bug in the sim, never the server).
pub(crate) fn crashed(sid: &str, why: &str) -> CallReport {
    CallReport {
        call_sid: sid.to_owned(),
        final_status: "failed".into(),
        timeline: vec![crate::report::TimelineEntry {
            at: std::time::Duration::ZERO,
            kind: TimelineKind::Note,
            detail: format!("the simulator's call task failed: {why}"),
        }],
        ..CallReport::default()
    }
}
