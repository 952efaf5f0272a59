//! Durable background jobs (V10, V11, O4): everything a call leaves to do after it ends.
//!
//! A webhook must answer Twilio at once, yet a recording still has to be downloaded,
//! transcribed, summarised and filed in the CRM, and old audio deleted. That work goes into
//! a table-backed queue ([`queue`], `store::jobs`) that survives restarts and crashes, and a
//! supervised pool of workers ([`worker`]) runs it with retries, backoff, leases and a
//! `dead` state the operator can see and revive ([`routes`]). Each job kind ([`kinds`]) is
//! idempotent, so a job that runs twice (its worker died after doing the work) changes
//! nothing the second time.

pub mod kinds;
pub mod pool;
pub mod queue;
pub mod routes;
pub mod worker;

pub use queue::{enqueue, enqueue_at, enqueue_with, wake};
pub use worker::{Handler, JobError, Outcome, PoolConfig, run_pool, run_workers};
