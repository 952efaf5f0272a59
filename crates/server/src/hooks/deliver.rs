//! `webhook_delivery`: one attempt to post a delivery's signed body to its endpoint.
//!
//! A 2xx is delivered. A 408, 429, 5xx or a network failure is tried again on the Standard
//! Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts in all),
//! honouring a 429's `Retry-After`; any other 4xx is permanent (the receiver refused the
//! message itself), and so is an address the guard refuses. Every attempt is written on the
//! delivery (status code, error), so the owner sees what happened. A delivery already
//! delivered, or whose endpoint is gone, is done: a job that runs twice sends once more at
//! most, and receivers deduplicate by `webhook-id`.

use std::time::Duration;

use serde::Deserialize;

use super::state::HooksState;
use super::{guard, sign};
use crate::jobs::{JobError, JobResult, Outcome, payload};
use crate::store::hooks::{self as store, DELIVERED, FAILED, PENDING};
use crate::store::jobs::Job;

#[derive(Debug, Deserialize)]
struct Payload {
    delivery_id: i64,
}

/// The wait after attempt `n` (from 1) fails.
pub fn retry_delay(attempt: i64) -> Duration {
    const SCHEDULE: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
    let i = (attempt.max(1) - 1) as usize;
    Duration::from_secs(SCHEDULE[i.min(SCHEDULE.len() - 1)])
}

/// Whether an answer's status code means "do not try again".
pub fn permanent(code: u16) -> bool {
    (400..500).contains(&code) && code != 408 && code != 429
}

/// How one attempt went.
enum Attempt {
    Answered {
        code: u16,
        retry_after: Option<Duration>,
    },
    Refused(String),
    Failed(String),
}

pub async fn run(state: &HooksState, job: &Job) -> JobResult {
    let p: Payload = payload(job)?;
    let Some(d) = store::outgoing(&state.db, p.delivery_id).await? else {
        // Deleted with its endpoint: nothing left to send.
        return Ok(Outcome::Done);
    };
    if d.status == DELIVERED {
        return Ok(Outcome::Done);
    }
    if d.enabled == 0 {
        store::give_up(&state.db, d.id, "endpoint disabled").await?;
        return Ok(Outcome::Done);
    }
    let last = job.attempts >= job.max_attempts;
    match attempt(state, &d).await {
        Attempt::Answered { code, .. } if (200..300).contains(&code) => {
            store::record_attempt(&state.db, d.id, DELIVERED, Some(code.into()), None).await?;
            tracing::info!(
                delivery_id = d.id,
                business_id = d.business_id,
                code,
                "WEBHOOK_DELIVERED"
            );
            Ok(Outcome::Done)
        }
        Attempt::Answered { code, retry_after } => {
            let error = format!("HTTP {code}");
            let give_up = permanent(code) || last;
            let status = if give_up { FAILED } else { PENDING };
            store::record_attempt(&state.db, d.id, status, Some(code.into()), Some(&error)).await?;
            tracing::warn!(
                delivery_id = d.id,
                business_id = d.business_id,
                code,
                give_up,
                "WEBHOOK_ATTEMPT_FAILED"
            );
            if permanent(code) {
                return Err(JobError::permanent(format!(
                    "webhook endpoint answered {code}"
                )));
            }
            let wait = retry_after
                .filter(|_| code == 429)
                .map(|w| w.min(Duration::from_secs(36_000)))
                .unwrap_or_else(|| retry_delay(job.attempts));
            Err(JobError::retry(format!("webhook endpoint answered {code}")).after(wait))
        }
        Attempt::Refused(why) => {
            store::record_attempt(&state.db, d.id, FAILED, None, Some(&why)).await?;
            tracing::warn!(
                delivery_id = d.id,
                business_id = d.business_id,
                "WEBHOOK_REFUSED: {why}"
            );
            Err(JobError::permanent(why))
        }
        Attempt::Failed(why) => {
            let status = if last { FAILED } else { PENDING };
            store::record_attempt(&state.db, d.id, status, None, Some(&why)).await?;
            tracing::warn!(delivery_id = d.id, business_id = d.business_id, error = %why, "WEBHOOK_ATTEMPT_FAILED");
            Err(JobError::retry(why).after(retry_delay(job.attempts)))
        }
    }
}

/// Signs and posts the body once.
async fn attempt(state: &HooksState, d: &store::Outgoing) -> Attempt {
    let production = state.settings.is_production();
    let url = match guard::check_url(&d.url, production) {
        Ok(url) => url,
        Err(why) => return Attempt::Refused(why),
    };
    let timestamp = crate::store::now_ms() / 1000;
    let Some(signature) = sign::signature(&d.secret, &d.msg_id, timestamp, &d.payload) else {
        return Attempt::Refused("the endpoint's secret is not a whsec_ key".into());
    };
    let sent = state
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.msg_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    match sent {
        Ok(res) => {
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            Attempt::Answered {
                code: res.status().as_u16(),
                retry_after,
            }
        }
        Err(e) if guard::is_refused(&e) => Attempt::Refused(guard::Refused.to_string()),
        Err(e) if e.is_timeout() => Attempt::Failed("timed out".into()),
        Err(e) if e.is_connect() => Attempt::Failed("could not connect".into()),
        Err(e) => Attempt::Failed(format!("request failed: {}", without_url(&e))),
    }
}

/// A reqwest error's text without the URL (it may carry a token in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<endpoint>");
    }
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_follows_the_specification() {
        assert_eq!(retry_delay(1), Duration::from_secs(5));
        assert_eq!(retry_delay(2), Duration::from_secs(300));
        assert_eq!(retry_delay(7), Duration::from_secs(36_000));
        assert_eq!(retry_delay(50), Duration::from_secs(36_000));
    }

    #[test]
    fn only_some_refusals_are_final() {
        assert!(permanent(400) && permanent(410) && permanent(404));
        assert!(!permanent(408) && !permanent(429) && !permanent(500) && !permanent(503));
    }
}
