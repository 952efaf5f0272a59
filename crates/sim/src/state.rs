//! The sim's shared memory: calls, recordings, messages and every REST request seen.
//!
//! The REST API (driven by the server) and the call runners (driven by the sim) meet
//! here: a Calls update finds the live call's control channel, a Recording the Record
//! verb captured is served by the API, and tests read the REST log to prove the server
//! redirected a call exactly once.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use tokio::sync::{Notify, mpsc};

use crate::config::SimConfig;
use crate::error::ProtocolError;
use crate::report::{CallReport, RecordingInfo};
use crate::script::CallerScript;

/// One request the fake REST API received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestRequest {
    pub method: String,
    pub path: String,
    /// Form body fields (POST) or query parameters (GET), in order.
    pub form: Vec<(String, String)>,
    pub basic_auth_ok: bool,
}

impl RestRequest {
    /// The first value of form field `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A call as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub sid: String,
    pub from: String,
    pub to: String,
    /// `inbound` or `outbound-api`.
    pub direction: String,
    /// `queued`, `ringing`, `in-progress`, `completed`, `failed`...
    pub status: String,
    pub date_created: SystemTime,
    pub start_time: Option<SystemTime>,
    pub end_time: Option<SystemTime>,
    pub duration_secs: Option<u64>,
}

/// A message created through the REST API and the status callbacks it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub status: String,
    pub status_callback: Option<String>,
    pub date_created: SystemTime,
    /// `(MessageStatus, HTTP status the server answered)`, in the order sent.
    pub callbacks: Vec<(String, u16)>,
}

/// An instruction from the REST API to a live call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    Twiml(String),
    Url {
        url: String,
        method: String,
    },
    Hangup,
    /// Start recording the whole call (REST `POST /Calls/{sid}/Recordings.json`).
    StartRecording {
        sid: String,
        status_callback: Option<String>,
        /// Caller and agent on their own channels (`channels="dual"`).
        dual: bool,
        /// `StartCallRecordingAPI` (REST), `OutboundAPI`, or `StartCallRecordingTwiML`.
        source: &'static str,
    },
}

pub(crate) struct StoredRecording {
    pub info: RecordingInfo,
    pub wav: Vec<u8>,
    pub created: SystemTime,
}

struct LiveCall {
    info: CallInfo,
    control: Option<mpsc::UnboundedSender<Control>>,
}

pub(crate) struct Shared {
    pub cfg: SimConfig,
    pub api_base: String,
    pub http: reqwest::Client,
    rest_log: Mutex<Vec<RestRequest>>,
    calls: Mutex<HashMap<String, LiveCall>>,
    recordings: Mutex<Vec<StoredRecording>>,
    messages: Mutex<Vec<MessageInfo>>,
    callee_script: Mutex<CallerScript>,
    reports: Mutex<HashMap<String, CallReport>>,
    pub report_ready: Notify,
    errors: Mutex<Vec<ProtocolError>>,
    /// Recording media is served this much later (a slow Twilio), in milliseconds.
    pub recording_delay_ms: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(crate) fn new(cfg: SimConfig, api_base: String) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .user_agent("TwilioProxy/1.1")
            .build()
            .expect("reqwest client builds");
        Self {
            cfg,
            api_base,
            http,
            rest_log: Mutex::default(),
            calls: Mutex::default(),
            recordings: Mutex::default(),
            messages: Mutex::default(),
            callee_script: Mutex::new(CallerScript::default_callee()),
            reports: Mutex::default(),
            report_ready: Notify::new(),
            errors: Mutex::default(),
            recording_delay_ms: Default::default(),
        }
    }

    pub(crate) fn log_rest(&self, req: RestRequest) {
        lock(&self.rest_log).push(req);
    }

    pub(crate) fn rest_log(&self) -> Vec<RestRequest> {
        lock(&self.rest_log).clone()
    }

    pub(crate) fn register_call(&self, info: CallInfo, control: mpsc::UnboundedSender<Control>) {
        lock(&self.calls).insert(
            info.sid.clone(),
            LiveCall {
                info,
                control: Some(control),
            },
        );
    }

    pub(crate) fn call(&self, sid: &str) -> Option<CallInfo> {
        lock(&self.calls).get(sid).map(|c| c.info.clone())
    }

    pub(crate) fn calls(&self) -> Vec<CallInfo> {
        let mut v: Vec<CallInfo> = lock(&self.calls).values().map(|c| c.info.clone()).collect();
        v.sort_by_key(|c| c.date_created);
        v
    }

    /// Sends `control` to the call if it is still live; returns its info.
    pub(crate) fn control_call(&self, sid: &str, control: Control) -> Option<CallInfo> {
        let calls = lock(&self.calls);
        let call = calls.get(sid)?;
        let tx = call.control.as_ref()?;
        tx.send(control).ok()?;
        Some(call.info.clone())
    }

    pub(crate) fn update_call(&self, sid: &str, f: impl FnOnce(&mut CallInfo)) {
        if let Some(call) = lock(&self.calls).get_mut(sid) {
            f(&mut call.info);
        }
    }

    /// The call has ended: no more control, and its report is available.
    pub(crate) fn finish_call(&self, report: CallReport) {
        if let Some(call) = lock(&self.calls).get_mut(&report.call_sid) {
            call.control = None;
        }
        lock(&self.reports).insert(report.call_sid.clone(), report);
        self.report_ready.notify_waiters();
    }

    pub(crate) fn report(&self, sid: &str) -> Option<CallReport> {
        lock(&self.reports).get(sid).cloned()
    }

    pub(crate) fn reports(&self) -> Vec<CallReport> {
        lock(&self.reports).values().cloned().collect()
    }

    pub(crate) fn add_recording(&self, rec: StoredRecording) {
        lock(&self.recordings).push(rec);
    }

    pub(crate) fn with_recordings<R>(&self, f: impl FnOnce(&[StoredRecording]) -> R) -> R {
        f(&lock(&self.recordings))
    }

    pub(crate) fn add_message(&self, msg: MessageInfo) {
        lock(&self.messages).push(msg);
    }

    pub(crate) fn update_message(&self, sid: &str, f: impl FnOnce(&mut MessageInfo)) {
        if let Some(m) = lock(&self.messages).iter_mut().find(|m| m.sid == sid) {
            f(m);
        }
    }

    pub(crate) fn messages(&self) -> Vec<MessageInfo> {
        lock(&self.messages).clone()
    }

    pub(crate) fn callee_script(&self) -> CallerScript {
        lock(&self.callee_script).clone()
    }

    pub(crate) fn set_callee_script(&self, script: CallerScript) {
        *lock(&self.callee_script) = script;
    }

    /// A protocol error outside any call (message status callbacks).
    pub(crate) fn error(&self, err: ProtocolError) {
        tracing::warn!(target: "sim", code = err.code, message = %err.message, "twilio protocol error");
        lock(&self.errors).push(err);
    }

    pub(crate) fn errors(&self) -> Vec<ProtocolError> {
        lock(&self.errors).clone()
    }
}
