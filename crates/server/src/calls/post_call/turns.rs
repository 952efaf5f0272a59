//! The caller's answers kept as audio (`call_turns.caller_audio_path`) during a call with
//! no speech-to-text, transcribed by the post-call `transcribe` job once a provider is
//! configured, so every turn of the call reads as text in the CRM (V7, V10).
//!
//! Only files under the data dir's `turns` folder are read; a turn whose file is gone or
//! unreadable is skipped (it stays audio-only), and a turn that already has text is never
//! sent again, so a rerun costs nothing.

use std::path::{Component, Path};

use super::JobError;
use super::transcribe::{offline_stt, transcribe_pcm};
use crate::calls::state::CallsState;
use crate::store::turns;

/// Transcribes the call's turns that have audio and no text; how many got text.
pub async fn transcribe(state: &CallsState, call_sid: &str) -> Result<usize, JobError> {
    let rows = turns::audio_only(&state.db, call_sid).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let dir = state.settings.data_dir.join("turns");
    let Some(stt) = offline_stt(state) else {
        return Ok(0);
    };
    let mut done = 0;
    for (index, path) in rows {
        let path = Path::new(&path);
        if !path.starts_with(&dir) || path.components().any(|c| c == Component::ParentDir) {
            tracing::warn!(
                call_sid,
                turn = index,
                "turn audio outside the turns folder: skipped"
            );
            continue;
        }
        let bytes = match tokio::fs::read(path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(
                    call_sid,
                    turn = index,
                    "turn audio already cleaned up: skipped"
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let Ok(wav) = audio::wav::read(&bytes) else {
            tracing::warn!(call_sid, turn = index, "unreadable turn audio: skipped");
            continue;
        };
        let text = transcribe_pcm(stt.as_ref(), &wav.mono_at(audio::SAMPLE_RATE)).await?;
        if text.is_empty() {
            continue;
        }
        turns::set_caller_text(&state.db, call_sid, index, &text).await?;
        done += 1;
    }
    tracing::info!(call_sid, turns = done, "OFFLINE_STT turns transcribed");
    Ok(done)
}
