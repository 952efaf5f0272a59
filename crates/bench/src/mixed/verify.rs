//! "Nothing lost", checked: every call Twilio was told about has its row with its final
//! status, and every WhatsApp message it was told about is stored exactly once.
//!
//! Writes that met the outage went to the server's local outbox and are replayed within
//! seconds of the database's return, so the check retries until it passes or time runs out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Returns one line per missing or wrong row (empty: nothing lost).
pub async fn until_consistent(
    db_url: &str,
    calls: &[(String, bool)],
    messages: &[String],
    patience: Duration,
) -> anyhow::Result<Vec<String>> {
    use sqlx::Connection;
    // One connection: the server under test holds most of what the database allows.
    let mut db = sqlx::PgConnection::connect(db_url).await?;
    let deadline = Instant::now() + patience;
    loop {
        let lost = check(&mut db, calls, messages).await?;
        if lost.is_empty() || Instant::now() >= deadline {
            let _ = db.close().await;
            return Ok(lost);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn check(
    db: &mut sqlx::PgConnection,
    calls: &[(String, bool)],
    messages: &[String],
) -> anyhow::Result<Vec<String>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT call_sid, status FROM call_logs")
        .fetch_all(&mut *db)
        .await?;
    let status: HashMap<String, String> = rows.into_iter().collect();
    let mut lost = Vec::new();
    for (sid, completed) in calls {
        match status.get(sid) {
            None => lost.push(format!("call {sid}: no row")),
            Some(s) if *completed && s != "completed" => {
                lost.push(format!("call {sid}: status {s}, expected completed"))
            }
            _ => {}
        }
    }
    let stored: Vec<(String, i64)> = sqlx::query_as(
        "SELECT provider_message_id, COUNT(*) FROM whatsapp_messages \
         WHERE direction = 'in' GROUP BY provider_message_id",
    )
    .fetch_all(&mut *db)
    .await?;
    let stored: HashMap<String, i64> = stored.into_iter().collect();
    for sid in messages {
        match stored.get(sid).copied().unwrap_or(0) {
            1 => {}
            n => lost.push(format!("WhatsApp message {sid}: stored {n} times")),
        }
    }
    Ok(lost)
}
