//! The stream registry's interface, the per-call watch it hands out, and the in-memory
//! registry of a single node.
//!
//! The registry holds, per armed call: when it was armed (at `incoming_call`), whether its
//! stream started, the time of its last media frame, and whether the fallback fired. The
//! watchdog only talks to it through [`StreamRegistry`], so the single-node map and the
//! PostgreSQL table (`super::shared`) are interchangeable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::FallbackReason;

/// Live state of one armed call, shared with its media socket.
#[derive(Debug)]
pub struct CallWatch {
    pub(super) armed_at: Instant,
    /// `armed_at` as epoch milliseconds, for the shared registry.
    pub(super) armed_epoch_ms: i64,
    /// The last frame time already written to the shared registry.
    pub(super) flushed_ms: AtomicU64,
    /// Public base URL seen when the call was answered, for the fallback TwiML.
    pub(super) base: String,
    started: AtomicBool,
    /// Milliseconds after `armed_at` of the last media frame.
    pub(super) last_frame_ms: AtomicU64,
    fired: AtomicBool,
    /// Cancelled when the fallback could not be made by a redirect: the call's socket on
    /// this node then closes, and Twilio's `<Connect action>` offers the recording.
    end: tokio_util::sync::CancellationToken,
}

impl CallWatch {
    /// A watch armed `armed_ago` before now (zero for a call just answered).
    pub(super) fn new(base: &str, armed_ago: Duration, started: bool) -> Arc<CallWatch> {
        let now = Instant::now();
        Arc::new(CallWatch {
            armed_at: now.checked_sub(armed_ago).unwrap_or(now),
            armed_epoch_ms: crate::store::now_ms() - armed_ago.as_millis() as i64,
            flushed_ms: AtomicU64::new(0),
            base: base.to_string(),
            started: AtomicBool::new(started),
            last_frame_ms: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            end: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// Records the stream's `start`; true only for the first (a call has one stream, so a
    /// second socket presenting the same token is refused, S3).
    pub fn started(&self) -> bool {
        if self.started.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.frame();
        true
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

    /// Asks the call's socket on this node to close (the redirect could not be made).
    pub fn end_stream(&self) {
        self.end.cancel();
    }

    /// Resolves once [`Self::end_stream`] was called.
    pub async fn stream_ended(&self) {
        self.end.cancelled().await
    }

    pub fn has_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    pub(super) fn is_started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Whether this node is receiving the call's stream and its last frame is recent: then
    /// a shared row that says otherwise is only behind (its frame times not yet written,
    /// as just after a database outage) and must not cut a live caller off.
    pub(super) fn alive_here(&self, t: Timeouts) -> bool {
        self.is_started() && self.due(Instant::now(), t).is_none()
    }

    /// Marks the fallback as fired; true for the one caller that fired it first.
    pub(super) fn take_fire(&self) -> bool {
        !self.fired.swap(true, Ordering::AcqRel)
    }

    /// Why this call is due for the fallback at `now`, if it is.
    fn due(&self, now: Instant, t: Timeouts) -> Option<FallbackReason> {
        let since_armed = now.saturating_duration_since(self.armed_at);
        if !self.is_started() {
            (since_armed >= t.start).then_some(FallbackReason::NoStreamStart)
        } else {
            let last = Duration::from_millis(self.last_frame_ms.load(Ordering::Relaxed));
            (since_armed.saturating_sub(last) >= t.media).then_some(FallbackReason::MediaTimeout)
        }
    }
}

/// The watchdog's two timers (V8).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From `incoming_call` to the stream's `start`.
    pub start: Duration,
    /// Between media frames once the stream started.
    pub media: Duration,
}

/// A call due for the fallback, already claimed for this node (it fires at most once).
#[derive(Debug)]
pub struct Due {
    pub call_sid: String,
    pub base: String,
    pub reason: FallbackReason,
    /// This node's watch of the call, when it has one (its socket may be here).
    pub watch: Option<Arc<CallWatch>>,
}

/// Which registry serves this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryMode {
    /// This process only.
    Memory,
    /// The database's `call_watch` table, shared by every node.
    Shared,
}

/// Where armed calls are kept, per call: armed, stream started, last frame, fallback fired.
#[async_trait]
pub trait StreamRegistry: Send + Sync {
    fn mode(&self) -> RegistryMode;

    /// Whether armed calls outlive this process (otherwise a restarted node re-arms the
    /// calls it was serving from the call log).
    fn survives_restart(&self) -> bool;

    /// Arms this node's watch for a call, armed `armed_ago` before now. On a shared
    /// registry the durable entry is written with the call row, by the webhook.
    fn arm(&self, call_sid: &str, base: &str, armed_ago: Duration, started: bool)
    -> Arc<CallWatch>;

    /// The watch of a call waiting for its stream, found on this node or, when the
    /// registry is shared, armed on any node.
    async fn attach(&self, call_sid: &str) -> Option<Arc<CallWatch>>;

    /// Records the stream's `start` for the call; false when the call's stream already
    /// started (here or, when shared, on another node): that socket is refused.
    async fn started(&self, call_sid: &str, watch: &CallWatch) -> bool;

    /// The watch of an armed call on this node.
    fn get(&self, call_sid: &str) -> Option<Arc<CallWatch>>;

    /// Stops watching a call (it completed, its stream ended, or its fallback ran).
    fn disarm(&self, call_sid: &str);

    /// Calls armed on this node.
    fn armed(&self) -> usize;

    /// One tick of the watchdog (`tick` counts from 1): housekeeping, then the calls due
    /// for the fallback, each claimed so that exactly one caller fires it. An error means
    /// the registry could not be read this time.
    async fn due(&self, tick: u64, timeouts: Timeouts) -> Result<Vec<Due>, sqlx::Error>;

    /// Claims the right to fire outside the ticker (`*`, agent failure); false when the
    /// fallback already ran elsewhere.
    async fn claim(&self, call_sid: &str) -> bool;
}

/// This node's armed calls by call SID.
#[derive(Default)]
pub(super) struct LocalWatches(Mutex<HashMap<String, Arc<CallWatch>>>);

impl LocalWatches {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<CallWatch>>> {
        self.0.lock().expect("watchdog map")
    }

    /// The call's watch, made by `make` when the call has none yet.
    pub(super) fn arm(
        &self,
        call_sid: &str,
        make: impl FnOnce() -> Arc<CallWatch>,
    ) -> Arc<CallWatch> {
        self.lock()
            .entry(call_sid.to_string())
            .or_insert_with(make)
            .clone()
    }

    pub(super) fn get(&self, call_sid: &str) -> Option<Arc<CallWatch>> {
        self.lock().get(call_sid).cloned()
    }

    pub(super) fn remove(&self, call_sid: &str) {
        self.lock().remove(call_sid);
    }

    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// One node's registry: the ticker scans the map (microseconds for a thousand calls).
#[derive(Default)]
pub struct MemoryRegistry {
    calls: LocalWatches,
}

#[async_trait]
impl StreamRegistry for MemoryRegistry {
    fn mode(&self) -> RegistryMode {
        RegistryMode::Memory
    }

    fn survives_restart(&self) -> bool {
        false
    }

    fn arm(
        &self,
        call_sid: &str,
        base: &str,
        armed_ago: Duration,
        started: bool,
    ) -> Arc<CallWatch> {
        self.calls
            .arm(call_sid, || CallWatch::new(base, armed_ago, started))
    }

    async fn attach(&self, call_sid: &str) -> Option<Arc<CallWatch>> {
        self.calls.get(call_sid)
    }

    async fn started(&self, _call_sid: &str, watch: &CallWatch) -> bool {
        watch.started()
    }

    fn get(&self, call_sid: &str) -> Option<Arc<CallWatch>> {
        self.calls.get(call_sid)
    }

    fn disarm(&self, call_sid: &str) {
        self.calls.remove(call_sid);
    }

    fn armed(&self) -> usize {
        self.calls.len()
    }

    async fn due(&self, _tick: u64, timeouts: Timeouts) -> Result<Vec<Due>, sqlx::Error> {
        let now = Instant::now();
        let mut calls = self.calls.lock();
        let due: Vec<(String, FallbackReason)> = calls
            .iter()
            .filter_map(|(sid, w)| w.due(now, timeouts).map(|r| (sid.clone(), r)))
            .collect();
        Ok(due
            .into_iter()
            .filter_map(|(call_sid, reason)| {
                let w = calls.remove(&call_sid)?;
                w.take_fire().then(|| Due {
                    call_sid,
                    base: w.base.clone(),
                    reason,
                    watch: Some(w.clone()),
                })
            })
            .collect())
    }

    async fn claim(&self, _call_sid: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        start: Duration::from_secs(8),
        media: Duration::from_secs(6),
    };

    #[tokio::test(start_paused = true)]
    async fn memory_registry_fires_each_call_once_for_the_right_reason() {
        let r = MemoryRegistry::default();
        let silent = r.arm("CA1", "https://a", Duration::ZERO, false);
        let streaming = r.arm("CA2", "https://a", Duration::ZERO, false);
        assert!(r.started("CA2", &streaming).await);
        assert!(
            !r.started("CA2", &streaming).await,
            "a call's stream starts once"
        );
        assert!(r.due(1, T).await.unwrap().is_empty());
        tokio::time::advance(Duration::from_secs(7)).await;
        streaming.frame();
        assert!(r.due(2, T).await.unwrap().is_empty(), "nothing is due yet");
        tokio::time::advance(Duration::from_secs(1)).await;
        let due = r.due(3, T).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].call_sid, "CA1");
        assert_eq!(due[0].reason, FallbackReason::NoStreamStart);
        assert!(silent.has_fired());
        assert_eq!(r.armed(), 1, "a call that fired is no longer watched");
        tokio::time::advance(Duration::from_secs(6)).await;
        let due = r.due(4, T).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].reason, FallbackReason::MediaTimeout);
        assert!(r.due(5, T).await.unwrap().is_empty(), "never twice");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_already_fired_is_not_due_again() {
        let r = MemoryRegistry::default();
        let w = r.arm("CA1", "https://a", Duration::ZERO, false);
        assert!(w.take_fire(), "`*` fires first");
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(r.due(1, T).await.unwrap().is_empty());
        assert_eq!(r.armed(), 0);
    }
}
