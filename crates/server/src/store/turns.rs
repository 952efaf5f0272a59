//! A live call's turns (V7), written as each turn ends and read back by the API, the web app
//! and the post-call jobs. The insert is idempotent per (call, index), so a turn kept in the
//! outbox during a database outage lands exactly once when the database is back.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::Db;

/// One finished turn as stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewTurn {
    pub call_sid: String,
    pub turn_index: i64,
    pub caller_text: String,
    pub agent_text: String,
    pub heard_text: String,
    pub barged_in: bool,
    pub stt_ms: Option<i64>,
    pub llm_first_token_ms: Option<i64>,
    pub tts_first_audio_ms: Option<i64>,
    pub first_frame_out_ms: Option<i64>,
    /// The caller's audio under the data dir's `turns` folder, when no text was heard.
    pub caller_audio_path: Option<String>,
    pub created_at: i64,
    /// The functions the agent called and their results, as a JSON array (none: `None`).
    #[serde(default)]
    pub tool_calls: Option<String>,
}

/// A turn as read: the one model of a `call_turns` row. Serialised it is the API's turn,
/// with its timings; where the caller's audio is kept stays inside.
#[derive(Clone, Debug, FromRow, Serialize)]
pub struct Turn {
    pub turn_index: i64,
    pub caller_text: Option<String>,
    pub agent_text: Option<String>,
    pub heard_text: Option<String>,
    pub barged_in: i64,
    pub stt_ms: Option<i64>,
    pub llm_first_token_ms: Option<i64>,
    pub tts_first_audio_ms: Option<i64>,
    pub first_frame_out_ms: Option<i64>,
    pub created_at: i64,
    /// 1 when the caller's answer is kept as audio (no speech-to-text heard it), served at
    /// `/api/calls/{id}/turns/{turn_index}/audio`.
    pub has_audio: i64,
    /// The caller's audio under the data dir's `turns` folder, when kept.
    #[serde(skip_serializing)]
    pub caller_audio_path: Option<String>,
    /// The functions the model called in this turn with their results (JSON array of
    /// `voice::session::ToolCall`), shown on the call page.
    #[serde(skip_serializing)]
    pub tool_calls: Option<String>,
}

/// The turns of a call, in order (the caller knows the call to be one it may read).
pub async fn of_call(db: &Db, call_sid: &str) -> Result<Vec<Turn>, sqlx::Error> {
    sqlx::query_as(
        "SELECT turn_index, caller_text, agent_text, heard_text, barged_in, stt_ms, \
         llm_first_token_ms, tts_first_audio_ms, first_frame_out_ms, created_at, \
         CASE WHEN caller_audio_path IS NULL THEN 0 ELSE 1 END AS has_audio, \
         caller_audio_path, tool_calls FROM call_turns WHERE call_sid = $1 ORDER BY turn_index",
    )
    .bind(call_sid)
    .fetch_all(&db.pool)
    .await
}

/// The call's turns whose caller's answer is audio with no text: (turn_index, audio path).
pub async fn audio_only(db: &Db, call_sid: &str) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT turn_index, caller_audio_path FROM call_turns WHERE call_sid = $1 \
         AND caller_audio_path IS NOT NULL AND (caller_text IS NULL OR caller_text = '') \
         ORDER BY turn_index",
    )
    .bind(call_sid)
    .fetch_all(&db.pool)
    .await
}

/// How many of the call's turns are audio with no text.
pub async fn count_audio_only(db: &Db, call_sid: &str) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM call_turns WHERE call_sid = $1 \
         AND caller_audio_path IS NOT NULL AND (caller_text IS NULL OR caller_text = '')",
    )
    .bind(call_sid)
    .fetch_one(&db.pool)
    .await?;
    Ok(n)
}

/// Gives an audio-only turn the text speech-to-text heard; a turn with text keeps it.
pub async fn set_caller_text(
    db: &Db,
    call_sid: &str,
    turn_index: i64,
    text: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE call_turns SET caller_text = $3 WHERE call_sid = $1 AND turn_index = $2 \
         AND (caller_text IS NULL OR caller_text = '')",
    )
    .bind(call_sid)
    .bind(turn_index)
    .bind(text)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// Stores the turn unless it is already there.
pub async fn insert(db: &Db, t: &NewTurn) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_turns (call_sid, turn_index, caller_text, agent_text, heard_text, \
         barged_in, stt_ms, llm_first_token_ms, tts_first_audio_ms, first_frame_out_ms, \
         caller_audio_path, created_at, tool_calls) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) \
         ON CONFLICT (call_sid, turn_index) DO NOTHING",
    )
    .bind(&t.call_sid)
    .bind(t.turn_index)
    .bind(&t.caller_text)
    .bind(&t.agent_text)
    .bind(&t.heard_text)
    .bind(i64::from(t.barged_in))
    .bind(t.stt_ms)
    .bind(t.llm_first_token_ms)
    .bind(t.tts_first_audio_ms)
    .bind(t.first_frame_out_ms)
    .bind(&t.caller_audio_path)
    .bind(t.created_at)
    .bind(&t.tool_calls)
    .execute(&db.pool)
    .await
    .map(|_| ())
}
