//! One simulated call from ring to hang-up: Twilio's call state machine.
//!
//! The runner owns everything that lives as long as the call (the caller's mouth and
//! ear, the journal, the control channel the REST API writes to) and hands it to the
//! verb implementations one at a time, exactly as Twilio executes one TwiML verb at a
//! time and lets a REST Calls update cut into whichever verb is running.

mod callbacks;
mod exec;
mod mixer;
mod play;
mod record;
mod stream;
mod urls;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio::time::{MissedTickBehavior, interval};

use crate::ear::Ear;
use crate::journal::Journal;
use crate::mouth::{AGENT_QUIET, Mouth, Tick};
use crate::report::{CallReport, RecordingInfo, TimelineKind};
use crate::sid::new_sid;
use crate::state::{Control, Shared, StoredRecording};

use callbacks::Callbacks;
use mixer::Mixer;

/// Where call progress callbacks go, and which events are wanted.
#[derive(Debug, Clone)]
pub(crate) struct StatusTarget {
    pub url: Option<String>,
    pub method: String,
    /// Twilio's event names: `initiated`, `ringing`, `answered`, `completed`.
    pub events: Vec<String>,
}

/// Everything needed to run one call.
pub(crate) struct CallSetup {
    pub sid: String,
    pub from: String,
    pub to: String,
    /// `inbound` or `outbound-api`.
    pub direction: &'static str,
    /// The first TwiML document: the voice URL and its method.
    pub url: String,
    pub method: String,
    /// TwiML given inline (`Twiml` on Calls create) instead of fetching `url`.
    pub initial_twiml: Option<String>,
    pub status: StatusTarget,
    pub mouth: Mouth,
    pub never_connect_socket: bool,
    pub stop_media_after: Option<Duration>,
    pub cut_socket_after: Option<Duration>,
    pub max_duration: Duration,
    pub control: mpsc::UnboundedReceiver<Control>,
    /// Record the whole call from the answer (`Record=true` on Calls create).
    pub record_call: Option<Option<String>>,
    /// With `record_call`: `RecordingChannels=dual` (the remote party, then the TwiML side).
    pub record_dual: bool,
}

/// What the call does after a verb.
#[derive(Debug)]
pub(crate) enum Flow {
    Next,
    Goto {
        doc: telephony::twiml::Response,
        url: String,
    },
    /// `<Hangup/>`, the end of the document, or a failed webhook: Twilio hangs up.
    Hangup,
    CallerHungUp,
    /// A REST Calls update cut into the verb.
    Control(Control),
}

pub(crate) struct CallRecording {
    sid: String,
    status_callback: Option<String>,
    dual: bool,
    source: &'static str,
    mixer: Mixer,
}

pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub sid: String,
    pub from: String,
    pub to: String,
    pub direction: &'static str,
    pub call_status: &'static str,
    pub journal: Journal,
    pub mouth: Mouth,
    pub ear: Ear,
    pub never_connect_socket: bool,
    pub stop_media_after: Option<Duration>,
    pub cut_socket_after: Option<Duration>,
    pub deadline: Instant,
    pub control: mpsc::UnboundedReceiver<Control>,
    pub callbacks: Callbacks,
    last_turn_end: Option<Instant>,
    awaiting_reply: bool,
    turns: usize,
    status: StatusTarget,
    status_seq: u32,
    pub(crate) recording: Option<CallRecording>,
    /// Both voices of the whole call, for the report.
    conversation: Mixer,
}

