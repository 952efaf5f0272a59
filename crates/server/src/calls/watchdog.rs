//! The watchdog (V8): a call whose stream never starts, or goes silent, is sent to recording.
//!
//! The seeds' calls died as "greeting, then silence". So every answered call is armed here
//! when `incoming_call` returns its TwiML. If no `start` arrives within the start timeout,
//! or no media frame for the media timeout after `start`, the live call is redirected with
//! Twilio's REST Calls update to the fallback TwiML (prompt, `<Record>`, `<Hangup/>`). It
//! fires at most once per call (the call row's `fallback_reason` is the durable guard),
//! is disarmed when the call completes, and never loops.
//!
//! Frame times are kept in an atomic per call, so the media socket's hot path takes no lock.
//! One ticker scans all armed calls, which costs microseconds for a thousand calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::prompts::Prompts;
use crate::store::{Db, calls};

/// How often armed calls are checked.
const TICK: Duration = Duration::from_millis(250);

/// Live state of one armed call, shared with its media socket.
#[derive(Debug)]
pub struct CallWatch {
    armed_at: Instant,
    /// Public base URL seen when the call was answered, for the fallback TwiML.
    base: String,
    started: AtomicBool,
    /// Milliseconds after `armed_at` of the last media frame.
    last_frame_ms: AtomicU64,
    fired: AtomicBool,
}

impl CallWatch {
    /// Records the stream's `start`.
    pub fn started(&self) {
        self.frame();
        self.started.store(true, Ordering::Release);
    }

    /// Records a media frame (lock-free; called 50 times a second per call).
    pub fn frame(&self) {
        let ms = self.armed_at.elapsed().as_millis() as u64;
        self.last_frame_ms.store(ms, Ordering::Relaxed);
    }

    pub fn has_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// Why a call was sent to the recording fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackReason {
    NoStreamStart,
    MediaTimeout,
    DtmfStar,
    AgentFailure,
}

impl FallbackReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::NoStreamStart => "no_stream_start",
            FallbackReason::MediaTimeout => "media_timeout",
            FallbackReason::DtmfStar => "dtmf_star",
            FallbackReason::AgentFailure => "agent_failure",
        }
    }
}

pub struct Watchdog {
    calls: Mutex<HashMap<String, Arc<CallWatch>>>,
    start_timeout: Duration,
    media_timeout: Duration,
    db: Db,
    twilio: Option<telephony::rest::TwilioClient>,
    prompts: Arc<Prompts>,
}

impl Watchdog {
    pub fn new(
        start_timeout: Duration,
        media_timeout: Duration,
        db: Db,
        twilio: Option<telephony::rest::TwilioClient>,
        prompts: Arc<Prompts>,
    ) -> Arc<Self> {
        Arc::new(Watchdog {
            calls: Mutex::default(),
            start_timeout,
            media_timeout,
            db,
            twilio,
            prompts,
        })
    }

    /// Arms the watchdog for a call just answered.
    pub fn arm(&self, call_sid: &str, base: &str) -> Arc<CallWatch> {
        let watch = Arc::new(CallWatch {
            armed_at: Instant::now(),
            base: base.to_string(),
            started: AtomicBool::new(false),
            last_frame_ms: AtomicU64::new(0),
            fired: AtomicBool::new(false),
        });
        self.calls
            .lock()
            .expect("watchdog map")
            .entry(call_sid.to_string())
            .or_insert(watch)
            .clone()
    }

    /// The watch of an armed call (the media socket takes it at `start`).
    pub fn get(&self, call_sid: &str) -> Option<Arc<CallWatch>> {
        self.calls
            .lock()
            .expect("watchdog map")
            .get(call_sid)
            .cloned()
    }

    /// Stops watching a call (it completed, or its stream ended).
    pub fn disarm(&self, call_sid: &str) {
        self.calls.lock().expect("watchdog map").remove(call_sid);
    }

    pub fn armed(&self) -> usize {
        self.calls.lock().expect("watchdog map").len()
    }

    /// Checks every armed call until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => self.check().await,
            }
        }
    }

    async fn check(self: &Arc<Self>) {
        let now = Instant::now();
        let due: Vec<(String, Arc<CallWatch>, FallbackReason)> = {
            let calls = self.calls.lock().expect("watchdog map");
            calls
                .iter()
                .filter_map(|(sid, w)| {
                    let since_armed = now.saturating_duration_since(w.armed_at);
                    let reason = if !w.started.load(Ordering::Acquire) {
                        (since_armed >= self.start_timeout).then_some(FallbackReason::NoStreamStart)
                    } else {
                        let last = Duration::from_millis(w.last_frame_ms.load(Ordering::Relaxed));
                        (since_armed.saturating_sub(last) >= self.media_timeout)
                            .then_some(FallbackReason::MediaTimeout)
                    };
                    reason.map(|r| (sid.clone(), w.clone(), r))
                })
                .collect()
        };
        for (sid, watch, reason) in due {
            self.disarm(&sid);
            let this = self.clone();
            tokio::spawn(async move { this.fire(&sid, &watch, reason).await });
        }
    }

    /// Sends a live call to the recording fallback, once. Also used for `*` and agent failure.
    pub async fn fire(&self, call_sid: &str, watch: &CallWatch, reason: FallbackReason) -> bool {
        if watch.fired.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.redirect(call_sid, &watch.base, reason).await
    }

    /// Redirects the call unless the call row says a fallback already ran (the durable guard).
    pub async fn redirect(&self, call_sid: &str, base: &str, reason: FallbackReason) -> bool {
        match calls::mark_fallback(&self.db, call_sid, reason.as_str()).await {
            Ok(false) => {
                tracing::info!(
                    call_sid,
                    reason = reason.as_str(),
                    "watchdog: fallback already ran"
                );
                return false;
            }
            Ok(true) => {}
            // Better a redirect on a shaky database than a caller left in silence.
            Err(e) => {
                tracing::error!(call_sid, error = %e, "watchdog: cannot mark fallback; redirecting anyway")
            }
        }
        self.disarm(call_sid);
        let twiml = crate::calls::twiml::fallback(&self.prompts, base).to_xml();
        tracing::warn!(call_sid, reason = reason.as_str(), "WATCHDOG_REDIRECT");
        metrics::counter!("mokdan_watchdog_redirects_total", "reason" => reason.as_str())
            .increment(1);
        let Some(twilio) = &self.twilio else {
            crate::telemetry::count_error("watchdog");
            tracing::error!(
                call_sid,
                "WATCHDOG_REDIRECT impossible: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not configured"
            );
            return false;
        };
        match twilio.update_call_twiml(call_sid, &twiml).await {
            Ok(outcome) => {
                tracing::info!(call_sid, ?outcome, "watchdog redirect sent");
                true
            }
            Err(e) => {
                crate::telemetry::count_error("watchdog");
                tracing::error!(call_sid, error = %e, "WATCHDOG_REDIRECT failed");
                false
            }
        }
    }
}
