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
//!
//! Two registries sit behind the same interface. In memory (one node, the SQLite default)
//! the ticker scans the map. Shared (the PostgreSQL default) the call is also written to
//! `call_watch`: a socket landing on another node attaches to it there, frame times are
//! flushed in batches once a second, every node's ticker asks the table what is due, and
//! an atomic claim lets exactly one node fire. Armed calls survive a node restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::prompts::Prompts;
use crate::store::{Db, calls, watch};

/// How often armed calls are checked.
const TICK: Duration = Duration::from_millis(250);
/// On a shared registry, how long after the start timeout a local entry without a stream
/// on this node is kept.
const LOCAL_GRACE: Duration = Duration::from_secs(60);

/// Live state of one armed call, shared with its media socket.
#[derive(Debug)]
pub struct CallWatch {
    armed_at: Instant,
    /// `armed_at` as epoch milliseconds, for the shared registry.
    armed_epoch_ms: i64,
    /// The last frame time already written to the shared registry.
    flushed_ms: AtomicU64,
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

    /// The public base URL seen when the call was answered.
    pub fn base(&self) -> &str {
        &self.base
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

/// Where armed calls are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryMode {
    /// This process only.
    Memory,
    /// The database's `call_watch` table, shared by every node.
    Shared,
}

pub struct Watchdog {
    calls: Mutex<HashMap<String, Arc<CallWatch>>>,
    mode: RegistryMode,
    start_timeout: Duration,
    media_timeout: Duration,
    db: Db,
    twilio: Option<telephony::rest::TwilioClient>,
    prompts: Arc<Prompts>,
    /// When this process made its watchdog (epoch ms): calls older than this were
    /// answered by an earlier process.
    born_ms: i64,
}

impl Watchdog {
    pub fn new(
        mode: RegistryMode,
        start_timeout: Duration,
        media_timeout: Duration,
        db: Db,
        twilio: Option<telephony::rest::TwilioClient>,
        prompts: Arc<Prompts>,
    ) -> Arc<Self> {
        Arc::new(Watchdog {
            calls: Mutex::default(),
            mode,
            start_timeout,
            media_timeout,
            db,
            twilio,
            prompts,
            born_ms: crate::store::now_ms(),
        })
    }

    fn new_watch(base: &str, armed_ago: Duration) -> Arc<CallWatch> {
        let now = Instant::now();
        Arc::new(CallWatch {
            armed_at: now.checked_sub(armed_ago).unwrap_or(now),
            armed_epoch_ms: crate::store::now_ms() - armed_ago.as_millis() as i64,
            flushed_ms: AtomicU64::new(0),
            base: base.to_string(),
            started: AtomicBool::new(false),
            last_frame_ms: AtomicU64::new(0),
            fired: AtomicBool::new(false),
        })
    }

    pub fn mode(&self) -> RegistryMode {
        self.mode
    }

    /// Arms this node's watch for a call just answered (on a shared registry the
    /// `call_watch` row is written with the call row, by `store::calls::insert_armed`).
    pub fn arm_local(&self, call_sid: &str, base: &str) -> Arc<CallWatch> {
        self.calls
            .lock()
            .expect("watchdog map")
            .entry(call_sid.to_string())
            .or_insert_with(|| Self::new_watch(base, Duration::ZERO))
            .clone()
    }

    /// The watch of a call waiting for its stream, found locally or, when shared, on any node.
    pub async fn attach(&self, call_sid: &str) -> Option<Arc<CallWatch>> {
        if let Some(w) = self.get(call_sid) {
            return Some(w);
        }
        if self.mode != RegistryMode::Shared {
            return None;
        }
        let (base, armed_at) = watch::pending(&self.db, call_sid).await.ok().flatten()?;
        let ago = Duration::from_millis((crate::store::now_ms() - armed_at).max(0) as u64);
        let w = Self::new_watch(&base, ago);
        Some(
            self.calls
                .lock()
                .expect("watchdog map")
                .entry(call_sid.to_string())
                .or_insert(w)
                .clone(),
        )
    }

    /// Records the stream's `start` for the call.
    pub fn started(&self, call_sid: &str, w: &CallWatch) {
        w.started();
        if self.mode == RegistryMode::Shared {
            let db = self.db.clone();
            let sid = call_sid.to_string();
            tokio::spawn(async move {
                if let Err(e) = watch::started(&db, &sid).await {
                    tracing::error!(call_sid = %sid, error = %e, "cannot record the stream start");
                }
            });
        }
    }

    /// The watch of an armed call on this node.
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
        if self.mode == RegistryMode::Shared {
            let db = self.db.clone();
            let sid = call_sid.to_string();
            tokio::spawn(async move {
                let _ = watch::disarm(&db, &sid).await;
            });
        }
    }

    pub fn armed(&self) -> usize {
        self.calls.lock().expect("watchdog map").len()
    }