impl Ctx {
    /// The fields Twilio puts in every voice request.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        let cfg = &self.shared.cfg;
        [
            ("AccountSid", cfg.account_sid.as_str()),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", self.sid.as_str()),
            ("CallStatus", self.call_status),
            ("Called", self.to.as_str()),
            ("CalledCountry", "IL"),
            ("Caller", self.from.as_str()),
            ("CallerCountry", "IL"),
            ("Direction", self.direction),
            ("From", self.from.as_str()),
            ("FromCountry", "IL"),
            ("To", self.to.as_str()),
            ("ToCountry", "IL"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Records the caller's turn edges (and feeds the call recording).
    pub(crate) fn note_turn(&mut self, t: &Tick, now: Instant) {
        if let Some(label) = &t.turn_start {
            self.turns += 1;
            let barge = if self.ear.is_playing() {
                " (barge-in: the agent is speaking)"
            } else {
                ""
            };
            self.journal.log(
                TimelineKind::CallerTurnStart,
                format!("turn {}: {label}{barge}", self.turns),
            );
        }
        if t.turn_end {
            let how = if t.hang_up {
                " (cut off by hang-up)"
            } else {
                ""
            };
            self.journal.log(
                TimelineKind::CallerTurnEnd,
                format!("turn {} ends{how}", self.turns),
            );
            self.ear.caller_turn_ended();
            self.last_turn_end = Some(now);
            self.awaiting_reply = true;
        }
        if let Some(rec) = &mut self.recording {
            rec.mixer.caller(&t.frame);
        }
        self.conversation.caller(&t.frame);
    }

    /// Agent audio the caller hears, for the call recording.
    pub(crate) fn note_heard(&mut self, frame: &[u8]) {
        if let Some(rec) = &mut self.recording {
            rec.mixer.agent(frame);
        }
        self.conversation.agent(frame);
    }

    /// The first agent media after a caller turn: the reply latency.
    pub(crate) fn note_agent_media(&mut self, now: Instant) {
        if !self.awaiting_reply {
            return;
        }
        self.awaiting_reply = false;
        if let Some(end) = self.last_turn_end {
            let latency = now.saturating_duration_since(end);
            self.journal.with(|r| r.turn_latencies.push(latency));
            self.journal.log(
                TimelineKind::AgentAudio,
                format!(
                    "agent replies to turn {} after {} ms",
                    self.turns,
                    latency.as_millis()
                ),
            );
        }
    }

    /// Handles a control message; returns it when it interrupts the current verb.
    pub(crate) fn take_interrupt(&mut self, c: Control) -> Option<Control> {
        match c {
            Control::StartRecording {
                sid,
                status_callback,
                dual,
                source,
            } => {
                let how = if dual { "dual-channel" } else { "mono" };
                // Started by the TwiML it is a verb of the call; by REST, an update to it.
                if source == "StartCallRecordingTwiML" {
                    self.journal.log(
                        TimelineKind::Verb,
                        format!("<Start><Recording> {how}: recording the call as {sid}"),
                    );
                } else {
                    self.journal.log(
                        TimelineKind::RestUpdate,
                        format!("REST: start recording the call as {sid}"),
                    );
                }
                self.recording = Some(CallRecording {
                    sid,
                    status_callback,
                    dual,
                    source,
                    mixer: Mixer::default(),
                });
                None
            }
            other => Some(other),
        }
    }

    /// Queues a call progress callback if the target wants this status.
    fn status_callback(&mut self, status: &'static str, duration: Option<u64>) {
        let event = match status {
            "initiated" => "initiated",
            "ringing" => "ringing",
            "in-progress" => "answered",
            _ => "completed",
        };
        let Some(url) = self.status.url.clone() else {
            return;
        };
        if !self.status.events.iter().any(|e| e == event) {
            return;
        }
        self.status_seq += 1;
        let mut params = self.params();
        set(&mut params, "CallStatus", status);
        params.push(("CallbackSource".into(), "call-progress-events".into()));
        params.push(("SequenceNumber".into(), (self.status_seq - 1).to_string()));
        params.push((
            "Timestamp".into(),
            crate::time_fmt::rfc2822(SystemTime::now()),
        ));
        if let Some(d) = duration {
            params.push(("CallDuration".into(), d.to_string()));
            params.push(("Duration".into(), d.div_ceil(60).max(1).to_string()));
        }
        let method = self.status.method.clone();
        self.callbacks
            .post(format!("call status {status}"), url, method, params);
    }

    fn set_status(&mut self, status: &'static str) {
        self.call_status = status;
        let now = SystemTime::now();
        self.shared.update_call(&self.sid, |c| {
            c.status = status.to_owned();
            if status == "in-progress" {
                c.start_time = Some(now);
            }
        });
    }

    /// Runs `on_tick` once per caller frame at `period` until it returns false, the
    /// caller hangs up (after `on_tick` has seen the hang-up), or a control message
    /// interrupts.
    pub(crate) async fn tick_loop<F>(&mut self, period: Duration, mut on_tick: F) -> Option<Flow>
    where
        F: FnMut(&mut Ctx, &Tick, Instant) -> bool,
    {
        let mut iv = interval(period);
        iv.set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                _ = iv.tick() => {
                    let now = Instant::now();
                    if now >= self.deadline {
                        self.journal.log(TimelineKind::Note, "the caller's patience ran out (max_duration)");
                        return Some(Flow::CallerHungUp);
                    }
                    let quiet = self.shared.cfg.scaled(AGENT_QUIET);
                    let t = self.mouth.tick(&self.ear, now, quiet);
                    self.note_turn(&t, now);
                    if !on_tick(self, &t, now) {
                        return None;
                    }
                    if t.hang_up {
                        return Some(Flow::CallerHungUp);
                    }
                }
                Some(c) = self.control.recv() => {
                    if let Some(c) = self.take_interrupt(c) {
                        return Some(Flow::Control(c));
                    }
                }
            }
        }
    }

