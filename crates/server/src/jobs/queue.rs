//! Putting work on the queue, and waking local workers at once when it lands.
//!
//! Workers poll the table (so jobs enqueued by another node are found within a poll), and a
//! process-wide [`tokio::sync::Notify`] lets a local enqueue skip the wait.

use std::sync::LazyLock;
use std::time::Duration;

use tokio::sync::Notify;

use crate::store::jobs::{self, DEFAULT_MAX_ATTEMPTS, NewJob};
use crate::store::{Db, now_ms};

/// Woken on every local enqueue and retry.
pub(crate) static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Wakes idle workers in this process.
pub fn wake() {
    WAKE.notify_waiters();
}

/// Enqueues a job to run now. `None` when a job with this idempotency key already exists.
pub async fn enqueue(
    db: &Db,
    kind: &str,
    payload: &serde_json::Value,
    idempotency_key: Option<&str>,
) -> Result<Option<i64>, sqlx::Error> {
    enqueue_at(db, kind, payload, idempotency_key, now_ms()).await
}

/// Enqueues a job that is not claimed before `run_after_ms` (epoch ms).
pub async fn enqueue_at(
    db: &Db,
    kind: &str,
    payload: &serde_json::Value,
    idempotency_key: Option<&str>,
    run_after_ms: i64,
) -> Result<Option<i64>, sqlx::Error> {
    enqueue_with(
        db,
        &NewJob {
            kind,
            payload,
            idempotency_key,
            run_after: run_after_ms,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        },
    )
    .await
}

/// Enqueues a fully described job.
pub async fn enqueue_with(db: &Db, job: &NewJob<'_>) -> Result<Option<i64>, sqlx::Error> {
    let id = jobs::insert(db, job).await?;
    if id.is_some() {
        wake();
    }
    Ok(id)
}

/// The wait before attempt `attempts + 1`: `base * 2^attempts`, capped.
pub fn backoff(base: Duration, attempts: i64, cap: Duration) -> Duration {
    let exp = attempts.clamp(0, 30) as u32;
    base.saturating_mul(2u32.saturating_pow(exp)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs(1);
        let cap = Duration::from_secs(600);
        assert_eq!(backoff(s, 1, cap), Duration::from_secs(2));
        assert_eq!(backoff(s, 3, cap), Duration::from_secs(8));
        assert_eq!(backoff(s, 40, cap), cap);
    }
}
