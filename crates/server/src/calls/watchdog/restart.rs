//! Calls whose watcher died with its process, and calls that ended unseen.
//!
//! A node killed mid-call takes its media sockets with it, and Twilio's callbacks for
//! those calls (`stream_ended`, the final `call_status`) hit a closed port. The call row
//! would stay `in-progress` for ever. So a restarted single node re-arms every unfinished
//! call from the database (the shared registry keeps them by itself), and a redirect that
//! finds the call already over takes the call's final status from Twilio instead.

use std::time::Duration;

use super::{FallbackReason, Watchdog};
use crate::domain::CallStatus;
use crate::store::calls;

impl Watchdog {
    /// At start on the in-memory registry: watches again every call that was live when the
    /// process stopped; each is due at once, so it is redirected to the recording fallback
    /// if still up, or settled if over. `base` is the public base URL for the fallback.
    pub async fn rearm_unwatched(&self, base: &str) {
        if self.registry.survives_restart() {
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
        let long_ago = self.timeouts.start.max(self.timeouts.media) + Duration::from_secs(1);
        for (sid, started) in &rows {
            self.registry.arm(sid, base, long_ago, started.is_some());
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
    pub(super) async fn settle_ended(
        &self,
        twilio: &telephony::rest::TwilioClient,
        call_sid: &str,
        reason: FallbackReason,
    ) {
        let (status, duration) = match twilio.fetch_call(call_sid).await {
            Ok(c) if CallStatus::parse(&c.status).rank() == CallStatus::Completed.rank() => {
                (CallStatus::from(c.status), c.duration.map(i64::from))
            }
            _ => (CallStatus::Completed, None),
        };
        tracing::warn!(
            call_sid,
            reason = reason.as_str(),
            status = status.as_str(),
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
