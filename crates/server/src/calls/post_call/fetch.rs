//! `fetch_recording`: downloads a call's recording from Twilio into the data dir (V10, V11).
//!
//! The download goes through the Twilio client: the account's Basic auth, a timeout,
//! retries of transient failures, and a refusal of any URL outside the configured API host,
//! so a forged `RecordingUrl` cannot make us fetch internal addresses with our credentials.
//! The file is written under a temporary name and renamed, so a crash never leaves a
//! half-written recording that a rerun would mistake for a finished one.

use serde::{Deserialize, Serialize};
use telephony::rest::TwilioError;

use super::{JobError, JobResult, TRANSCRIBE, check_sid, payload};
use crate::calls::state::CallsState;
use crate::jobs::Outcome;
use crate::store::jobs::Job;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchRecording {
    pub call_sid: String,
    pub recording_sid: String,
    pub recording_url: String,
}

/// Enqueues the download of a recording; once per recording, however often Twilio calls.
pub async fn enqueue(
    db: &crate::store::Db,
    call_sid: &str,
    recording_sid: &str,
    recording_url: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let p = FetchRecording {
        call_sid: call_sid.into(),
        recording_sid: recording_sid.into(),
        recording_url: recording_url.into(),
    };
    let payload = serde_json::to_value(&p).unwrap_or_default();
    let key = format!("fetch:{recording_sid}");
    crate::jobs::enqueue(db, super::FETCH_RECORDING, &payload, Some(&key)).await
}

/// Where a recording is kept.
pub fn recording_path(
    data_dir: &std::path::Path,
    call_sid: &str,
    recording_sid: &str,
) -> std::path::PathBuf {
    data_dir
        .join("recordings")
        .join(format!("{call_sid}-{recording_sid}.wav"))
}

/// Twilio serves a recording's audio at its URL plus `.wav`.
pub fn media_url(recording_url: &str) -> String {
    let last = recording_url.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        recording_url.to_string()
    } else {
        format!("{recording_url}.wav")
    }
}

pub async fn run(state: &CallsState, job: &Job) -> JobResult {
    let p: FetchRecording = payload(job)?;
    check_sid("call SID", &p.call_sid)?;
    check_sid("recording SID", &p.recording_sid)?;
    let Some(twilio) = &state.twilio else {
        return Ok(Outcome::Waiting(
            "no Twilio account configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)".into(),
        ));
    };
    let path = recording_path(&state.settings.data_dir, &p.call_sid, &p.recording_sid);
    let have = tokio::fs::metadata(&path)
        .await
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if !have {
        let bytes = twilio
            .download_recording(&media_url(&p.recording_url))
            .await
            .map_err(classify)?;
        if audio::wav::read(&bytes).is_err() {
            return Err(JobError::retry(format!(
                "the recording is not a WAV file ({} bytes)",
                bytes.len()
            )));
        }
        let dir = path.parent().unwrap_or(&state.settings.data_dir);
        tokio::fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!(
            ".{}-{}.{}.tmp",
            p.call_sid,
            p.recording_sid,
            uuid::Uuid::new_v4().simple()
        ));
        if let Err(e) = tokio::fs::write(&tmp, &bytes).await {
            // A full disk leaves a partial file: remove it, or it keeps the space taken.
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e.into());
        }
        tracing::info!(
            call_sid = %p.call_sid,
            recording_sid = %p.recording_sid,
            bytes = bytes.len(),
            path = %path.display(),
            "RECORDING call_sid={} bytes={} downloaded",
            p.call_sid,
            bytes.len()
        );
    }
    let next = serde_json::json!({ "call_sid": p.call_sid, "path": path.display().to_string() });
    let key = format!("transcribe:{}:{}", p.call_sid, p.recording_sid);
    crate::jobs::enqueue(&state.db, TRANSCRIBE, &next, Some(&key)).await?;
    Ok(Outcome::Done)
}

/// A forged or malformed URL can never succeed; everything else may be momentary (Twilio
/// answers 404 for a few seconds after a recording completes).
fn classify(e: TwilioError) -> JobError {
    match e {
        TwilioError::ForeignUrl(_) | TwilioError::InvalidArgument(_) => {
            JobError::permanent(format!("recording download refused: {e}"))
        }
        TwilioError::TooLarge(_) => JobError::permanent(e.to_string()),
        other => JobError::retry(format!("recording download failed: {other}")),
    }
}

/// The newest downloaded recording of `call_sid` under the data dir's `recordings` folder
/// (`<call_sid>-<recording_sid>.wav`); `None` when none is there yet, or the SID is unsafe.
pub async fn recording_file(
    data_dir: &std::path::Path,
    call_sid: &str,
) -> Option<std::path::PathBuf> {
    if call_sid.is_empty() || !call_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let dir = data_dir.join("recordings");
    let prefix = format!("{call_sid}-");
    let mut entries = tokio::fs::read_dir(&dir).await.ok()?;
    let mut best: Option<(std::time::SystemTime, std::path::PathBuf)> = None;
    while let Ok(Some(e)) = entries.next_entry().await {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with(&prefix) && name.ends_with(".wav")) {
            continue;
        }
        let Ok(meta) = e.metadata().await else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(t, _)| modified > *t) {
            best = Some((modified, e.path()));
        }
    }
    best.map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_url_appends_wav_once() {
        assert_eq!(
            media_url("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"),
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.wav"
        );
        assert_eq!(media_url("https://h/a/RE1.mp3"), "https://h/a/RE1.mp3");
    }
}
