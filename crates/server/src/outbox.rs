//! A local durable outbox for webhook writes that the database refused.
//!
//! When the database is down, a caller must still be answered and no call or message may
//! be lost (V3, V12, W2): nor may what a live call produced (its turns, the caller's
//! details, a call-back request). So a webhook whose write fails appends the write to a file under
//! the data dir (one JSON line, flushed to disk) and answers anyway; a background task
//! replays the file once the database is back. Every replayed write is idempotent
//! (insert-if-absent, forward-only status, messages unique per provider id), so a replay
//! after a crash, or twice, changes nothing. Twilio does not redeliver a messaging webhook
//! it got a 2xx for, and Meta answers are due within seconds, so inbound WhatsApp messages
//! and delivery statuses take the same path as call rows.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::domain::{CallDirection, CallStatus};
use crate::store::{Db, calls};
use crate::whatsapp::inbound::{Inbound, MediaRef};

/// A call-log write to apply later.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Pending {
    Insert {
        call_sid: String,
        business_id: Option<i64>,
        from: Option<String>,
        to: Option<String>,
        direction: String,
        status: String,
    },
    /// Replayed with the call's recording listing when `completed` (V11).
    Status {
        call_sid: String,
        status: String,
        duration_secs: Option<i64>,
    },
    /// Replayed with the recording's fetch job (V10).
    Recording {
        call_sid: String,
        recording_sid: String,
        recording_url: String,
        duration_secs: Option<i64>,
    },
    /// The end of a call's media stream, and whether the caller was sent to recording.
    StreamEnded {
        call_sid: String,
        reason: String,
        fallback: bool,
    },
    /// A call's media stream started.
    StreamStarted {
        call_sid: String,
        stream_sid: String,
    },
    /// The recording fallback was offered to the caller (`transfer_ended`).
    Fallback { call_sid: String, reason: String },
    /// The caller asked for a person to call back (an unanswered or impossible transfer).
    CallBack { call_sid: String },
    /// The caller's details as the agent heard them during a live call.
    CallerDetails {
        call_sid: String,
        details: calls::Details,
    },
    /// A finished turn of a live call.
    Turn(crate::store::turns::NewTurn),
    /// A media stream ended: its call's post-call work (`streamed_call`), queued `delay_ms`
    /// after the replay.
    StreamedCall { call_sid: String, delay_ms: u64 },
    /// An inbound WhatsApp message, replayed through the whole inbound path (store once,
    /// link the customer, auto-reply).
    WhatsappInbound {
        provider: String,
        provider_message_id: String,
        from: String,
        to: Option<String>,
        body: Option<String>,
        #[serde(default)]
        media: Vec<MediaRef>,
        profile_name: Option<String>,
        reply_to: Option<String>,
        base: Option<String>,
    },
    /// A delivery status of a WhatsApp message we sent, replayed forward-only (W4).
    WhatsappStatus {
        provider: String,
        provider_message_id: String,
        status: String,
        error_code: Option<String>,
        error_message: Option<String>,
    },
}

pub struct Outbox {
    path: PathBuf,
    /// One writer at a time on the file. A replay holds it only to read the file and to
    /// drop what it applied, never while it waits on the database: a webhook keeping a
    /// write must not wait behind a replay stuck on a sick database.
    lock: Mutex<()>,
    /// One replay at a time.
    replaying: Mutex<()>,
}

impl Outbox {
    pub fn new(data_dir: &std::path::Path) -> Self {
        Outbox {
            path: data_dir.join("outbox").join("calls.jsonl"),
            lock: Mutex::new(()),
            replaying: Mutex::new(()),
        }
    }

    /// Appends a write and flushes it to disk.
    pub async fn push(&self, op: &Pending) -> std::io::Result<()> {
        let _g = self.lock.lock().await;
        if let Some(dir) = self.path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut line = serde_json::to_vec(op).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await?;
        f.write_all(&line).await?;
        f.sync_data().await?;
        metrics::counter!("mokdan_outbox_writes_total").increment(1);
        tracing::warn!(
            ?op,
            "OUTBOX: database unavailable, write kept locally for replay"
        );
        Ok(())
    }

    /// Keeps writes the database refused, for replay; a write that cannot even be kept
    /// is logged as lost.
    pub async fn keep(&self, ops: &[Pending]) {
        for op in ops {
            if let Err(e) = self.push(op).await {
                crate::telemetry::count_error("outbox");
                tracing::error!(error = %e, ?op, "OUTBOX: cannot keep a write: it is lost");
            }
        }
    }

