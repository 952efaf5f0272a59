//! The dispatcher of a worker pool: claims jobs in batches, runs at most N at once, renews
//! leases, records every outcome, and stops cleanly on shutdown.
//!
//! Why it is shaped this way:
//! - A claim is a database round trip, so its cost must be shared by many jobs when jobs
//!   are short. The dispatcher keeps a small local buffer of claimed jobs on top of the
//!   free slots, sized by how long jobs have recently taken ([`Pace`], bounded by
//!   `prefetch_window`): hundreds of sub-millisecond jobs per claim, none extra for jobs
//!   that take seconds, so a busy node still leaves long work to the others.
//! - A buffered job holds its lease like a running one. One that waited longer than a third
//!   of its lease has the lease renewed (fenced) before it starts, and is dropped if another
//!   worker took it meanwhile: two workers never run one job at once.
//! - When the table has nothing due, the dispatcher sleeps until a local enqueue wakes it
//!   ([`super::queue::wake`]) or the poll interval passes (work enqueued by other nodes).
//! - Successes are recorded by one task in batches (one UPDATE for many jobs); a crash
//!   before a batch is written only means those idempotent jobs run again.
//! - On shutdown, buffered jobs that never started are handed back at once (not left for
//!   their leases to expire), and running jobs get the grace period.
//! - Dropping (aborting) the pool's task drops every job it runs: that is how the tests
//!   simulate a killed worker.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::queue::{WAKE, backoff};
use super::worker::{Handler, JobError, Outcome, PoolConfig};
use crate::store::Db;
use crate::store::jobs::{self, FailOutcome, Job};

/// A claimed job waiting for a slot.
struct Claimed {
    job: Job,
    at: Instant,
}

/// Recent job run times (an exponential moving average), and from them how many jobs to
/// hold beyond the free slots.
struct Pace {
    avg_ms: Option<f64>,
}

impl Pace {
    fn record(&mut self, took: Duration) {
        let ms = took.as_secs_f64() * 1e3;
        self.avg_ms = Some(match self.avg_ms {
            None => ms,
            Some(avg) => avg * 0.9 + ms * 0.1,
        });
    }

    /// Jobs to hold beyond the free slots: as many as the slots get through within the
    /// prefetch window. None until a job has been timed.
    fn prefetch(&self, cfg: &PoolConfig) -> usize {
        let Some(avg) = self.avg_ms else { return 0 };
        let window = cfg.prefetch_window.as_secs_f64() * 1e3;
        let n = window / avg.max(0.001) * cfg.concurrency as f64;
        (n.floor() as usize).min(cfg.max_claim)
    }
}

