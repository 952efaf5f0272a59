//! `summarise`: the call's summary and the caller's details, filed on the call and in the
//! CRM (V10), from what the call left: the turns of its conversation on the stream and the
//! transcript of a recorded message. With an LLM configured the model writes them
//! (validated JSON); without one, or when its answers stay invalid, the extractive rules do
//! on the caller's words. Answers kept only as audio still make a summary ("הודעה קולית"). Then the call moves to
//! `transcribed` and the caller becomes (or updates) a customer of the business.

use serde::{Deserialize, Serialize};

use super::{JobError, JobResult, extract, llm, payload};
use crate::calls::state::CallsState;
use crate::domain::{CallStatus, Phone};
use crate::jobs::Outcome;
use crate::store::jobs::Job;
use crate::store::{calls, customers, post_call, turns};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summarise {
    pub call_sid: String,
}

pub async fn run(state: &CallsState, job: &Job) -> JobResult {
    let p: Summarise = payload(job)?;
    super::check_sid("call SID", &p.call_sid)?;
    let Some(call) = calls::by_sid(&state.db, &p.call_sid).await? else {
        return Err(JobError::permanent(format!("no call {}", p.call_sid)));
    };
    let caller = caller_phone(&call);
    let filed = call.customer_id.is_some() || caller.is_none() || call.business_id.is_none();
    if call.call_summary.is_some() && filed {
        // A rerun after the work was done: nothing to add.
        if call.transcription.is_some() {
            calls::advance_status(&state.db, &p.call_sid, &CallStatus::Transcribed, None).await?;
        }
        // The run that stored it may have died before telling anyone (idempotent).
        crate::notify::call_summarised(&state.db, &p.call_sid).await;
        return Ok(Outcome::Done);
    }
    let turns = turns::of_call(&state.db, &p.call_sid).await?;
    let recorded = call_recorded(&state.db, &p.call_sid).await?;
    let mut content = Content::of(call.transcription.as_deref(), &turns);
    content.untranscribed_message = recorded && call.transcription.is_none();
    let extraction = match &state.settings.openai_api_key {
        Some(key) if !content.dialogue.trim().is_empty() => {
            let model = voice::openai::OpenAiConfig::new("").chat_model;
            match llm::extract(
                &state.settings.openai_base_url,
                key.expose(),
                &model,
                &content.dialogue,
            )
            .await
            {
                Ok(x) => x,
                Err(llm::LlmError::Transport(e)) if job.attempts < job.max_attempts => {
                    return Err(JobError::retry(format!("LLM: {e}")));
                }
                Err(e) => {
                    tracing::warn!(call_sid = %p.call_sid, error = %e, "LLM extraction failed: extractive summary instead");
                    content.extractive()
                }
            }
        }
        _ => content.extractive(),
    };
    let (customer_id, new_lead) = match (call.business_id, &caller) {
        (Some(business_id), Some(phone)) => {
            let (id, created) = customers::upsert_by_phone_created(
                &state.db,
                business_id,
                phone,
                extraction.name.as_deref(),
                "call",
            )
            .await?;
            (Some(id), created.then_some((business_id, id)))
        }
        _ => (None, None),
    };
    post_call::set_extraction(&state.db, &p.call_sid, &extraction, customer_id).await?;
    // Signed webhooks out (#22): the new lead, then the summary. The work is done, so a
    // failure to record them is logged, not retried.
    if let Some((business_id, id)) = new_lead
        && let Err(e) = crate::hooks::emit_lead(&state.db, business_id, id).await
    {
        tracing::warn!(call_sid = %p.call_sid, error = %e, "WEBHOOK_EMIT_FAILED");
    }
    // `transcribed` says there is text to read; a call known only as audio keeps its status.
    if call.transcription.is_some() || !content.caller.is_empty() {
        calls::advance_status(&state.db, &p.call_sid, &CallStatus::Transcribed, None).await?;
    }
    if let Err(e) =
        crate::hooks::emit_call(&state.db, &p.call_sid, crate::hooks::Event::CallSummarised).await
    {
        tracing::warn!(call_sid = %p.call_sid, error = %e, "WEBHOOK_EMIT_FAILED");
    }
    // The business's users are told, each by their own preferences (#22).
    crate::notify::call_summarised(&state.db, &p.call_sid).await;
    tracing::info!(
        call_sid = %p.call_sid,
        customer_id = ?customer_id,
        llm = state.settings.openai_api_key.is_some(),
        "Post-call extraction complete call_sid={}",
        p.call_sid
    );
    Ok(Outcome::Done)
}