    /// Lets `frames` caller frames pass at the verb pace with nobody listening.
    pub(crate) async fn idle(&mut self, frames: u64) -> Option<Flow> {
        let period = self.shared.cfg.verb_frame();
        let mut left = frames;
        self.tick_loop(period, |_, _, _| {
            left = left.saturating_sub(1);
            left > 0
        })
        .await
    }

    /// Stores a finished recording and returns what the report shows.
    pub(crate) fn store_recording(&mut self, mulaw: &[u8], source: &str) -> RecordingInfo {
        let sid = new_sid("RE");
        self.store_recording_as(sid, mulaw, source)
    }

    fn store_recording_as(&mut self, sid: String, mulaw: &[u8], source: &str) -> RecordingInfo {
        let wav = audio::wav::write_mulaw(audio::SAMPLE_RATE, mulaw);
        self.store_recording_wav(sid, wav, mulaw.len(), 1, source)
    }

    /// Keeps a recording of `frames` samples per channel for the REST API and the report.
    fn store_recording_wav(
        &mut self,
        sid: String,
        wav: Vec<u8>,
        frames: usize,
        channels: u16,
        source: &str,
    ) -> RecordingInfo {
        let cfg = &self.shared.cfg;
        let info = RecordingInfo {
            url: format!(
                "{}/2010-04-01/Accounts/{}/Recordings/{sid}",
                self.shared.api_base, cfg.account_sid
            ),
            sid,
            call_sid: self.sid.clone(),
            duration: Duration::from_secs_f64(frames as f64 / f64::from(audio::SAMPLE_RATE)),
            source: source.to_owned(),
            channels,
        };
        self.shared.add_recording(StoredRecording {
            info: info.clone(),
            wav,
            created: SystemTime::now(),
        });
        self.journal.with(|r| r.recordings.push(info.clone()));
        self.journal.log(
            TimelineKind::Recording,
            format!(
                "recording {} ({:.1} s, {source}) at {}",
                info.sid,
                info.duration.as_secs_f64(),
                info.url
            ),
        );
        info
    }

    /// `RecordingStatusCallback` fields for `info`.
    pub(crate) fn recording_callback(&mut self, url: String, info: &RecordingInfo) {
        let params = vec![
            ("AccountSid".into(), self.shared.cfg.account_sid.clone()),
            ("CallSid".into(), self.sid.clone()),
            ("RecordingSid".into(), info.sid.clone()),
            ("RecordingUrl".into(), info.url.clone()),
            ("RecordingStatus".into(), "completed".into()),
            (
                "RecordingDuration".into(),
                whole_secs(info.duration).to_string(),
            ),
            ("RecordingChannels".into(), info.channels.to_string()),
            ("RecordingSource".into(), info.source.clone()),
            (
                "RecordingStartTime".into(),
                crate::time_fmt::rfc2822(SystemTime::now()),
            ),
        ];
        self.callbacks
            .post("recording status".into(), url, "POST".into(), params);
    }
}

/// Twilio reports recording durations in whole seconds, rounded up.
pub(crate) fn whole_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000) as u64
}

