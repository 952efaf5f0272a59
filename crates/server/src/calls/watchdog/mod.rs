//! The watchdog (V8): a call whose stream never starts, or goes silent, is sent to recording.
//!
//! The seeds' calls died as "greeting, then silence". So every answered call is armed here
//! when `incoming_call` returns its TwiML. If no `start` arrives within the start timeout,
//! or no media frame for the media timeout after `start`, the live call is redirected with
//! Twilio's REST Calls update to the fallback TwiML (prompt, `<Record>`, `<Hangup/>`). It
//! fires at most once per call (the call row's `fallback_reason` is the durable guard),
//! is disarmed when the call completes, and never loops.
//!
//! Armed calls live in a [`StreamRegistry`]: in memory for one node (the SQLite default,
//! [`MemoryRegistry`]), or in PostgreSQL shared by every node ([`SharedRegistry`]). Frame
//! times are kept in an atomic per call, so the media socket's hot path takes no lock; one
//! ticker asks the registry what is due and redirects it.

mod outage;
mod registry;
mod restart;
mod retry;
mod shared;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use registry::{CallWatch, Due, MemoryRegistry, RegistryMode, StreamRegistry, Timeouts};
pub use shared::SharedRegistry;

use crate::prompts::Prompts;
use crate::store::{Db, calls};

/// How often armed calls are checked.
const TICK: Duration = Duration::from_millis(250);

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
    registry: Arc<dyn StreamRegistry>,
    timeouts: Timeouts,
    db: Db,
    twilio: Option<telephony::rest::TwilioClient>,
    prompts: Arc<Prompts>,
    /// When this process made its watchdog (epoch ms): calls older than this were
    /// answered by an earlier process.
    born_ms: i64,
    /// Redirects being tried again, by call SID; cancelled when the call moves on.
    retries: retry::Retries,
}

impl Watchdog {
    /// A watchdog on the registry `mode` names (the shared one on `db`).
    pub fn new(
        mode: RegistryMode,
        start_timeout: Duration,
        media_timeout: Duration,
        db: Db,
        twilio: Option<telephony::rest::TwilioClient>,
        prompts: Arc<Prompts>,
    ) -> Arc<Self> {
        let registry: Arc<dyn StreamRegistry> = match mode {
            RegistryMode::Memory => Arc::new(MemoryRegistry::default()),
            RegistryMode::Shared => Arc::new(SharedRegistry::new(db.clone())),
        };
        let timeouts = Timeouts {
            start: start_timeout,
            media: media_timeout,
        };
        Self::with_registry(registry, timeouts, db, twilio, prompts)
    }

    pub fn with_registry(
        registry: Arc<dyn StreamRegistry>,
        timeouts: Timeouts,
        db: Db,
        twilio: Option<telephony::rest::TwilioClient>,
        prompts: Arc<Prompts>,
    ) -> Arc<Self> {
        Arc::new(Watchdog {
            registry,
            timeouts,
            db,
            twilio,
            prompts,
            born_ms: crate::store::now_ms(),
            retries: retry::Retries::default(),
        })
    }

    pub fn mode(&self) -> RegistryMode {
        self.registry.mode()
    }

    /// Arms this node's watch for a call just answered (on a shared registry the
    /// `call_watch` row is written with the call row, by `store::call_batch`).
    pub fn arm_local(&self, call_sid: &str, base: &str) -> Arc<CallWatch> {
        self.registry.arm(call_sid, base, Duration::ZERO, false)
    }

    /// The watch of a call waiting for its stream, found locally or, when shared, on any node.
    pub async fn attach(&self, call_sid: &str) -> Option<Arc<CallWatch>> {
        self.registry.attach(call_sid).await
    }

    /// Records the stream's `start` for the call.
    pub async fn started(&self, call_sid: &str, w: &CallWatch) -> bool {
        self.registry.started(call_sid, w).await
    }

    /// The watch of an armed call on this node.
    pub fn get(&self, call_sid: &str) -> Option<Arc<CallWatch>> {
        self.registry.get(call_sid)
    }

