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

/// Transcribes the call's turns that have audio and no text; how many got text.
pub async fn transcribe(state: &CallsState, call_sid: &str) -> Result<usize, JobError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT turn_index, caller_audio_path FROM call_turns WHERE call_sid = $1 \
         AND caller_audio_path IS NOT NULL AND (caller_text IS NULL OR caller_text = '') \
         ORDER BY turn_index",
    )
    .bind(call_sid)
    .fetch_all(&state.db.pool)
    .await?;
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
        sqlx::query(
            "UPDATE call_turns SET caller_text = $3 WHERE call_sid = $1 AND turn_index = $2 \
             AND (caller_text IS NULL OR caller_text = '')",
        )
        .bind(call_sid)
        .bind(index)
        .bind(&text)
        .execute(&state.db.pool)
        .await?;
        done += 1;
    }
    tracing::info!(call_sid, turns = done, "OFFLINE_STT turns transcribed");
    Ok(done)
}
