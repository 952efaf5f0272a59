//! Cached totals for large customer lists.
//!
//! `COUNT(*)` over a business's customers costs a scan of all its rows: ~20 ms at 100 000
//! on PostgreSQL, which alone would break the list's latency target. Counts under
//! [`EXACT_BELOW`] are always exact (recounted every time, which is cheap); above it, a
//! count is reused for up to [`TTL`] unless this node wrote to that business's customers
//! since, which bumps its generation. So a big business's `total` may lag writes made
//! elsewhere (calls, other nodes) by at most `TTL`; the page's rows never lag.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const EXACT_BELOW: i64 = 10_000;
pub const TTL: Duration = Duration::from_secs(10);

/// A count, when it was made, and the write generation it was made at.
type Entry = (i64, Instant, u64);

#[derive(Default)]
pub struct Counts {
    /// By business and filter.
    entries: Mutex<HashMap<(i64, String), Entry>>,
    generations: Mutex<HashMap<i64, u64>>,
}

impl Counts {
    /// The business's write generation; read it before counting, pass it to [`Counts::put`].
    pub fn generation(&self, business_id: i64) -> u64 {
        let g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        g.get(&business_id).copied().unwrap_or(0)
    }

    /// A reusable count for this business and filter, if there is one.
    pub fn get(&self, business_id: i64, filter: &str) -> Option<i64> {
        let generation = self.generation(business_id);
        let e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (count, at, g) = e.get(&(business_id, filter.to_string()))?;
        (*g == generation && at.elapsed() < TTL && *count >= EXACT_BELOW).then_some(*count)
    }

    /// Keeps a count made at `generation` (a write since then makes it unusable).
    pub fn put(&self, business_id: i64, filter: &str, count: i64, generation: u64) {
        if count < EXACT_BELOW {
            return;
        }
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.len() > 10_000 {
            e.retain(|_, (_, at, _)| at.elapsed() < TTL);
        }
        e.insert(
            (business_id, filter.to_string()),
            (count, Instant::now(), generation),
        );
    }

    /// This node changed the business's customers: its cached counts are stale.
    pub fn bump(&self, business_id: i64) {
        let mut g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        *g.entry(business_id).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_never_cached_and_writes_invalidate() {
        let c = Counts::default();
        c.put(1, "", 5, 0);
        assert_eq!(c.get(1, ""), None);
        c.put(1, "", 50_000, c.generation(1));
        assert_eq!(c.get(1, ""), Some(50_000));
        assert_eq!(c.get(2, ""), None);
        assert_eq!(c.get(1, "status=won"), None);
        c.bump(1);
        assert_eq!(c.get(1, ""), None);
        // A count begun before a write is not kept as current.
        let before = c.generation(1);
        c.bump(1);
        c.put(1, "", 60_000, before);
        assert_eq!(c.get(1, ""), None);
    }
}
