//! The PostgreSQL-backed stream registry, so one call's webhook and socket may land on
//! different nodes behind a load balancer (V8, V9).
//!
//! The webhook writes the call's `call_watch` row with its call row. A socket landing on
//! another node attaches to that row; the node keeps a local watch for the socket's hot
//! path and flushes frame times in batches once a second, never per frame. Every node's
//! ticker asks the table what is due, and an atomic claim lets exactly one node fire.
//! Armed calls survive a node restart.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::FallbackReason;
use super::outage::Outage;
use super::registry::{CallWatch, Due, LocalWatches, RegistryMode, StreamRegistry, Timeouts};
use crate::store::{Db, watch};

/// How long after the start timeout a local entry without a stream on this node is kept.
const LOCAL_GRACE: Duration = Duration::from_secs(60);
/// Frame times are flushed every this many ticks (once a second at 250 ms ticks).
const FLUSH_EVERY_TICKS: u64 = 4;
/// How long a stream's start waits for the shared registry to say it is the call's only one.
const START_CLAIM_BOUND: Duration = Duration::from_millis(400);
/// A `flushed_ms` no frame time equals: the next flush writes the call's time.
const UNFLUSHED: u64 = u64::MAX;

pub struct SharedRegistry {
    db: Db,
    /// This node's watches (answered here, or streaming here).
    calls: LocalWatches,
    /// Frame-time flushes that fail, logged once per outage.
    flush_outage: Mutex<Outage>,
}

impl SharedRegistry {
    pub fn new(db: Db) -> SharedRegistry {
        SharedRegistry {
            db,
            calls: LocalWatches::default(),
            flush_outage: Mutex::new(Outage::new("flush")),
        }
    }

    /// Writes frame times that moved since the last flush, in one batch.
    async fn flush_frames(&self, start_timeout: Duration) {
        let times: Vec<(String, i64)> = {
            let mut calls = self.calls.lock();
            // A call answered here whose stream went to another node (or never came) is
            // watched through the shared table: its local entry would only pile up.
            let stale = start_timeout + LOCAL_GRACE;
            calls.retain(|_, w| w.is_started() || w.armed_at.elapsed() < stale);
            calls
                .iter()
                .filter(|(_, w)| w.is_started())
                .filter_map(|(sid, w)| {
                    let last = w.last_frame_ms.load(Ordering::Relaxed);
                    (w.flushed_ms.swap(last, Ordering::Relaxed) != last)
                        .then(|| (sid.clone(), w.armed_epoch_ms + last as i64))
                })
                .collect()
        };
        if times.is_empty() {
            return;
        }
        let result = watch::frames(&self.db, &times).await;
        if result.is_err() {
            // Not written: these times go again at the next flush.
            for (sid, _) in &times {
                if let Some(w) = self.calls.get(sid) {
                    w.flushed_ms.store(UNFLUSHED, Ordering::Relaxed);
                }
            }
        }
        let mut outage = self.flush_outage.lock().expect("flush outage");
        match result {
            Ok(()) => outage.succeeded(),
            Err(e) => outage.failed(&e),
        };
    }
}

#[async_trait]
impl StreamRegistry for SharedRegistry {
    fn mode(&self) -> RegistryMode {
        RegistryMode::Shared
    }

    fn survives_restart(&self) -> bool {
        true
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
        if let Some(w) = self.calls.get(call_sid) {
            return Some(w);
        }
        let (base, armed_at) = watch::pending(&self.db, call_sid).await.ok().flatten()?;
        let ago = Duration::from_millis((crate::store::now_ms() - armed_at).max(0) as u64);
        Some(self.arm(call_sid, &base, ago, false))
    }

    async fn started(&self, call_sid: &str, w: &CallWatch) -> bool {
        if !w.started() {
            return false;
        }
        // Another node may hold the call's stream already: the shared row decides, if it
        // answers in time (a sick database neither delays nor refuses a caller whose token
        // was checked).
        let claim = tokio::time::timeout(START_CLAIM_BOUND, watch::start(&self.db, call_sid));
        match claim.await {
            Ok(Ok(watch::Start::Taken)) => false,
            Ok(Ok(watch::Start::Won | watch::Start::NotShared)) => true,
            Ok(Err(e)) => {
                tracing::error!(call_sid, error = %e, "cannot record the stream start");
                true
            }
            Err(_) => {
                tracing::error!(call_sid, "the stream start was not recorded in time");
                true
            }
        }
    }

    fn get(&self, call_sid: &str) -> Option<Arc<CallWatch>> {
        self.calls.get(call_sid)
    }

    fn disarm(&self, call_sid: &str) {
        self.calls.remove(call_sid);
        let db = self.db.clone();
        let sid = call_sid.to_string();
        tokio::spawn(async move {
            let _ = watch::disarm(&db, &sid).await;
        });
    }

    fn armed(&self) -> usize {
        self.calls.len()
    }

    async fn due(&self, tick: u64, timeouts: Timeouts) -> Result<Vec<Due>, sqlx::Error> {
        if tick.is_multiple_of(FLUSH_EVERY_TICKS) {
            self.flush_frames(timeouts.start).await;
        }
        let rows = watch::due(
            &self.db,
            timeouts.start.as_millis() as i64,
            timeouts.media.as_millis() as i64,
        )
        .await?;
        let mut due = Vec::new();
        for (call_sid, base, started) in rows {
            let reason = if started.is_none() {
                FallbackReason::NoStreamStart
            } else {
                FallbackReason::MediaTimeout
            };
            let local = self.calls.get(&call_sid);
            if let Some(w) = &local {
                if w.alive_here(timeouts) {
                    // The row is behind this node's own view: write the time, do not fire.
                    w.flushed_ms.store(UNFLUSHED, Ordering::Relaxed);
                    continue;
                }
                w.take_fire();
            }
            if matches!(watch::claim(&self.db, &call_sid).await, Ok(true)) {
                due.push(Due {
                    call_sid,
                    base,
                    reason,
                    watch: local,
                });
            }
        }
        Ok(due)
    }

    async fn claim(&self, call_sid: &str) -> bool {
        // A database that cannot answer does not keep a caller in silence.
        !matches!(watch::claim(&self.db, call_sid).await, Ok(false))
    }
}
