//! The worker pool's contract: what a job handler returns, how a pool is configured, and
//! the application's pool (`run_workers`). The dispatcher itself is in [`super::pool`].
//!
//! Why it is shaped this way:
//! - A job either finishes (`Done`), waits for something to be configured (`Waiting`, not
//!   counted as an attempt), or fails: retried with backoff (the pool's, or the job kind's
//!   own `retry_in`), or `dead` at once when permanent or out of attempts.
//! - Each job runs under a lease renewed every third of its length. If the process dies
//!   (kill -9), the lease simply expires and any worker claims the job again.
//! - A panic inside a job is caught and recorded as a failure with backoff, like an error.
//! - On shutdown the dispatcher stops claiming and gives running jobs a grace period; what
//!   is still running then is dropped, and its lease hands it to the next worker.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::JobsState;
pub use super::pool::run_pool;
use crate::store::jobs::Job;
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
    /// The wait before the next attempt, when the job kind knows better than the pool's
    /// backoff (a provider's pace, a send that should retry within seconds).
    pub retry_in: Option<Duration>,
}

impl JobError {
    pub fn retry(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: false,
            retry_in: None,
        }
    }
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        Self {
            message: message.to_string(),
            permanent: true,
            retry_in: None,
        }
    }
    /// Retries after `delay` instead of the pool's backoff.
    pub fn after(mut self, delay: Duration) -> Self {
        self.retry_in = Some(delay);
        self
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
    /// Work claimed beyond the free slots, in expected run time: jobs that take a fraction
    /// of a millisecond are claimed by the hundred (one round trip for many), jobs that
    /// take seconds only when a slot is free (a busy node does not hoard long work).
    pub prefetch_window: Duration,
    /// Most jobs taken by one claim.
    pub max_claim: usize,
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
            prefetch_window: Duration::from_millis(200),
            max_claim: 256,
        }
    }
}

/// `host-pid-random`: readable in `locked_by`, unique per pool.
pub fn new_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &rand[..8])
}

/// The application's pool: schedules the periodic clean-up and runs jobs, each through
/// `handler` (the application's [`super::Dispatch`]), until `state.shutdown` is cancelled.
pub async fn run_workers(state: JobsState, handler: Arc<dyn Handler>) {
    let workers = state.settings.job_workers;
    if workers == 0 {
        tracing::info!("MOKDAN_JOB_WORKERS=0: no job workers on this node");
        return;
    }
    tokio::spawn(super::cleanup::schedule(state.clone()));
    let cfg = PoolConfig {
        concurrency: workers,
        lease: state.settings.job_lease,
        ..PoolConfig::default()
    };
    tracing::info!(workers, worker_id = %cfg.worker_id, "job workers started");
    run_pool(state.db.clone(), handler, cfg, state.shutdown.clone()).await;
}
