//! A redirect that Twilio did not accept is tried again while the call lives (V8, V9).
//!
//! Twilio's REST API can fail for a moment (a 5xx, a timeout, a network fault). Giving up
//! after one try left callers in silence and then hung up on them, because the call was
//! already marked as fallen back. So the fallback is marked only once an update was
//! accepted, and a failed one is tried again with a short backoff until it is accepted,
//! the call is over, or the call moved on by itself: its stream ended (`stream_ended`
//! then serves the recording TwiML) or another node ran the fallback. Each try first
//! reads the call row, so the recording is offered exactly once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{FallbackReason, Watchdog};
use crate::store::calls;

/// The first wait before trying again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Past this, the call is taken as over (Twilio's stream gave up long before).
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tried {
    /// Twilio accepted it: the caller is on the recording now.
    Redirected,
    /// The call had already ended.
    Ended,
    /// It failed; worth another try.
    Failed,
}

/// Calls whose redirect is being tried again, with the token that stops it (and which
/// retry owns the entry, so a finished retry never removes a newer one).
#[derive(Default)]
pub(super) struct Retries {
    calls: Mutex<HashMap<String, (u64, CancellationToken)>>,
    next: AtomicU64,
}

impl Retries {
    fn start(&self, call_sid: &str) -> (u64, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        let old = self
            .calls
            .lock()
            .expect("retries")
            .insert(call_sid.to_string(), (id, token.clone()));
        if let Some((_, old)) = old {
            old.cancel();
        }
        (id, token)
    }

    /// Stops trying to redirect the call (it completed, or its stream ended).
    pub(super) fn stop(&self, call_sid: &str) {
        if let Some((_, t)) = self.calls.lock().expect("retries").remove(call_sid) {
            t.cancel();
        }
    }

    fn finished(&self, call_sid: &str, id: u64) {
        let mut map = self.calls.lock().expect("retries");
        if map.get(call_sid).is_some_and(|(owner, _)| *owner == id) {
            map.remove(call_sid);
        }
    }
}

impl Watchdog {
    /// Registers a background retry for the call; its token stops it.
    pub(super) fn retrying(&self, call_sid: &str) -> (u64, CancellationToken) {
        self.retries.start(call_sid)
    }

    /// One REST update; marks the fallback done when Twilio accepted it.
    pub(super) async fn update(
        &self,
        twilio: &telephony::rest::TwilioClient,
        call_sid: &str,
        twiml: &str,
        reason: FallbackReason,
    ) -> Tried {
        match twilio.update_call_twiml(call_sid, twiml).await {
            Ok(telephony::rest::UpdateOutcome::AlreadyEnded) => {
                self.settle_ended(twilio, call_sid, reason).await;
                Tried::Ended
            }
            Ok(outcome) => {
                tracing::info!(call_sid, ?outcome, "watchdog redirect sent");
                match calls::mark_fallback(&self.db, call_sid, reason.as_str()).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(
                        call_sid,
                        "watchdog: the fallback was marked meanwhile by the stream's end"
                    ),
                    Err(e) => tracing::error!(
                        call_sid,
                        error = %e,
                        "watchdog: redirected, but cannot mark the fallback"
                    ),
                }
                Tried::Redirected
            }
            Err(e) => {
                crate::telemetry::count_error("watchdog");
                tracing::error!(call_sid, error = %e, "WATCHDOG_REDIRECT failed");
                Tried::Failed
            }
        }
    }

    /// Tries the update again with a backoff until it is accepted or the call moved on.
    pub(super) async fn retry(
        self: Arc<Self>,
        call_sid: &str,
        twiml: &str,
        reason: FallbackReason,
        (id, cancel): (u64, CancellationToken),
    ) {
        let Some(twilio) = self.twilio.clone() else {
            return;
        };
        let started = tokio::time::Instant::now();
        let mut wait = FIRST_BACKOFF;
        let mut tries = 1u32;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            if started.elapsed() > GIVE_UP_AFTER {
                tracing::error!(
                    call_sid,
                    tries,
                    "WATCHDOG_REDIRECT given up: the call is taken as over"
                );
                break;
            }
            if !self.still_needed(call_sid).await || cancel.is_cancelled() {
                break;
            }
            tries += 1;
            metrics::counter!("mokdan_watchdog_redirect_retries_total").increment(1);
            match self.update(&twilio, call_sid, twiml, reason).await {
                Tried::Failed => wait = (wait * 2).min(MAX_BACKOFF),
                outcome => {
                    tracing::info!(call_sid, tries, ?outcome, "watchdog redirect retried");
                    break;
                }
            }
        }
        self.retries.finished(call_sid, id);
    }

    /// Whether the call still waits for its fallback: no fallback ran and it is not over.
    /// A database that cannot say counts as "still needed".
    async fn still_needed(&self, call_sid: &str) -> bool {
        let read = calls::by_sid(&self.db, call_sid);
        match tokio::time::timeout(Duration::from_millis(400), read).await {
            Ok(Ok(Some(row))) => row.fallback_reason.is_none() && !row.status.has_ended(),
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => true,
        }
    }
}