    /// Checks every armed call until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            ticks += 1;
            match self.mode {
                RegistryMode::Memory => self.check().await,
                RegistryMode::Shared => {
                    if ticks.is_multiple_of(4) {
                        self.flush_frames().await;
                    }
                    self.check_shared().await;
                }
            }
        }
    }

    /// Writes frame times that moved since the last flush, in one batch.
    async fn flush_frames(&self) {
        let times: Vec<(String, i64)> = {
            let mut calls = self.calls.lock().expect("watchdog map");
            // A call answered here whose stream went to another node (or never came) is
            // watched through the shared table: its local entry would only pile up.
            let stale = self.start_timeout + LOCAL_GRACE;
            calls.retain(|_, w| w.started.load(Ordering::Acquire) || w.armed_at.elapsed() < stale);
            calls
                .iter()
                .filter(|(_, w)| w.started.load(Ordering::Acquire))
                .filter_map(|(sid, w)| {
                    let last = w.last_frame_ms.load(Ordering::Relaxed);
                    (w.flushed_ms.swap(last, Ordering::Relaxed) != last)
                        .then(|| (sid.clone(), w.armed_epoch_ms + last as i64))
                })
                .collect()
        };
        if !times.is_empty()
            && let Err(e) = watch::frames(&self.db, &times).await
        {
            tracing::warn!(error = %e, calls = times.len(), "cannot flush frame times");
        }
    }

    async fn check_shared(self: &Arc<Self>) {
        let due = match watch::due(
            &self.db,
            self.start_timeout.as_millis() as i64,
            self.media_timeout.as_millis() as i64,
        )
        .await
        {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "watchdog cannot read the shared registry");
                return;
            }
        };
        for (sid, base, started) in due {
            let reason = if started.is_none() {
                FallbackReason::NoStreamStart
            } else {
                FallbackReason::MediaTimeout
            };
            if let Some(w) = self.get(&sid) {
                w.fired.store(true, Ordering::Release);
            }
            if matches!(watch::claim(&self.db, &sid).await, Ok(true)) {
                let this = self.clone();
                tokio::spawn(async move { this.redirect(&sid, &base, reason).await });
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
        if self.mode == RegistryMode::Shared
            && matches!(watch::claim(&self.db, call_sid).await, Ok(false))
        {
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
            Ok(telephony::rest::UpdateOutcome::AlreadyEnded) => {
                self.settle_ended(twilio, call_sid, reason).await;
                false
            }
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

/// Calls whose watcher died with its process, and calls that ended unseen.
///
/// A node killed mid-call takes its media sockets with it, and Twilio's callbacks for
/// those calls (`stream_ended`, the final `call_status`) hit a closed port. The call row
/// would stay `in-progress` for ever. So a restarted single node re-arms every unfinished
/// call from the database (the shared registry keeps them by itself), and a redirect that
/// finds the call already over takes the call's final status from Twilio instead.
impl Watchdog {
    /// At start on the in-memory registry: watches again every call that was live when the
    /// process stopped; each is due at once, so it is redirected to the recording fallback
    /// if still up, or settled if over. `base` is the public base URL for the fallback.
    pub async fn rearm_unwatched(&self, base: &str) {
        if self.mode != RegistryMode::Memory {
            return;
        }
        let since = crate::store::now_ms() - UNWATCHED_WINDOW.as_millis() as i64;
        let rows = match calls::unwatched(&self.db, since, self.born_ms).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "watchdog cannot list unfinished calls at start");
                return;
            }
        };
        let long_ago = self.start_timeout.max(self.media_timeout) + Duration::from_secs(1);
        let mut map = self.calls.lock().expect("watchdog map");
        for (sid, started) in &rows {
            let w = Self::new_watch(base, long_ago);
            if started.is_some() {
                w.started.store(true, Ordering::Release);
            }
            map.entry(sid.clone()).or_insert(w);
        }
        if !rows.is_empty() {
            tracing::warn!(
                calls = rows.len(),
                "watchdog: unfinished calls from before the restart are checked again"
            );
        }
    }

    /// The call ended while no node watched it: record Twilio's final status, and that the
    /// fallback just claimed never ran.
    async fn settle_ended(
        &self,
        twilio: &telephony::rest::TwilioClient,
        call_sid: &str,
        reason: FallbackReason,
    ) {
        let (status, duration) = match twilio.fetch_call(call_sid).await {
            Ok(c) if calls::status_rank(&c.status) == calls::status_rank("completed") => {
                (c.status, c.duration.map(i64::from))
            }
            _ => ("completed".to_string(), None),
        };
        tracing::warn!(
            call_sid,
            reason = reason.as_str(),
            status,
            "WATCHDOG_REDIRECT not needed: the call already ended unseen; settled"
        );
        if let Err(e) =
            calls::settle_ended(&self.db, call_sid, reason.as_str(), &status, duration).await
        {
            tracing::error!(call_sid, error = %e, "watchdog cannot settle an ended call");
        }
    }
}

/// How far back a restarted node looks for calls it was serving (Twilio's longest call).
const UNWATCHED_WINDOW: Duration = Duration::from_secs(4 * 3600);
