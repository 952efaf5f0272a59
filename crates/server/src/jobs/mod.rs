//! Durable background jobs (V10, V11, O4): the queue, the pool, the contract and the
//! dispatch table. The work itself belongs to the features that own it.
//!
//! A webhook must answer Twilio at once, yet a recording still has to be downloaded,
//! transcribed, summarised and filed in the CRM, and old audio deleted. That work goes into
//! a table-backed queue ([`queue`], `store::jobs`) that survives restarts and crashes, and a
//! supervised pool of workers ([`worker`]) runs it with retries, backoff, leases and a
//! `dead` state the operator can see and revive ([`routes`]). Each kind is idempotent, so a
//! job that runs twice (its worker died after doing the work) changes nothing the second
//! time. The kinds live with their features (`calls::post_call`, `whatsapp::jobs`); the
//! application joins them in one [`Dispatch`] table. Only [`cleanup`] is the queue's own.

pub mod cleanup;
pub mod dispatch;
pub mod pool;
pub mod queue;
pub mod routes;
pub mod state;
pub mod worker;

pub use dispatch::Dispatch;
pub use queue::{enqueue, enqueue_at, enqueue_with, wake};
pub use state::JobsState;
pub use worker::{Handler, JobError, JobResult, Outcome, PoolConfig, run_pool, run_workers};

use serde::de::DeserializeOwned;

use crate::store::jobs::Job;

/// The job's payload as `T`; a payload that does not parse can never succeed.
pub(crate) fn payload<T: DeserializeOwned>(job: &Job) -> Result<T, JobError> {
    serde_json::from_str(&job.payload)
        .map_err(|e| JobError::permanent(format!("bad {} payload: {e}", job.kind)))
}

/// Twilio SIDs go into file names: plain alphanumerics only (no path tricks).
pub(crate) fn check_sid(what: &str, sid: &str) -> Result<(), JobError> {
    if sid.is_empty() || sid.len() > 64 || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(JobError::permanent(format!("invalid {what} {sid:?}")));
    }
    Ok(())
}
