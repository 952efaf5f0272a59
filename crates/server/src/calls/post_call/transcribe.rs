//! `transcribe`: the recording to Hebrew text, saved to `call_logs.transcription` (V10).
//!
//! Speech-to-text is the engine that hears callers live, the one `/readyz` names as
//! `stt_engine`: any OpenAI-compatible `audio/transcriptions` server (OpenAI's whisper-1,
//! or a local faster-whisper/whisper.cpp server with a Hebrew model) at
//! `OPENAI_STT_BASE_URL`, else `OPENAI_BASE_URL`; else Google's `speech:recognize` with the
//! service account. No local Hebrew model exists to bundle, so without either the job parks
//! in `waiting`, visible to the operator, and resumes when one is set at the next start.
//! Long recordings go up in pieces of at most a minute (also Google's limit for a
//! synchronous request), cut at silences.
//! The same job then transcribes the call's turns kept as audio (see `turns`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use voice::SpeechToText;
use voice::openai::{OpenAiConfig, OpenAiStt};

use super::{JobError, JobResult, SUMMARISE, payload, split, stt_configured};
use crate::calls::state::CallsState;
use crate::jobs::Outcome;
use crate::store::jobs::Job;
use crate::store::post_call;

/// Longest piece sent to speech-to-text.
pub const MAX_PIECE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transcribe {
    pub call_sid: String,
    pub path: String,
}

fn summary_key(call_sid: &str) -> String {
    format!("summarise:{call_sid}")
}

/// Enqueues the summary of a call; once per call.
pub async fn enqueue_summary(db: &crate::store::Db, call_sid: &str) -> Result<(), sqlx::Error> {
    let payload = serde_json::json!({ "call_sid": call_sid });
    crate::jobs::enqueue(db, SUMMARISE, &payload, Some(&summary_key(call_sid))).await?;
    Ok(())
}

/// A transcript arrived after the call was summarised without it (a streamed call whose
/// message waited for speech-to-text): the call's one summary job runs again with it.
pub(super) async fn resummarise(db: &crate::store::Db, call_sid: &str) -> Result<(), sqlx::Error> {
    if post_call::clear_summary(db, call_sid).await?
        && crate::store::jobs::requeue_done(db, &summary_key(call_sid)).await?
    {
        crate::jobs::wake();
    }
    Ok(())
}

