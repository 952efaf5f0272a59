//! An in-memory sliding-window limiter for login attempts, keyed by IP and by account.
//!
//! Each key keeps the instants of its recent events; a key over its limit is refused until
//! the oldest event leaves the window, and the caller is told how long that is (Retry-After).
//! One process's memory is enough here: a node behind a load balancer limits its own share.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Limiter {
    window: Duration,
    keys: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when `key` already has `limit` events in the window.
    pub fn check(&self, key: &str, limit: usize, now: Instant) -> Result<(), Duration> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let Some(events) = keys.get_mut(key) else {
            return Ok(());
        };
        prune(events, now, self.window);
        if events.len() >= limit {
            let oldest = events.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        Ok(())
    }

    /// Records one event for `key`.
    pub fn record(&self, key: &str, now: Instant) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        Self::push(&mut keys, self.window, key, now);
    }

    /// [`check`](Self::check) and [`record`](Self::record) as one step, so that requests
    /// arriving together cannot all pass the check before any of them is counted.
    pub fn acquire(&self, key: &str, limit: usize, now: Instant) -> Result<(), Duration> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(events) = keys.get_mut(key) {
            prune(events, now, self.window);
            if events.len() >= limit {
                let oldest = events.front().copied().unwrap_or(now);
                return Err(self.window.saturating_sub(now.duration_since(oldest)));
            }
        }
        Self::push(&mut keys, self.window, key, now);
        Ok(())
    }

    fn push(
        keys: &mut HashMap<String, VecDeque<Instant>>,
        window: Duration,
        key: &str,
        now: Instant,
    ) {
        if keys.len() > 50_000 {
            keys.retain(|_, ev| {
                prune(ev, now, window);
                !ev.is_empty()
            });
        }
        keys.entry(key.to_string()).or_default().push_back(now);
    }
}

fn prune(events: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while let Some(first) = events.front() {
        if now.duration_since(*first) >= window {
            events.pop_front();
        } else {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_over_the_limit_then_recovers() {
        let l = Limiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.check("k", 3, t0).is_ok());
            l.record("k", t0 + Duration::from_secs(i));
        }
        let wait = l.check("k", 3, t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(l.check("other", 3, t0).is_ok());
        assert!(l.check("k", 3, t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn acquire_checks_and_counts_in_one_step() {
        let l = Limiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.acquire("k", 3, t0 + Duration::from_secs(i)).is_ok());
        }
        assert_eq!(
            l.acquire("k", 3, t0 + Duration::from_secs(3)),
            Err(Duration::from_secs(57))
        );
        assert!(l.acquire("k", 3, t0 + Duration::from_secs(60)).is_ok());
    }
}
