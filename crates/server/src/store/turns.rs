//! A live call's turns (V7), written as each turn ends. The insert is idempotent per
//! (call, index), so a turn kept in the outbox during a database outage lands exactly once
//! when the database is back.

use serde::{Deserialize, Serialize};

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