/// Claims and runs jobs until `shutdown` is cancelled, then drains within the grace.
pub async fn run_pool(
    db: Db,
    handler: Arc<dyn Handler>,
    cfg: PoolConfig,
    shutdown: CancellationToken,
) {
    let cfg = Arc::new(cfg);
    let lease_ms = cfg.lease.as_millis() as i64;
    let (done_tx, done_rx) = tokio::sync::mpsc::channel::<Done>(RECORD_BATCH * 4);
    let recorder = tokio::spawn(record_done(db.clone(), cfg.worker_id.clone(), done_rx));
    let mut running: JoinSet<Duration> = JoinSet::new();
    let mut ready: VecDeque<Claimed> = VecDeque::new();
    let mut pace = Pace { avg_ms: None };
    let mut db_errors = 0u32;
    // Nothing due in the table at the last claim: wait for a wake-up or the poll.
    let mut drained = false;
    // Armed before each claim, so an enqueue during the claim is not missed.
    let mut wake = Box::pin(WAKE.notified());
    wake.as_mut().enable();
    let mut poll = tokio::time::interval(cfg.poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while let Some(r) = running.try_join_next() {
            if let Ok(took) = r {
                pace.record(took);
            }
        }
        if shutdown.is_cancelled() {
            break;
        }
        while running.len() < cfg.concurrency {
            let Some(claimed) = ready.pop_front() else {
                break;
            };
            if let Some(job) = still_held(&db, &cfg, claimed).await {
                let run = run_one(
                    db.clone(),
                    handler.clone(),
                    cfg.clone(),
                    job,
                    done_tx.clone(),
                );
                running.spawn(run);
            }
        }
        let free = cfg.concurrency - running.len();
        let target = pace.prefetch(&cfg);
        let want_claim = !drained
            && ((free > 0 && ready.is_empty()) || (target > 0 && ready.len() <= target / 2));
        if want_claim {
            let want = (free + target)
                .saturating_sub(ready.len())
                .clamp(1, cfg.max_claim.max(1));
            match jobs::claim(&db, &cfg.worker_id, want as i64, lease_ms).await {
                Ok(claimed) => {
                    db_errors = 0;
                    drained = claimed.len() < want;
                    let at = Instant::now();
                    ready.extend(claimed.into_iter().map(|job| Claimed { job, at }));
                }
                Err(e) => {
                    drained = true;
                    db_errors += 1;
                    if db_errors == 1 || db_errors.is_multiple_of(100) {
                        crate::telemetry::count_error("jobs_claim");
                        tracing::warn!(error = %e, "JOB_CLAIM_FAILED: retrying");
                    }
                }
            }
            continue;
        }
        tokio::select! {
            _ = &mut wake => {
                drained = false;
                wake = Box::pin(WAKE.notified());
                wake.as_mut().enable();
            }
            _ = poll.tick() => drained = false,
            _ = shutdown.cancelled() => {}
            Some(r) = running.join_next(), if !running.is_empty() => {
                if let Ok(took) = r {
                    pace.record(took);
                }
                // Let the other jobs that are about to finish do so, so the next claim
                // fills several slots at once.
                tokio::task::yield_now().await;
            }
        }
    }
    release_unstarted(&db, &cfg.worker_id, ready).await;
    if !running.is_empty() {
        tracing::info!(
            running = running.len(),
            "job workers stopping: letting running jobs finish"
        );
        let drained = tokio::time::timeout(cfg.grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                left = running.len(),
                "job grace period over: their leases will hand them to another worker"
            );
        }
    }
    drop(running);
    drop(done_tx);
    let _ = recorder.await;
}

/// The buffered job, if this pool still holds it: a job that waited a third of its lease
/// has the lease renewed first (fenced, so a job another worker took is dropped).
async fn still_held(db: &Db, cfg: &PoolConfig, claimed: Claimed) -> Option<Job> {
    if claimed.at.elapsed() < cfg.lease / 3 {
        return Some(claimed.job);
    }
    let job = claimed.job;
    let lease_ms = cfg.lease.as_millis() as i64;
    match jobs::extend_lease(db, &job, &cfg.worker_id, lease_ms).await {
        Ok(true) => Some(job),
        Ok(false) => {
            tracing::warn!(job_id = job.id, kind = %job.kind, "JOB_LEASE_LOST before it started: another worker has it");
            None
        }
        Err(e) => {
            tracing::warn!(job_id = job.id, error = %e, "job lease renewal failed: leaving it to its lease");
            None
        }
    }
}

/// Hands claimed jobs that never started back to the queue, so another worker takes them
/// at once rather than when their leases expire.
async fn release_unstarted(db: &Db, worker: &str, ready: VecDeque<Claimed>) {
    if ready.is_empty() {
        return;
    }
    let unstarted: Vec<Job> = ready.into_iter().map(|c| c.job).collect();
    match jobs::release(db, &unstarted, worker).await {
        Ok(n) => tracing::info!(
            released = n,
            "job workers stopping: unstarted jobs handed back"
        ),
        Err(e) => {
            tracing::warn!(jobs = unstarted.len(), error = %e, "cannot hand back unstarted jobs: their leases will")
        }
    }
}

/// Most successes recorded by one statement.
const RECORD_BATCH: usize = 256;

/// A job that succeeded, waiting to be recorded.
struct Done {
    job: Job,
    ms: u64,
}

/// Records successes in batches until every sender is gone.
async fn record_done(db: Db, worker: String, mut rx: tokio::sync::mpsc::Receiver<Done>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while rx.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        let jobs: Vec<Job> = batch.iter().map(|d| d.job.clone()).collect();
        match jobs::complete_many(&db, &jobs, &worker).await {
            Ok(held) => {
                for d in &batch {
                    tracing::info!(job_id = d.job.id, kind = %d.job.kind, attempts = d.job.attempts, ms = d.ms, "JOB_DONE");
                    metrics::counter!("mokdan_jobs_total", "kind" => d.job.kind.clone(), "outcome" => "done")
                        .increment(1);
                }
                if held < jobs.len() as u64 {
                    tracing::warn!(
                        lost = jobs.len() as u64 - held,
                        "jobs finished after their lease was lost: another worker may rerun them"
                    );
                }
            }
            Err(e) => {
                crate::telemetry::count_error("jobs_record");
                tracing::error!(jobs = jobs.len(), error = %e, "could not record finished jobs: their leases will rerun them");
            }
        }
        batch.clear();
    }
}

