//! The texts behind spoken prompts' names (`tts_prompts`), so that any node can make again
//! the audio another node named: the name is a hash, and Twilio may fetch it from any node.

use super::{Db, now_ms};

/// Keeps the text behind a name; a name already kept keeps its text (the name is its hash).
pub async fn remember(db: &Db, name: &str, text: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tts_prompts (name, text, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(text)
    .bind(now_ms())
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// The text kept behind a name.
pub async fn text(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT text FROM tts_prompts WHERE name = $1")
        .bind(name)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|(t,)| t))
}
