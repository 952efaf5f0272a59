//! `streamed_call`: the post-call work of a call that ran on the media stream (V10).
//!
//! The recording chain (`fetch_recording` → `transcribe` → `summarise`) starts only from a
//! recording, and a conversation on the stream leaves none: its content is its turns. So
//! the end of every stream queues this job (once per call, whichever node and however
//! often): it transcribes the turns kept as audio when speech-to-text is configured, then
//! queues the call's one `summarise` job, which reads the turns (and any recorded message)
//! and files the caller as a lead of the business.
//!
//! Without speech-to-text the call is filed at once and the job then waits (`waiting`) with
//! the answers kept as audio; a start with speech-to-text configured runs it again, and the
//! answers it hears make the summary again.
//!
//! A stream that ended without a finished conversation may go on into the recording
//! fallback, whose message belongs in the summary. Such a job is queued for later and
//! brought forward when Twilio says the call completed; if the caller left a message that
//! the recording chain will transcribe, that chain queues the summary instead.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{JobResult, STREAMED_CALL, check_sid, payload, stt_configured};
use crate::calls::state::CallsState;
use crate::jobs::Outcome;
use crate::store::jobs::Job;
use crate::store::{Db, calls, now_ms};

/// How long a stream that ended without a finished conversation waits for the call to
/// complete (a recorded message) before it is summarised anyway.
pub const AFTER_FALLBACK: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Streamed {
    pub call_sid: String,
}

fn key(call_sid: &str) -> String {
    format!("{STREAMED_CALL}:{call_sid}")
}

/// Queues the call's post-call work, `delay` from now (at once when the call already
/// completed); once per call.
pub async fn enqueue(db: &Db, call_sid: &str, delay: Duration) -> Result<(), sqlx::Error> {
    let mut delay = delay;
    if !delay.is_zero()
        && let Some(row) = calls::by_sid(db, call_sid).await?
        && row.status.has_ended()
    {
        delay = Duration::ZERO;
    }
    let payload = serde_json::to_value(Streamed {
        call_sid: call_sid.to_string(),
    })
    .unwrap_or_default();
    let at = now_ms() + delay.as_millis() as i64;
    let id = crate::jobs::enqueue_at(db, STREAMED_CALL, &payload, Some(&key(call_sid)), at).await?;
    // The call may have completed between the look above and the insert, when
    // `call_completed` found no job yet to run: look again now that the job is there, so
    // the work never waits out the whole delay for a call that is over.
    if !delay.is_zero()
        && let Some(row) = calls::by_sid(db, call_sid).await?
        && row.status.has_ended()
    {
        call_completed(db, call_sid).await?;
    }
    if let Some(id) = id {
        tracing::info!(
            call_sid,
            job_id = id,
            delay_ms = delay.as_millis() as u64,
            "post-call work queued for a streamed call"
        );
    }
    Ok(())
}

/// The call completed: its post-call work, if it waits, runs now.
pub async fn call_completed(db: &Db, call_sid: &str) -> Result<(), sqlx::Error> {
    if crate::store::jobs::run_now(db, &key(call_sid)).await? {
        crate::jobs::wake();
    }
    Ok(())
}

pub async fn run(state: &CallsState, job: &Job) -> JobResult {
    let p: Streamed = payload(job)?;
    check_sid("call SID", &p.call_sid)?;
    let Some(call) = calls::by_sid(&state.db, &p.call_sid).await? else {
        return Err(super::JobError::permanent(format!(
            "no call {}",
            p.call_sid
        )));
    };
    let stt = stt_configured(state);
    if stt && super::turns::transcribe(state, &p.call_sid).await? > 0 {
        // Answers heard only now (speech-to-text configured since): summarise with them.
        super::transcribe::resummarise(&state.db, &p.call_sid).await?;
    }
    // A message the caller left will be transcribed by the recording chain, which then
    // queues the summary itself (with the turns): wait for it rather than summarise twice.
    let chain_will_summarise = call.recording_sid.is_some()
        && call.transcription.is_none()
        && state.twilio.is_some()
        && stt_configured(state);
    if chain_will_summarise {
        tracing::info!(call_sid = %p.call_sid, "streamed call: the recorded message's transcript brings the summary");
    } else {
        super::transcribe::enqueue_summary(&state.db, &p.call_sid).await?;
    }
    if !stt && crate::store::turns::count_audio_only(&state.db, &p.call_sid).await? > 0 {
        // The call is filed already; its answers wait as audio for speech-to-text, and this
        // job runs again at the first start with it.
        return Ok(Outcome::Waiting(
            "the caller's answers are kept as audio: set OPENAI_API_KEY, or \
             OPENAI_STT_BASE_URL for a compatible server, to transcribe them"
                .into(),
        ));
    }
    Ok(Outcome::Done)
}
