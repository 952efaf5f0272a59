//! The supervised worker pool: claims jobs in batches, runs at most N at once, renews the
//! leases of long jobs, records every outcome, and stops cleanly on shutdown.
//!
//! Why it is shaped this way:
//! - One dispatcher claims only as many jobs as it has free slots, so a busy node leaves
//!   work in the table for other nodes instead of hoarding it.
//! - Each job runs under a lease renewed every third of its length. If the process dies
//!   (kill -9), the lease simply expires and any worker claims the job again.
//! - Successes are recorded by one task in batches (one UPDATE for many jobs), so the
//!   queue's bookkeeping costs a few statements per batch rather than one per job; a crash
//!   before a batch is written only means those idempotent jobs run again.
//! - A panic inside a job is caught and recorded as a failure with backoff, like an error.
//! - On shutdown the dispatcher stops claiming and gives running jobs a grace period; what
//!   is still running then is dropped, and its lease hands it to the next worker.
//! - Dropping (aborting) the pool's task drops every job it runs: that is how the tests
//!   simulate a killed worker.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::queue::{WAKE, backoff};
use crate::app::AppState;
use crate::store::Db;
use crate::store::jobs::{self, FailOutcome, Job};

/// How a job run ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// It cannot run until something is configured; parked in `waiting` with this reason.
    Waiting(String),
}

/// A failed run: retried with backoff, unless permanent (then `dead` at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub message: String,
    pub permanent: bool,
}

impl JobError {
    pub fn retry(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: false,
        }
    }
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: true,
        }
    }
}

impl From<sqlx::Error> for JobError {
    fn from(e: sqlx::Error) -> Self {
        Self::retry(format!("database: {e}"))
    }
}

impl From<std::io::Error> for JobError {
    fn from(e: std::io::Error) -> Self {
        Self::retry(format!("io: {e}"))
    }
}

pub type JobResult = Result<Outcome, JobError>;

/// Runs one job. Implemented by the application's dispatcher over job kinds, and by any
/// `Fn(Job) -> impl Future<Output = JobResult>` (tests, benchmarks).
pub trait Handler: Send + Sync + 'static {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = JobResult> + Send + 'static,
{
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        Box::pin(self(job))
    }
}

/// How a pool behaves.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Written on claimed jobs (`locked_by`); unique per pool.
    pub worker_id: String,
    /// Jobs running at once.
    pub concurrency: usize,
    /// Lease taken on each claim and renewed every third of it.
    pub lease: Duration,
    /// How often the table is polled when nothing wakes the pool.
    pub poll: Duration,
    /// Retry delay is `backoff_base * 2^attempts`, capped at `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// How long running jobs may finish after shutdown begins.
    pub grace: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            worker_id: new_worker_id(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(250),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(600),
            grace: Duration::from_secs(6),
        }
    }
}

/// `host-pid-random`: readable in `locked_by`, unique per pool.
pub fn new_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &rand[..8])
}

/// The application's pool: resumes parked jobs whose provider is now configured, schedules
/// the periodic clean-up, and runs jobs until `state.shutdown` is cancelled.
pub async fn run_workers(state: AppState) {
    let workers = state.settings.job_workers;
    if workers == 0 {
        tracing::info!("MOKDAN_JOB_WORKERS=0: no job workers on this node");
        return;
    }
    super::kinds::resume_parked(&state).await;
    tokio::spawn(super::kinds::cleanup::schedule(state.clone()));
    let cfg = PoolConfig {
        concurrency: workers,
        lease: state.settings.job_lease,
        ..PoolConfig::default()
    };
    tracing::info!(workers, worker_id = %cfg.worker_id, "job workers started");
    let handler = Arc::new(super::kinds::AppHandler(state.clone()));
    run_pool(state.db.clone(), handler, cfg, state.shutdown.clone()).await;
}

/// Claims and runs jobs until `shutdown` is cancelled, then drains within the grace.
pub async fn run_pool(
    db: Db,
    handler: Arc<dyn Handler>,
    cfg: PoolConfig,
    shutdown: CancellationToken,
) {
    let cfg = Arc::new(cfg);
    let (done_tx, done_rx) = tokio::sync::mpsc::channel::<Done>(RECORD_BATCH * 4);
    let recorder = tokio::spawn(record_done(db.clone(), cfg.worker_id.clone(), done_rx));
    let mut running: JoinSet<()> = JoinSet::new();
    let mut db_errors = 0u32;
    loop {
        while running.try_join_next().is_some() {}
        if shutdown.is_cancelled() {
            break;
        }
        let free = cfg.concurrency.saturating_sub(running.len());
        if free == 0 {
            tokio::select! {
                _ = running.join_next() => {}
                _ = shutdown.cancelled() => {}
            }
            // Let the other jobs that are about to finish do so, so the next claim takes a
            // batch rather than the one slot that woke us.
            tokio::task::yield_now().await;
            continue;
        }
        // Registered before the claim, so an enqueue during the claim is not missed.
        let notified = WAKE.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let lease_ms = cfg.lease.as_millis() as i64;
        match jobs::claim(&db, &cfg.worker_id, free as i64, lease_ms).await {
            Ok(claimed) if !claimed.is_empty() => {
                db_errors = 0;
                for job in claimed {
                    running.spawn(run_one(
                        db.clone(),
                        handler.clone(),
                        cfg.clone(),
                        job,
                        done_tx.clone(),
                    ));
                }
                continue;
            }
            Ok(_) => db_errors = 0,
            Err(e) => {
                db_errors += 1;
                if db_errors == 1 || db_errors.is_multiple_of(100) {
                    crate::telemetry::count_error("jobs_claim");
                    tracing::warn!(error = %e, "JOB_CLAIM_FAILED: retrying");
                }
            }
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(cfg.poll) => {}
            _ = shutdown.cancelled() => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
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

/// Runs one claimed job under its lease and records the outcome.
async fn run_one(
    db: Db,
    handler: Arc<dyn Handler>,
    cfg: Arc<PoolConfig>,
    job: Job,
    done: tokio::sync::mpsc::Sender<Done>,
) {
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
    let ms = started.elapsed().as_millis() as u64;
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
            let _ = done.send(Done { job, ms }).await;
            return;
        }
        Ok(Outcome::Waiting(reason)) => jobs::park(&db, &job, worker, reason).await.map(|_| {
            tracing::warn!(job_id = id, kind, reason = %reason, "JOB_WAITING");
            "waiting"
        }),
        Err(e) => {
            let delay = backoff(cfg.backoff_base, attempts, cfg.backoff_cap);
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
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
