//! The watchdog's view of a registry it cannot read, logged once per outage.
//!
//! The ticker reads the shared registry four times a second and writes frame times once a
//! second. During a database outage a warning per tick would bury every other line of the
//! log, so an outage is logged when it begins (with the error) and when it ends (with how
//! long it lasted); every failure is still counted in
//! `mokdan_watchdog_registry_errors_total{op}`.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::Instant;

/// What a read changed about the registry's availability.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// Reads started failing.
    Down,
    /// Reads work again after this long, and this many failed reads.
    Up { after: Duration, failures: u64 },
}

#[derive(Debug)]
pub(super) struct Outage {
    /// What fails: `read` (what is due) or `flush` (frame times).
    op: &'static str,
    /// When it started failing, and how many times it failed since.
    down: Option<(Instant, u64)>,
}

impl Outage {
    pub(super) fn new(op: &'static str) -> Outage {
        Outage { op, down: None }
    }

    /// It failed: counted, and logged when it is the first failure of an outage.
    pub(super) fn failed(&mut self, error: &dyn Display) -> Option<Change> {
        metrics::counter!("mokdan_watchdog_registry_errors_total", "op" => self.op).increment(1);
        match &mut self.down {
            Some((_, failures)) => {
                *failures += 1;
                None
            }
            None => {
                self.down = Some((Instant::now(), 1));
                tracing::warn!(
                    op = self.op,
                    error = %error,
                    "watchdog cannot use the shared registry; redirects wait until it is back"
                );
                Some(Change::Down)
            }
        }
    }

    /// It worked: logged when it ends an outage.
    pub(super) fn succeeded(&mut self) -> Option<Change> {
        let (since, failures) = self.down.take()?;
        let after = since.elapsed();
        tracing::info!(
            op = self.op,
            unavailable_ms = after.as_millis() as u64,
            failures,
            "watchdog can use the shared registry again"
        );
        Some(Change::Up { after, failures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_reported_once_when_it_begins_and_once_when_it_ends() {
        let mut o = Outage::new("read");
        assert_eq!(o.succeeded(), None, "no outage, nothing to say");
        assert_eq!(o.failed(&"connection refused"), Some(Change::Down));
        for _ in 0..39 {
            tokio::time::advance(Duration::from_millis(250)).await;
            assert_eq!(o.failed(&"connection refused"), None, "no log spam");
        }
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(
            o.succeeded(),
            Some(Change::Up {
                after: Duration::from_secs(10),
                failures: 40
            })
        );
        assert_eq!(o.succeeded(), None);
        assert_eq!(
            o.failed(&"timeout"),
            Some(Change::Down),
            "a second outage is reported again"
        );
    }
}
