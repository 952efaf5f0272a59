//! `cleanup`: temporary audio and finished jobs past their retention are deleted (O4), so
//! the data dir and the jobs table never grow without bound.
//!
//! Recordings (`recordings/<call_sid>-<recording_sid>.wav`) and turn audio
//! (`turns/<call_sid>-<n>.wav`) are kept `MOKDAN_RECORDING_RETENTION_DAYS`, or less when
//! the call's business asks for less (`businesses.recording_retention_days`). Finished jobs
//! are kept `MOKDAN_JOB_RETENTION_DAYS`, dead ones `MOKDAN_DEAD_JOB_RETENTION_DAYS` (long
//! enough for the operator to look at them and retry). The job is enqueued at start and every ten
//! minutes with a key per ten-minute slot, so several nodes do not each run it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{JobResult, JobsState};
use crate::jobs::Outcome;
use crate::store::jobs::Job;
use crate::store::{Db, now_ms, post_call};

/// The clean-up's job kind.
pub const CLEANUP: &str = "cleanup";

/// How often the clean-up is scheduled.
pub const EVERY: Duration = Duration::from_secs(600);
const DAY_MS: i64 = 86_400_000;

/// What a clean-up removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub files: u64,
    pub bytes: u64,
    pub jobs: u64,
    /// Dead jobs past their retention.
    pub dead_jobs: u64,
}

/// Enqueues the clean-up now and every [`EVERY`] until shutdown.
pub async fn schedule(state: JobsState) {
    loop {
        let slot = now_ms() / EVERY.as_millis() as i64;
        let key = format!("cleanup:{slot}");
        if let Err(e) =
            crate::jobs::enqueue(&state.db, CLEANUP, &serde_json::json!({}), Some(&key)).await
        {
            tracing::warn!(error = %e, "could not schedule the clean-up");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
}

pub async fn run(state: &JobsState, _job: &Job) -> JobResult {
    let s = &state.settings;
    let mut report = cleanup(
        &state.db,
        &s.data_dir,
        s.recording_retention_days,
        s.job_retention_days,
    )
    .await?;
    report.dead_jobs = purge_dead(&state.db, s.dead_job_retention_days).await?;
    tracing::info!(
        files = report.files,
        bytes = report.bytes,
        jobs = report.jobs,
        dead_jobs = report.dead_jobs,
        "CLEANUP done"
    );
    Ok(Outcome::Done)
}

/// Deletes audio older than its retention and done jobs older than theirs.
pub async fn cleanup(
    db: &Db,
    data_dir: &Path,
    recording_days: u64,
    job_days: u64,
) -> Result<Report, super::JobError> {
    let mut report = Report::default();
    let global = Duration::from_secs(recording_days * 86_400);
    // The shortest retention any business asks for: younger files need no look-up.
    let shortest = crate::store::businesses::shortest_retention_days(db)
        .await?
        .map(|d| Duration::from_secs(d.max(0) as u64 * 86_400))
        .map_or(global, |d| d.min(global));
    for sub in ["recordings", "turns"] {
        for (path, age, len) in files(&data_dir.join(sub)).await {
            if age <= shortest {
                continue;
            }
            let limit = match call_sid_of(&path) {
                Some(sid) if age <= global => {
                    match post_call::retention_days_of_call(db, &sid).await? {
                        Some(d) => Duration::from_secs(d.max(0) as u64 * 86_400).min(global),
                        None => global,
                    }
                }
                _ => global,
            };
            if age > limit {
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => {
                        report.files += 1;
                        report.bytes += len;
                    }
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "could not delete old audio")
                    }
                }
            }
        }
    }
    report.jobs = crate::store::jobs::purge_done(db, now_ms() - job_days as i64 * DAY_MS).await?;
    Ok(report)
}

/// Deletes dead jobs older than `days` (the operator had that long to retry them).
pub async fn purge_dead(db: &Db, days: u64) -> Result<u64, super::JobError> {
    Ok(crate::store::jobs::purge_dead(db, now_ms() - days as i64 * DAY_MS).await?)
}

/// `CA…-RE….wav` or `CA…-3.wav` → `CA…`.
fn call_sid_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let sid = name.split('-').next()?;
    (!sid.is_empty() && sid.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| sid.to_string())
}

/// Every regular file under `dir` (recursively) with its age and size.
async fn files(dir: &Path) -> Vec<(PathBuf, Duration, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let now = SystemTime::now();
    while let Some(d) = stack.pop() {
        let Ok(mut entries) = tokio::fs::read_dir(&d).await else {
            continue;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                let age = meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .unwrap_or_default();
                out.push((entry.path(), age, meta.len()));
            }
        }
    }
    out
}