/// What a call left to summarise: the recorded message's transcript and the turns of the
/// conversation on the stream.
struct Content {
    /// Both, as one text for the LLM, the conversation labelled by speaker.
    dialogue: String,
    /// Only what the caller said (the agent's questions would read as the caller's words).
    caller: String,
    /// The caller's answers kept as audio with no text (no speech-to-text configured).
    audio_only: usize,
    /// A message was recorded and is not transcribed (no speech-to-text configured).
    untranscribed_message: bool,
    turns: usize,
}

impl Content {
    fn of(recording: Option<&str>, turns: &[crate::store::turns::Turn]) -> Content {
        fn said(t: &Option<String>) -> Option<&str> {
            t.as_deref().map(str::trim).filter(|t| !t.is_empty())
        }
        let mut dialogue = Vec::new();
        let mut caller = Vec::new();
        let mut audio_only = 0;
        for t in turns {
            match said(&t.caller_text) {
                Some(text) => {
                    dialogue.push(format!("מתקשר: {text}"));
                    caller.push(text.to_string());
                }
                None if t.caller_audio_path.is_some() => {
                    audio_only += 1;
                    dialogue.push("מתקשר: [תשובה קולית ללא תמלול]".to_string());
                }
                None => {}
            }
            if let Some(text) = said(&t.agent_text) {
                dialogue.push(format!("נציג: {text}"));
            }
        }
        if let Some(message) = recording.map(str::trim).filter(|t| !t.is_empty()) {
            dialogue.push(format!("הודעה מוקלטת של המתקשר: {message}"));
            caller.push(message.to_string());
        }
        Content {
            dialogue: if caller.is_empty() {
                String::new()
            } else {
                dialogue.join("\n")
            },
            caller: caller.join("\n"),
            audio_only,
            untranscribed_message: false,
            turns: turns.len(),
        }
    }

    /// The summary by rules: from the caller's words, or what is known without them.
    fn extractive(&self) -> post_call::Extraction {
        let unheard = self.audio_only > 0 || self.untranscribed_message;
        if !self.caller.trim().is_empty() || (self.turns == 0 && !unheard) {
            return extract::extractive(&self.caller);
        }
        let mut summary = format!("{} הודעה קולית:", extract::PREFIX);
        if self.audio_only > 0 {
            summary.push_str(&format!(
                " {} תשובות של המתקשר נשמרו כהקלטה ללא תמלול.",
                self.audio_only
            ));
        }
        if self.untranscribed_message {
            summary.push_str(" המתקשר השאיר הודעה מוקלטת שלא תומללה.");
        }
        if unheard {
            summary.push_str(" אפשר להאזין בשיחה.");
        } else {
            summary = format!("{} המתקשר לא השאיר פרטים בשיחה.", extract::PREFIX);
        }
        post_call::Extraction {
            summary,
            ..Default::default()
        }
    }
}

/// Whether Twilio reported a recording of the call.
async fn call_recorded(db: &crate::store::Db, call_sid: &str) -> Result<bool, sqlx::Error> {
    Ok(calls::by_sid(db, call_sid)
        .await?
        .is_some_and(|r| r.recording_sid.is_some()))
}

/// The other party's number: `From` on an inbound call, `To` on an outbound one.
fn caller_phone(call: &calls::CallRow) -> Option<Phone> {
    let raw = if call.direction.is_outbound() {
        call.to_number.as_deref()
    } else {
        call.from_number.as_deref()
    };
    raw.and_then(|r| Phone::parse(r).ok())
}
