//! `call_recordings`: a completed call that Twilio recorded itself (V10, V11) gets its
//! recordings downloaded even if the recording callback never reached us.
//!
//! Outbound calls are placed with `Record=true`, and inbound calls answer with
//! `<Start><Recording>` (unless their business turned recording off), so Twilio records the
//! whole call and normally tells `/webhook/recording_status`. That callback can be lost (a deploy, a
//! network fault), and then the call would never be transcribed. So when `call_status`
//! says `completed` for such a call and no recording is stored yet, this job lists the
//! call's recordings through the REST API and, for each finished one, stores it on the call
//! and enqueues `fetch_recording` with the same idempotency key the callback uses
//! (`fetch:<RecordingSid>`): whichever path comes first, each recording is fetched once.
//! A recording still `processing` (or not listed yet, Twilio needs a moment after the
//! call) is asked for again a few seconds later.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use telephony::rest::TwilioError;

use super::{CALL_RECORDINGS, JobError, JobResult, check_sid, payload};
use crate::calls::state::CallsState;
use crate::domain::CallDirection;
use crate::jobs::Outcome;
use crate::store::calls;
use crate::store::jobs::Job;

/// Twilio's direction of the calls we place (with `Record=true`).
const NATIVELY_RECORDED: CallDirection = CallDirection::OutboundApi;
/// The wait before asking again for a recording that is not ready.
const NOT_READY_WAIT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    call_sid: String,
}

/// After `call_status` `completed`: enqueues the listing for a natively recorded call with
/// no recording stored yet (once per call). A database error is returned, for the webhook
/// to keep the status in the outbox (whose replay calls this again); it answers regardless.
pub async fn after_completed(state: &CallsState, call_sid: &str) -> Result<(), sqlx::Error> {
    let Some(row) = calls::by_sid(&state.db, call_sid).await? else {
        return Ok(());
    };
    if row.recording_sid.is_some() {
        return Ok(());
    }
    // An outbound call is recorded through the request that placed it; an inbound one by
    // `<Start><Recording>` when its business records calls (V11).
    let recorded = row.direction == NATIVELY_RECORDED
        || (row.direction == "inbound"
            && match row.business_id {
                Some(id) => crate::store::businesses::get(&state.db, id)
                    .await?
                    .is_some_and(|b| b.record_calls != 0),
                None => false,
            });
    if !recorded {
        return Ok(());
    }
    let payload = serde_json::json!({ "call_sid": call_sid });
    let key = format!("call_recordings:{call_sid}");
    if let Some(id) = crate::jobs::enqueue(&state.db, CALL_RECORDINGS, &payload, Some(&key)).await?
    {
        tracing::info!(call_sid, job_id = id, "RECORDING listing queued");
    }
    Ok(())
}

pub async fn run(state: &CallsState, job: &Job) -> JobResult {
    let p: Payload = payload(job)?;
    check_sid("call SID", &p.call_sid)?;
    let Some(twilio) = &state.twilio else {
        return Ok(Outcome::Waiting(
            "no Twilio account configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)".into(),
        ));
    };
    let recordings = twilio
        .list_recordings(&p.call_sid)
        .await
        .map_err(|e| match e {
            TwilioError::InvalidArgument(_) => JobError::permanent(e.to_string()),
            other => JobError::retry(format!("listing the call's recordings failed: {other}")),
        })?;
    let last_try = job.attempts >= job.max_attempts;
    if recordings.is_empty() {
        if last_try {
            tracing::warn!(call_sid = %p.call_sid, "RECORDING none listed for the call");
            return Ok(Outcome::Done);
        }
        return Err(
            JobError::retry("Twilio lists no recording for the call yet")
                .after(NOT_READY_WAIT * job.attempts.max(1) as u32),
        );
    }
    let base = twilio.config().base_url.trim_end_matches('/').to_string();
    // The call keeps one recording (the callback's, if it came first); each is fetched.
    let mut have = calls::by_sid(&state.db, &p.call_sid)
        .await?
        .is_some_and(|row| row.recording_sid.is_some());
    let mut pending = 0;
    for rec in &recordings {
        if rec.status != "completed" {
            pending += 1;
            continue;
        }
        check_sid("recording SID", &rec.sid)?;
        let path = rec.uri.strip_suffix(".json").unwrap_or(&rec.uri);
        if !path.starts_with("/2010-04-01/") {
            return Err(JobError::permanent(format!(
                "recording {} has an unexpected uri",
                rec.sid
            )));
        }
        let url = format!("{base}{path}");
        let duration = rec.duration.map(i64::from);
        if !have {
            calls::set_recording(&state.db, &p.call_sid, &rec.sid, &url, duration).await?;
            have = true;
        }
        if let Some(id) = super::fetch::enqueue(&state.db, &p.call_sid, &rec.sid, &url).await? {
            tracing::info!(call_sid = %p.call_sid, recording_sid = %rec.sid, job_id = id, "RECORDING found by listing the call");
        }
    }
    if pending > 0 && !last_try {
        return Err(JobError::retry(format!(
            "{pending} recording(s) of the call still processing"
        ))
        .after(NOT_READY_WAIT * job.attempts.max(1) as u32));
    }
    Ok(Outcome::Done)
}
