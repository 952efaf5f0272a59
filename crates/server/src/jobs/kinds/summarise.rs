//! `summarise`: the call's summary and the caller's details, filed on the call and in the
//! CRM (V10). With an LLM configured the model writes them (validated JSON); without one,
//! or when its answers stay invalid, the extractive rules do. Then the call moves to
//! `transcribed` and the caller becomes (or updates) a customer of the business.

use serde::{Deserialize, Serialize};

use super::{JobError, JobResult, extract, llm, payload};
use crate::app::AppState;
use crate::domain::Phone;
use crate::jobs::Outcome;
use crate::store::jobs::Job;
use crate::store::{calls, customers, post_call};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summarise {
    pub call_sid: String,
}

pub async fn run(state: &AppState, job: &Job) -> JobResult {
    let p: Summarise = payload(job)?;
    super::check_sid("call SID", &p.call_sid)?;
    let Some(call) = post_call::get(&state.db, &p.call_sid).await? else {
        return Err(JobError::permanent(format!("no call {}", p.call_sid)));
    };
    let caller = caller_phone(&call);
    let filed = call.customer_id.is_some() || caller.is_none() || call.business_id.is_none();
    if call.call_summary.is_some() && filed {
        // A rerun after the work was done: nothing to add.
        calls::advance_status(&state.db, &p.call_sid, "transcribed", None).await?;
        return Ok(Outcome::Done);
    }
    let transcript = call.transcription.clone().unwrap_or_default();
    let extraction = match &state.settings.openai_api_key {
        Some(key) if !transcript.trim().is_empty() => {
            let model = voice::openai::OpenAiConfig::new("").chat_model;
            match llm::extract(
                &state.settings.openai_base_url,
                key.expose(),
                &model,
                &transcript,
            )
            .await
            {
                Ok(x) => x,
                Err(llm::LlmError::Transport(e)) if job.attempts < job.max_attempts => {
                    return Err(JobError::retry(format!("LLM: {e}")));
                }
                Err(e) => {
                    tracing::warn!(call_sid = %p.call_sid, error = %e, "LLM extraction failed: extractive summary instead");
                    extract::extractive(&transcript)
                }
            }
        }
        _ => extract::extractive(&transcript),
    };
    let customer_id = match (call.business_id, &caller) {
        (Some(business_id), Some(phone)) => Some(
            customers::upsert_by_phone(
                &state.db,
                business_id,
                phone,
                extraction.name.as_deref(),
                "call",
            )
            .await?,
        ),
        _ => None,
    };
    post_call::set_extraction(&state.db, &p.call_sid, &extraction, customer_id).await?;
    calls::advance_status(&state.db, &p.call_sid, "transcribed", None).await?;
    tracing::info!(
        call_sid = %p.call_sid,
        customer_id = ?customer_id,
        llm = state.settings.openai_api_key.is_some(),
        "Post-call extraction complete call_sid={}",
        p.call_sid
    );
    Ok(Outcome::Done)
}

/// The other party's number: `From` on an inbound call, `To` on an outbound one.
fn caller_phone(call: &post_call::PostCall) -> Option<Phone> {
    let raw = if call.direction.starts_with("outbound") {
        call.to_number.as_deref()
    } else {
        call.from_number.as_deref()
    };
    raw.and_then(|r| Phone::parse(r).ok())
}