    /// Applies every pending write; keeps the file if any write still fails. Writes kept
    /// while the replay runs stay for the next one.
    pub async fn replay(&self, state: &AppState) -> usize {
        let db = &state.db;
        // Only try when the database answers.
        if !matches!(
            tokio::time::timeout(Duration::from_secs(1), db.ping()).await,
            Ok(Ok(()))
        ) {
            return 0;
        }
        let _replay = self.replaying.lock().await;
        let text = {
            let _g = self.lock.lock().await;
            match tokio::fs::read_to_string(&self.path).await {
                Ok(text) => text,
                Err(_) => return 0,
            }
        };
        let ops: Vec<Pending> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(op) => Some(op),
                Err(e) => {
                    tracing::error!(error = %e, "OUTBOX: unreadable line skipped");
                    None
                }
            })
            .collect();
        for op in &ops {
            let applied = tokio::time::timeout(Duration::from_secs(2), apply(state, op))
                .await
                .unwrap_or(Err(sqlx::Error::PoolTimedOut));
            if let Err(e) = applied {
                tracing::warn!(error = %e, "OUTBOX: database still unavailable");
                return 0;
            }
        }
        if let Err(e) = self.drop_prefix(text.len()).await {
            tracing::error!(error = %e, "OUTBOX: cannot clear the replayed writes");
        }
        if !ops.is_empty() {
            tracing::info!(writes = ops.len(), "OUTBOX: replayed");
        }
        ops.len()
    }

    /// Removes the file's first `len` bytes (what a replay applied; writes only ever
    /// append), keeping whatever was appended since, atomically.
    async fn drop_prefix(&self, len: usize) -> std::io::Result<()> {
        let _g = self.lock.lock().await;
        let now = tokio::fs::read(&self.path).await?;
        let rest = now.get(len..).unwrap_or_default();
        if rest.is_empty() {
            return tokio::fs::remove_file(&self.path).await;
        }
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut f = tokio::fs::File::create(&tmp).await?;
        f.write_all(rest).await?;
        f.sync_data().await?;
        drop(f);
        tokio::fs::rename(&tmp, &self.path).await
    }

    /// Replays every couple of seconds until shutdown.
    pub async fn run(self: std::sync::Arc<Self>, state: AppState) {
        let shutdown: CancellationToken = state.shutdown.clone();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if tokio::fs::try_exists(&self.path).await.unwrap_or(false) {
                        self.replay(&state).await;
                    }
                }
            }
        }
    }
}

async fn apply(state: &AppState, op: &Pending) -> Result<(), sqlx::Error> {
    let db: &Db = &state.db;
    match op {
        Pending::Insert {
            call_sid,
            business_id,
            from,
            to,
            direction,
            status,
        } => {
            let new = calls::NewCall {
                call_sid,
                business_id: *business_id,
                from: from.as_deref(),
                to: to.as_deref(),
                direction: CallDirection::parse(direction),
                status: CallStatus::parse(status),
            };
            calls::insert(db, &new).await?;
            // The business may have been unknown while the database was down.
            if business_id.is_none()
                && let Some(to) = to
                    .as_deref()
                    .and_then(|t| crate::domain::Phone::parse(t).ok())
                && let Some(b) = crate::store::businesses::by_number(db, &to).await?
            {
                sqlx::query("UPDATE call_logs SET business_id = $2 WHERE call_sid = $1 AND business_id IS NULL")
                    .bind(call_sid)
                    .bind(b.id)
                    .execute(&db.pool)
                    .await?;
            }
        }
        Pending::Status {
            call_sid,
            status,
            duration_secs,
        } => {
            let status = CallStatus::parse(status);
            calls::advance_status(db, call_sid, &status, *duration_secs).await?;
            if status == CallStatus::Completed {
                crate::jobs::kinds::call_recordings::after_completed(state, call_sid).await?;
            }
            if status.has_ended() {
                crate::jobs::kinds::streamed::call_completed(db, call_sid).await?;
            }
        }
        Pending::Recording {
            call_sid,
            recording_sid,
            recording_url,
            duration_secs,
        } => {
            calls::set_recording(db, call_sid, recording_sid, recording_url, *duration_secs)
                .await?;
            crate::jobs::kinds::fetch::enqueue(db, call_sid, recording_sid, recording_url).await?;
        }
        Pending::StreamEnded {
            call_sid,
            reason,
            fallback,
        } => {
            calls::stream_ended(db, call_sid, reason).await?;
            if *fallback {
                calls::mark_fallback(db, call_sid, reason).await?;
            }
        }
        Pending::StreamStarted {
            call_sid,
            stream_sid,
        } => calls::stream_started(db, call_sid, stream_sid).await?,
        Pending::Fallback { call_sid, reason } => {
            calls::mark_fallback(db, call_sid, reason).await?;
        }
        Pending::CallBack { call_sid } => {
            use crate::calls::actions::{ASKED_FOR_A_PERSON, CALLBACK_ASAP};
            calls::request_callback(db, call_sid, CALLBACK_ASAP, ASKED_FOR_A_PERSON).await?;
        }
        Pending::CallerDetails { call_sid, details } => {
            calls::set_details(db, call_sid, details).await?;
        }
        Pending::Turn(turn) => crate::store::turns::insert(db, turn).await?,
        Pending::StreamedCall { call_sid, delay_ms } => {
            let delay = Duration::from_millis(*delay_ms);
            crate::jobs::kinds::streamed::enqueue(db, call_sid, delay).await?;
        }
        Pending::WhatsappStatus {
            provider,
            provider_message_id,
            status,
            error_code,
            error_message,
        } => {
            let provider = crate::whatsapp::inbound::PROVIDERS
                .iter()
                .copied()
                .find(|p| p == provider);
            let update =
                crate::whatsapp::status::update(status, error_code.clone(), error_message.clone());
            let (Some(provider), Some(update)) = (provider, update) else {
                tracing::error!(?op, "OUTBOX: unusable WhatsApp status skipped");
                return Ok(());
            };
            crate::whatsapp::twilio::apply_status(state, provider, provider_message_id, &update)
                .await?;
        }
        Pending::WhatsappInbound { .. } => {
            let Some((msg, base)) = op.inbound() else {
                tracing::error!(?op, "OUTBOX: unusable WhatsApp message skipped");
                return Ok(());
            };
            crate::whatsapp::inbound::receive(state, msg, base).await?;
        }
    }
    Ok(())
}

