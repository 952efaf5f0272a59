//! The call's shared logbook, written by the verb runner and by callback tasks alike.
//!
//! Status callbacks run on their own task so they never hold up the media stream, yet
//! their latencies and failures belong in the same report; a cloneable handle around
//! one mutex-guarded report gives every task the same clock and the same timeline.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::ProtocolError;
use crate::report::{CallReport, TimelineEntry, TimelineKind};

#[derive(Clone)]
pub(crate) struct Journal(Arc<Inner>);

struct Inner {
    start: Instant,
    report: Mutex<CallReport>,
}

impl Journal {
    pub(crate) fn new(report: CallReport) -> Self {
        Self(Arc::new(Inner {
            start: Instant::now(),
            report: Mutex::new(report),
        }))
    }

    pub(crate) fn start(&self) -> Instant {
        self.0.start
    }

    fn lock(&self) -> MutexGuard<'_, CallReport> {
        self.0.report.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn log(&self, kind: TimelineKind, detail: impl Into<String>) {
        let at = self.0.start.elapsed();
        let detail = detail.into();
        tracing::debug!(target: "sim", ?kind, %detail);
        self.lock()
            .timeline
            .push(TimelineEntry { at, kind, detail });
    }

    /// Records a protocol error with Twilio's code, in the list and in the timeline.
    pub(crate) fn error(&self, code: u32, message: impl Into<String>) {
        let message = message.into();
        tracing::warn!(target: "sim", code, %message, "twilio protocol error");
        self.log(TimelineKind::ProtocolError, format!("{code}: {message}"));
        self.lock()
            .protocol_errors
            .push(ProtocolError { code, message });
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut CallReport) -> R) -> R {
        f(&mut self.lock())
    }

    pub(crate) fn snapshot(&self) -> CallReport {
        self.lock().clone()
    }
}
