//! `whatsapp_send` and `whatsapp_reply`: WhatsApp's outbound work on the durable queue (W2,
//! W3).
//!
//! A send is recorded `queued` together with its `whatsapp_send` job (one transaction), so
//! the API and the webhooks answer in milliseconds and a send survives a crash or restart.
//! The job hands the message to the provider through [`crate::whatsapp::send::deliver`],
//! which claims the row first: a rerun never sends twice. A 429, a 5xx or a refused
//! connection is retried with backoff (0.5 s, 1 s, 2 s, …); after the last attempt the
//! message is failed with the provider's last answer. A permanent refusal is stored on the
//! message by `deliver` and ends the job: there is nothing to retry.
//!
//! An inbound message of a business with auto-reply on gets a `whatsapp_reply` job in the
//! same statement that stores it. The job asks the agent for the Hebrew reply and records
//! it (idempotency key `auto:<inbound id>`) with its send job, so a rerun neither writes
//! nor sends a second reply. A message answering an appointment ("1"/"2", #19) is taken
//! by `appointments::answers` first and gets its answer instead of the agent's.

use serde::{Deserialize, Serialize};

use crate::jobs::Outcome;
use crate::jobs::{Handler, JobError, JobResult, payload};
use crate::store::jobs::Job;
use crate::store::whatsapp::{self as store, ReplyJob, SendJob};
use crate::whatsapp::send;
use crate::whatsapp::state::WaState;

pub const WHATSAPP_SEND: &str = "whatsapp_send";
pub const WHATSAPP_REPLY: &str = "whatsapp_reply";

/// The kinds [`WaJobs`] runs.
pub const KINDS: &[&str] = &[WHATSAPP_SEND, WHATSAPP_REPLY];

/// Runs WhatsApp's jobs.
pub struct WaJobs(pub WaState);

impl Handler for WaJobs {
    fn run(&self, job: Job) -> futures::future::BoxFuture<'static, JobResult> {
        let state = self.0.clone();
        Box::pin(async move {
            match job.kind.as_str() {
                WHATSAPP_SEND => run_send(&state, &job).await,
                WHATSAPP_REPLY => run_reply(&state, &job).await,
                other => Err(JobError::permanent(format!("unknown job kind `{other}`"))),
            }
        })
    }
}

/// The send job that goes with every queued message.
pub const SEND_JOB: SendJob = SendJob {
    kind: WHATSAPP_SEND,
    max_attempts: send::MAX_ATTEMPTS,
};

/// Attempts at writing an auto-reply (the agent's own failures are answered with an
/// acknowledgement, so only the database can make this fail).
pub const REPLY_ATTEMPTS: i64 = 5;

/// The reply job to enqueue with an inbound message.
pub fn reply_job(base: Option<String>) -> ReplyJob {
    ReplyJob {
        kind: WHATSAPP_REPLY,
        base,
        max_attempts: REPLY_ATTEMPTS,
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SendPayload {
    message_id: i64,
}

/// Runs one attempt at handing a queued message to its provider.
pub async fn run_send(state: &WaState, job: &Job) -> JobResult {
    let p: SendPayload = payload(job)?;
    match send::deliver(state, p.message_id).await {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if e.retryable && job.attempts < job.max_attempts => {
            Err(JobError::retry(&e.message).after(send::retry_delay(job.attempts)))
        }
        Err(e) if e.retryable => {
            let message = format!("gave up after {} attempts: {}", job.attempts, e.message);
            store::failed(&state.db, p.message_id, e.code.as_deref(), &message).await?;
            Err(JobError::permanent(message))
        }
        // Stored on the message (failed, with the provider's code): the job is over.
        Err(_) => Ok(Outcome::Done),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ReplyPayload {
    inbound_id: i64,
    #[serde(default)]
    base: Option<String>,
}

/// Writes the auto-reply to an inbound message and queues its send.
pub async fn run_reply(state: &WaState, job: &Job) -> JobResult {
    let p: ReplyPayload = payload(job)?;
    let Some(msg) = store::for_delivery(&state.db, p.inbound_id).await? else {
        return Err(JobError::permanent(format!(
            "inbound message {} is gone",
            p.inbound_id
        )));
    };
    let (Some(business_id), Some(customer_id)) = (msg.business_id, msg.customer_id) else {
        return Err(JobError::permanent("the message is linked to no customer"));
    };
    let Some(provider) = static_provider(&msg.provider) else {
        return Err(JobError::permanent(format!(
            "unknown provider {}",
            msg.provider
        )));
    };
    // "1"/"2" answering an appointment's confirmation or reminder (#19): answered by the
    // appointment book, not by the agent.
    if crate::appointments::answers::handle(state, &msg).await? {
        return Ok(Outcome::Done);
    }
    let business = crate::store::businesses::get(&state.db, business_id).await?;
    let Some(business) = business.filter(|b| b.auto_reply != 0) else {
        tracing::info!(
            inbound = msg.id,
            "auto-reply turned off since the message came: none sent"
        );
        return Ok(Outcome::Done);
    };
    let task = crate::whatsapp::reply::ReplyTask {
        business_id,
        business_name: business.name,
        customer_id,
        inbound_id: msg.id,
        provider,
        business_number: msg.to_number.clone(),
        customer_number: msg.from_number.clone().unwrap_or_default(),
        text: msg.body.clone().unwrap_or_default(),
        reply_to: msg.provider_message_id.clone(),
        base: p.base,
    };
    crate::whatsapp::reply::run(state, task).await?;
    Ok(Outcome::Done)
}

fn static_provider(name: &str) -> Option<&'static str> {
    ["twilio", "meta", "baileys"]
        .into_iter()
        .find(|p| *p == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_retries_start_fast_and_double() {
        let ms = |a| send::retry_delay(a).as_millis();
        assert_eq!((ms(1), ms(2), ms(3), ms(5)), (500, 1000, 2000, 8000));
        assert_eq!(send::retry_delay(30), send::MAX_BACKOFF);
    }
}