impl Pending {
    pub fn whatsapp(msg: &Inbound, base: Option<&str>) -> Self {
        Pending::WhatsappInbound {
            provider: msg.provider.to_string(),
            provider_message_id: msg.provider_message_id.clone(),
            from: msg.from.to_string(),
            to: msg.to.as_ref().map(|p| p.to_string()),
            body: msg.body.clone(),
            media: msg.media.clone(),
            profile_name: msg.profile_name.clone(),
            reply_to: msg.reply_to.clone(),
            base: base.map(str::to_string),
        }
    }

    pub fn whatsapp_status(
        provider: &str,
        provider_message_id: &str,
        update: &crate::store::whatsapp::StatusUpdate,
    ) -> Self {
        Pending::WhatsappStatus {
            provider: provider.to_string(),
            provider_message_id: provider_message_id.to_string(),
            status: update.status.to_string(),
            error_code: update.error_code.clone(),
            error_message: update.error_message.clone(),
        }
    }

    /// The kept WhatsApp message, as the inbound path takes it.
    fn inbound(&self) -> Option<(Inbound, Option<String>)> {
        let Pending::WhatsappInbound {
            provider,
            provider_message_id,
            from,
            to,
            body,
            media,
            profile_name,
            reply_to,
            base,
        } = self
        else {
            return None;
        };
        let provider = crate::whatsapp::inbound::PROVIDERS
            .iter()
            .copied()
            .find(|p| p == provider)?;
        let msg = Inbound {
            provider,
            provider_message_id: provider_message_id.clone(),
            from: crate::domain::Phone::parse(from).ok()?,
            to: to
                .as_deref()
                .and_then(|t| crate::domain::Phone::parse(t).ok()),
            body: body.clone(),
            media: media.clone(),
            profile_name: profile_name.clone(),
            reply_to: reply_to.clone(),
        };
        Some((msg, base.clone()))
    }

    pub fn insert(call: &calls::NewCall<'_>) -> Self {
        Pending::Insert {
            call_sid: call.call_sid.to_string(),
            business_id: call.business_id,
            from: call.from.map(str::to_string),
            to: call.to.map(str::to_string),
            direction: call.direction.to_string(),
            status: call.status.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(call_sid: &str) -> Pending {
        Pending::Status {
            call_sid: call_sid.into(),
            status: "completed".into(),
            duration_secs: Some(3),
        }
    }

    #[tokio::test]
    async fn a_replay_drops_only_what_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::new(dir.path());
        outbox.push(&status("CA1")).await.unwrap();
        let read = tokio::fs::read_to_string(&outbox.path).await.unwrap();
        // Kept while the replay was applying what it read.
        outbox.push(&status("CA2")).await.unwrap();
        outbox.drop_prefix(read.len()).await.unwrap();
        let left = tokio::fs::read_to_string(&outbox.path).await.unwrap();
        let ops: Vec<Pending> = left
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(ops, vec![status("CA2")]);
        outbox.drop_prefix(left.len()).await.unwrap();
        assert!(!outbox.path.exists());
    }
}