    /// Stops watching a call (it completed, or its stream ended), and stops trying to
    /// redirect it.
    pub fn disarm(&self, call_sid: &str) {
        self.registry.disarm(call_sid);
        self.retries.stop(call_sid);
    }

    pub fn armed(&self) -> usize {
        self.registry.armed()
    }

    /// Checks every armed call until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u64;
        let mut outage = outage::Outage::new("read");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            ticks += 1;
            match self.registry.due(ticks, self.timeouts).await {
                Ok(due) => {
                    outage.succeeded();
                    for d in due {
                        let this = self.clone();
                        tokio::spawn(async move {
                            this.redirect(&d.call_sid, &d.base, d.reason, d.watch.as_deref())
                                .await
                        });
                    }
                }
                Err(e) => {
                    outage.failed(&e);
                }
            }
        }
    }

    /// Sends a live call to the recording fallback, once. Also used for `*` and agent failure.
    pub async fn fire(
        self: &Arc<Self>,
        call_sid: &str,
        watch: &CallWatch,
        reason: FallbackReason,
    ) -> bool {
        if !watch.take_fire() || !self.registry.claim(call_sid).await {
            return false;
        }
        self.redirect(call_sid, &watch.base, reason, Some(watch))
            .await
    }

    /// Redirects the call unless the call row says a fallback already ran (the durable
    /// guard). The fallback is marked done only once Twilio accepted the update; an update
    /// that fails is tried again in the background while the call lives, and meanwhile the
    /// stream's end (`stream_ended`) offers the recording itself: a socket of the call on
    /// this node (`watch`) is closed at once so that Twilio gets there without waiting.
    /// True when redirected now.
    pub async fn redirect(
        self: &Arc<Self>,
        call_sid: &str,
        base: &str,
        reason: FallbackReason,
        watch: Option<&CallWatch>,
    ) -> bool {
        let (done, business) = self.call_of(call_sid).await;
        if done {
            tracing::info!(
                call_sid,
                reason = reason.as_str(),
                "watchdog: fallback already ran"
            );
            return false;
        }
        self.disarm(call_sid);
        let twiml = crate::calls::twiml::fallback(&self.prompts, base, business).to_xml();
        tracing::warn!(call_sid, reason = reason.as_str(), "WATCHDOG_REDIRECT");
        metrics::counter!("mokdan_watchdog_redirects_total", "reason" => reason.as_str())
            .increment(1);
        let Some(twilio) = &self.twilio else {
            crate::telemetry::count_error("watchdog");
            tracing::error!(
                call_sid,
                "WATCHDOG_REDIRECT impossible: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not \
                 configured; the caller is offered the recording when the stream ends"
            );
            if let Some(w) = watch {
                w.end_stream();
            }
            return false;
        };
        match self.update(twilio, call_sid, &twiml, reason).await {
            retry::Tried::Redirected => true,
            retry::Tried::Ended => false,
            retry::Tried::Failed => {
                if let Some(w) = watch {
                    w.end_stream();
                }
                let this = self.clone();
                let cancel = self.retrying(call_sid);
                let sid = call_sid.to_string();
                tokio::spawn(async move { this.retry(&sid, &twiml, reason, cancel).await });
                false
            }
        }
    }

    /// Whether the call's fallback already ran, and its business (for the prompt). A
    /// database that cannot say in time counts as "not yet" (better a redirect than a
    /// caller in silence) with no business.
    async fn call_of(&self, call_sid: &str) -> (bool, Option<i64>) {
        let lookup = calls::by_sid(&self.db, call_sid);
        match tokio::time::timeout(std::time::Duration::from_millis(400), lookup).await {
            Ok(Ok(row)) => row.map_or((false, None), |r| {
                (r.fallback_reason.is_some(), r.business_id)
            }),
            Ok(Err(e)) => {
                tracing::warn!(call_sid, error = %e, "watchdog: cannot read the call");
                (false, None)
            }
            Err(_) => (false, None),
        }
    }
}