pub(crate) fn set(params: &mut [(String, String)], name: &str, value: &str) {
    if let Some(p) = params.iter_mut().find(|(k, _)| k == name) {
        p.1 = value.to_owned();
    }
}

/// Runs a call to the end and returns its report (also filed in `shared`).
pub(crate) async fn run_call(shared: Arc<Shared>, setup: CallSetup) -> CallReport {
    let journal = Journal::new(CallReport {
        call_sid: setup.sid.clone(),
        direction: setup.direction.to_owned(),
        from: setup.from.clone(),
        to: setup.to.clone(),
        ..CallReport::default()
    });
    let callbacks = Callbacks::spawn(shared.clone(), journal.clone());
    let mut ctx = Ctx {
        shared: shared.clone(),
        sid: setup.sid,
        from: setup.from,
        to: setup.to,
        direction: setup.direction,
        call_status: "ringing",
        journal: journal.clone(),
        mouth: setup.mouth,
        ear: Ear::default(),
        never_connect_socket: setup.never_connect_socket,
        stop_media_after: setup.stop_media_after,
        cut_socket_after: setup.cut_socket_after,
        deadline: journal.start() + setup.max_duration,
        control: setup.control,
        callbacks,
        last_turn_end: None,
        awaiting_reply: false,
        turns: 0,
        status: setup.status,
        status_seq: 0,
        recording: None,
        conversation: Mixer::default(),
    };
    let outbound = ctx.direction != "inbound";
    if outbound {
        ctx.set_status("ringing");
        ctx.status_callback("initiated", None);
        ctx.status_callback("ringing", None);
        ctx.set_status("in-progress");
        ctx.status_callback("in-progress", None);
    }
    let first = match &setup.initial_twiml {
        Some(xml) => exec::parse_inline(&ctx, xml),
        None => exec::fetch_twiml(&mut ctx, &setup.url, &setup.method, Vec::new()).await,
    };
    let answered = Instant::now();
    let mut failed = first.is_none();
    if let Some(doc) = first {
        if !outbound {
            ctx.status_callback("ringing", None);
            ctx.set_status("in-progress");
            ctx.status_callback("in-progress", None);
        }
        if let Some(cb) = setup.record_call {
            let sid = new_sid("RE");
            ctx.take_interrupt(Control::StartRecording {
                sid,
                status_callback: cb,
                dual: setup.record_dual,
                source: "OutboundAPI",
            });
        }
        failed = exec::run(&mut ctx, doc, setup.url.clone()).await;
    }
    let duration = if failed && ctx.call_status != "in-progress" {
        Duration::ZERO
    } else {
        answered.elapsed()
    };
    let final_status: &'static str = if failed && ctx.call_status != "in-progress" {
        "failed"
    } else {
        "completed"
    };
    ctx.journal.log(
        TimelineKind::End,
        format!("call {final_status} after {:.1} s", duration.as_secs_f64()),
    );
    if let Some(rec) = ctx.recording.take() {
        let info = if rec.dual {
            let (caller, agent) = rec.mixer.finish_dual();
            let wav = audio::wav::write_pcm16_stereo(audio::SAMPLE_RATE, &caller, &agent);
            let frames = caller.len().max(agent.len());
            ctx.store_recording_wav(rec.sid, wav, frames, 2, rec.source)
        } else {
            let mulaw = rec.mixer.finish();
            ctx.store_recording_as(rec.sid, &mulaw, rec.source)
        };
        if let Some(url) = rec.status_callback {
            ctx.recording_callback(url, &info);
        }
    }
    let secs = duration.as_secs();
    let now = SystemTime::now();
    ctx.set_status(final_status);
    ctx.shared.update_call(&ctx.sid, |c| {
        c.end_time = Some(now);
        c.duration_secs = Some(secs);
    });
    ctx.status_callback(final_status, Some(secs));
    let Ctx {
        callbacks,
        mut ear,
        journal,
        conversation,
        ..
    } = ctx;
    callbacks.drain().await;
    let mut report = journal.snapshot();
    report.heard_mulaw = ear.take_heard();
    report.conversation_mulaw = conversation.finish();
    report.final_status = final_status.to_owned();
    report.duration = duration;
    shared.finish_call(report.clone());
    report
}
