//! What a call leaves to do after it ends, as durable jobs of the calls feature.
//!
//! The chain after a call: `fetch_recording` → `transcribe` → `summarise`, each enqueueing
//! the next with an idempotency key, so a rerun never doubles a step. A completed call that
//! Twilio recorded itself (V11) gets `call_recordings`, which lists the call's recordings
//! and enqueues a `fetch_recording` for each. A call that ran on the media stream gets
//! `streamed_call` when its stream ends: its turns lead to the same `summarise`.
//! The queue (`crate::jobs`) runs them through [`PostCall`], registered for [`KINDS`].

pub mod call_recordings;
pub mod extract;
pub mod fetch;
pub mod llm;
pub mod split;
pub mod streamed;
pub mod summarise;
pub mod transcribe;
pub mod turns;

use futures::future::BoxFuture;

use crate::calls::state::CallsState;
use crate::jobs::Handler;
pub(crate) use crate::jobs::{JobError, JobResult, check_sid, payload};
use crate::store::jobs::{self, Job};

pub const FETCH_RECORDING: &str = "fetch_recording";
pub const TRANSCRIBE: &str = "transcribe";
pub const SUMMARISE: &str = "summarise";
pub const CALL_RECORDINGS: &str = "call_recordings";
pub const STREAMED_CALL: &str = "streamed_call";

/// The kinds [`PostCall`] runs.
pub const KINDS: &[&str] = &[
    FETCH_RECORDING,
    TRANSCRIBE,
    SUMMARISE,
    CALL_RECORDINGS,
    STREAMED_CALL,
];

/// Runs the calls feature's jobs.
pub struct PostCall(pub CallsState);

impl Handler for PostCall {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let state = self.0.clone();
        Box::pin(async move {
            match job.kind.as_str() {
                FETCH_RECORDING => fetch::run(&state, &job).await,
                TRANSCRIBE => transcribe::run(&state, &job).await,
                SUMMARISE => summarise::run(&state, &job).await,
                CALL_RECORDINGS => call_recordings::run(&state, &job).await,
                STREAMED_CALL => streamed::run(&state, &job).await,
                other => Err(JobError::permanent(format!("unknown job kind `{other}`"))),
            }
        })
    }
}

/// Whether offline speech-to-text is configured: the engine `/readyz` names as
/// `stt_engine` (an OpenAI-compatible server, else Google), see [`transcribe::offline_stt`].
pub fn stt_configured(state: &CallsState) -> bool {
    state.settings.openai_stt_configured() || state.voice.stt.is_some()
}

/// At start-up: jobs parked for want of a provider run again once it is configured.
pub async fn resume_parked(state: &CallsState) {
    let mut kinds = Vec::new();
    if stt_configured(state) {
        kinds.push(TRANSCRIBE);
        kinds.push(STREAMED_CALL);
    }
    if state.twilio.is_some() {
        kinds.push(FETCH_RECORDING);
        kinds.push(CALL_RECORDINGS);
    }
    for kind in kinds {
        match jobs::resume_waiting(&state.db, kind).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                kind,
                resumed = n,
                "waiting jobs resumed: provider configured"
            ),
            Err(e) => tracing::warn!(kind, error = %e, "could not resume waiting jobs"),
        }
    }
}
