//! The job kinds and the dispatcher that routes a claimed job to its code.
//!
//! The chain after a call: `fetch_recording` → `transcribe` → `summarise`, each enqueueing
//! the next with an idempotency key, so a rerun never doubles a step. A completed call that
//! Twilio recorded itself (V11) gets `call_recordings`, which lists the call's recordings
//! and enqueues a `fetch_recording` for each. A call that ran on the media stream gets
//! `streamed_call` when its stream ends: its turns lead to the same `summarise`. `cleanup`
//! runs on its own schedule. WhatsApp's
//! outbound work is `whatsapp_reply` (write the auto-reply) and `whatsapp_send`.

pub mod call_recordings;
pub mod cleanup;
pub mod extract;
pub mod fetch;
pub mod llm;
pub mod split;
pub mod streamed;
pub mod summarise;
pub mod transcribe;
pub mod turns;
pub mod whatsapp;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::worker::{Handler, JobError, JobResult};
use crate::app::AppState;
use crate::store::jobs::{self, Job};

pub const FETCH_RECORDING: &str = "fetch_recording";
pub const TRANSCRIBE: &str = "transcribe";
pub const SUMMARISE: &str = "summarise";
pub const CLEANUP: &str = "cleanup";
pub const CALL_RECORDINGS: &str = "call_recordings";
pub const WHATSAPP_SEND: &str = "whatsapp_send";
pub const WHATSAPP_REPLY: &str = "whatsapp_reply";
pub const STREAMED_CALL: &str = "streamed_call";

/// Runs the application's jobs.
pub struct AppHandler(pub AppState);

impl Handler for AppHandler {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        let state = self.0.clone();
        Box::pin(async move {
            match job.kind.as_str() {
                FETCH_RECORDING => fetch::run(&state, &job).await,
                TRANSCRIBE => transcribe::run(&state, &job).await,
                SUMMARISE => summarise::run(&state, &job).await,
                CLEANUP => cleanup::run(&state, &job).await,
                CALL_RECORDINGS => call_recordings::run(&state, &job).await,
                STREAMED_CALL => streamed::run(&state, &job).await,
                WHATSAPP_SEND => whatsapp::run_send(&state, &job).await,
                WHATSAPP_REPLY => whatsapp::run_reply(&state, &job).await,
                other => Err(JobError::permanent(format!("unknown job kind `{other}`"))),
            }
        })
    }
}

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

/// Whether offline speech-to-text is configured: the engine `/readyz` names as
/// `stt_engine` (an OpenAI-compatible server, else Google), see [`transcribe::offline_stt`].
pub fn stt_configured(state: &AppState) -> bool {
    state.settings.openai_stt_configured() || state.voice.stt.is_some()
}

/// At start-up: jobs parked for want of a provider run again once it is configured.
pub async fn resume_parked(state: &AppState) {
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