/// Runs one claimed job under its lease and records the outcome; returns its run time.
async fn run_one(
    db: Db,
    handler: Arc<dyn Handler>,
    cfg: Arc<PoolConfig>,
    job: Job,
    done: tokio::sync::mpsc::Sender<Done>,
) -> Duration {
    let started = Instant::now();
    let worker = cfg.worker_id.as_str();
    let run = AssertUnwindSafe(handler.run(job.clone())).catch_unwind();
    tokio::pin!(run);
    let every = (cfg.lease / 3).max(Duration::from_millis(50));
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let lease_ms = cfg.lease.as_millis() as i64;
    let result = loop {
        tokio::select! {
            r = &mut run => break r,
            _ = renew.tick() => match jobs::extend_lease(&db, &job, worker, lease_ms).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(job_id = job.id, kind = %job.kind, "JOB_LEASE_LOST: another worker may rerun it"),
                Err(e) => tracing::warn!(job_id = job.id, error = %e, "job lease renewal failed"),
            },
        }
    };
    let took = started.elapsed();
    let result = match result {
        Ok(r) => r,
        Err(panic) => Err(JobError::retry(format!(
            "panic: {}",
            panic_message(panic.as_ref())
        ))),
    };
    let (kind, id, attempts) = (job.kind.as_str(), job.id, job.attempts);
    let recorded = match &result {
        Ok(Outcome::Done) => {
            let ms = took.as_millis() as u64;
            let _ = done.send(Done { job, ms }).await;
            return took;
        }
        Ok(Outcome::Waiting(reason)) => jobs::park(&db, &job, worker, reason).await.map(|_| {
            tracing::warn!(job_id = id, kind, reason = %reason, "JOB_WAITING");
            "waiting"
        }),
        Err(e) => {
            let delay = e
                .retry_in
                .unwrap_or_else(|| backoff(cfg.backoff_base, attempts, cfg.backoff_cap));
            jobs::fail(
                &db,
                &job,
                worker,
                &e.message,
                delay.as_millis() as i64,
                e.permanent,
            )
            .await
            .map(|outcome| match outcome {
                FailOutcome::Retrying => {
                    tracing::warn!(job_id = id, kind, attempts, retry_in_ms = delay.as_millis() as u64, error = %e.message, "JOB_RETRY");
                    "retry"
                }
                FailOutcome::Dead => {
                    crate::telemetry::count_error("job_dead");
                    tracing::error!(job_id = id, kind, attempts, error = %e.message, "JOB_DEAD");
                    "dead"
                }
                FailOutcome::Lost => {
                    tracing::warn!(job_id = id, kind, "job failed after its lease was lost");
                    "lost"
                }
            })
        }
    };
    match recorded {
        Ok(outcome) => {
            metrics::counter!("mokdan_jobs_total", "kind" => job.kind.clone(), "outcome" => outcome)
                .increment(1)
        }
        Err(e) => {
            crate::telemetry::count_error("jobs_record");
            tracing::error!(job_id = id, kind, error = %e, "could not record the job's outcome: its lease will rerun it");
        }
    }
    took
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_follows_the_pace_of_jobs() {
        let cfg = PoolConfig {
            concurrency: 8,
            ..PoolConfig::default()
        };
        let mut pace = Pace { avg_ms: None };
        assert_eq!(
            pace.prefetch(&cfg),
            0,
            "nothing held before a job was timed"
        );
        pace.record(Duration::from_micros(20));
        assert_eq!(
            pace.prefetch(&cfg),
            cfg.max_claim,
            "tiny jobs: a full claim"
        );
        let mut slow = Pace { avg_ms: None };
        slow.record(Duration::from_secs(5));
        assert_eq!(slow.prefetch(&cfg), 0, "long jobs: only free slots");
        let mut mid = Pace { avg_ms: None };
        mid.record(Duration::from_millis(100));
        assert_eq!(mid.prefetch(&cfg), 16, "200 ms of 100 ms jobs on 8 slots");
    }
}