pub async fn run(state: &CallsState, job: &Job) -> JobResult {
    let p: Transcribe = payload(job)?;
    super::check_sid("call SID", &p.call_sid)?;
    let Some(call) = crate::store::calls::by_sid(&state.db, &p.call_sid).await? else {
        return Err(JobError::permanent(format!("no call {}", p.call_sid)));
    };
    if call.transcription.is_some() {
        // Already transcribed (a rerun, or another recording of the same call got there first).
        if stt_configured(state) {
            super::turns::transcribe(state, &p.call_sid).await?;
        }
        enqueue_summary(&state.db, &p.call_sid).await?;
        return Ok(Outcome::Done);
    }
    let Some(stt) = offline_stt(state) else {
        return Ok(Outcome::Waiting(
            "no speech-to-text configured: set OPENAI_API_KEY, OPENAI_STT_BASE_URL for a \
             compatible server, or Google credentials"
                .into(),
        ));
    };
    let recordings = state.settings.data_dir.join("recordings");
    let path = std::path::Path::new(&p.path);
    if !path.starts_with(&recordings) {
        return Err(JobError::permanent(format!(
            "{} is not under the recordings folder",
            p.path
        )));
    }
    let bytes = match tokio::fs::read(path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(JobError::permanent(format!(
                "recording file {} is gone",
                p.path
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let wav = audio::wav::read(&bytes)
        .map_err(|e| JobError::permanent(format!("unreadable recording: {e}")))?;
    let text = match (
        wav.channel_at(0, audio::SAMPLE_RATE),
        wav.channel_at(1, audio::SAMPLE_RATE),
    ) {
        // A dual-channel recording (`<Start><Recording>`): the caller, then the agent.
        (Some(caller), Some(agent)) if wav.channels == 2 => {
            transcribe_dual(stt.as_ref(), &caller, &agent).await?
        }
        _ => transcribe_pcm(stt.as_ref(), &wav.mono_at(audio::SAMPLE_RATE)).await?,
    };
    let chars = text.chars().count();
    if post_call::set_transcription(&state.db, &p.call_sid, &text).await? {
        resummarise(&state.db, &p.call_sid).await?;
    }
    tracing::info!(
        call_sid = %p.call_sid,
        chars,
        "OFFLINE_STT Transcript obtained chars={chars}"
    );
    super::turns::transcribe(state, &p.call_sid).await?;
    enqueue_summary(&state.db, &p.call_sid).await?;
    Ok(Outcome::Done)
}

/// Who speaks on each channel of a dual-channel call recording, as the transcript says it.
pub const CALLER_LABEL: &str = "מתקשר/ת";
pub const AGENT_LABEL: &str = "מוקדן";

/// A dual-channel recording to a transcript with the speakers told apart: each channel's
/// speech, cut at its silences, transcribed on its own, then all lines in the order they
/// were spoken, each starting with who said it. With no speech on either channel, the
/// whole call is judged as one (see [`transcribe_pcm`]).
pub(super) async fn transcribe_dual(
    stt: &dyn SpeechToText,
    caller: &[i16],
    agent: &[i16],
) -> Result<String, JobError> {
    let mut lines: Vec<(usize, &str, String)> = Vec::new();
    for (label, pcm) in [(CALLER_LABEL, caller), (AGENT_LABEL, agent)] {
        for piece in split::at_silences(pcm, audio::SAMPLE_RATE, MAX_PIECE)
            .into_iter()
            .filter(|p| p.speech)
        {
            let t = stt
                .transcribe(&pcm[piece.range.clone()], "he")
                .await
                .map_err(|e| JobError::retry(format!("speech-to-text: {e}")))?;
            if !t.text.trim().is_empty() {
                lines.push((piece.range.start, label, t.text.trim().to_string()));
            }
        }
    }
    if lines.is_empty() {
        let len = caller.len().max(agent.len());
        let mixed: Vec<i16> = (0..len)
            .map(|i| {
                let c = i32::from(caller.get(i).copied().unwrap_or(0));
                let a = i32::from(agent.get(i).copied().unwrap_or(0));
                ((c + a) / 2) as i16
            })
            .collect();
        return transcribe_pcm(stt, &mixed).await;
    }
    lines.sort_by_key(|(at, _, _)| *at);
    Ok(lines
        .into_iter()
        .map(|(_, who, text)| format!("{who}: {text}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// 8 kHz audio to Hebrew text, in pieces cut at silences (only the pieces with speech,
/// unless nobody is heard anywhere: then the service judges the whole thing).
pub(super) async fn transcribe_pcm(
    stt: &dyn SpeechToText,
    pcm: &[i16],
) -> Result<String, JobError> {
    let pieces = split::at_silences(pcm, audio::SAMPLE_RATE, MAX_PIECE);
    let any_speech = pieces.iter().any(|p| p.speech);
    let mut parts = Vec::new();
    for piece in pieces.iter().filter(|p| p.speech || !any_speech) {
        let t = stt
            .transcribe(&pcm[piece.range.clone()], "he")
            .await
            .map_err(|e| JobError::retry(format!("speech-to-text: {e}")))?;
        if !t.text.trim().is_empty() {
            parts.push(t.text.trim().to_string());
        }
    }
    Ok(parts.join(" "))
}

/// The speech-to-text recordings and kept turns are transcribed with: the same engine as
/// the live path (`/readyz`'s `stt_engine`). An OpenAI-compatible server gets a longer
/// timeout than a live turn (a minute of audio takes a while to upload); Google is the live
/// client itself, with its cached token. `None`: no speech-to-text is configured.
pub fn offline_stt(state: &CallsState) -> Option<Arc<dyn SpeechToText>> {
    if state.settings.openai_stt_configured() {
        return Some(Arc::new(OpenAiStt::new(stt_config(state))));
    }
    state.voice.stt.clone()
}

/// The OpenAI-compatible speech-to-text this service is configured with.
pub fn stt_config(state: &CallsState) -> OpenAiConfig {
    let mut cfg = crate::providers::openai_stt(&state.settings).unwrap_or_else(|| {
        OpenAiConfig::new("").with_base_url(state.settings.openai_stt_base().to_string())
    });
    // A minute of audio can take a while to upload and transcribe.
    cfg.timeout = Duration::from_secs(120);
    cfg
}
