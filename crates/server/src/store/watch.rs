//! The shared stream registry's queries (`call_watch`), used when several nodes serve calls.

use sqlx::AssertSqlSafe;

use super::{Db, now_ms};

/// An armed call that has not fired: (base, armed_at ms).
pub async fn pending(db: &Db, call_sid: &str) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT base, armed_at FROM call_watch WHERE call_sid = $1 AND fired_at IS NULL")
        .bind(call_sid)
        .fetch_optional(&db.pool)
        .await
}

/// What claiming a call's stream start found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// This socket's is the call's stream.
    Won,
    /// The call's stream already started (on any node).
    Taken,
    /// The call has no shared row (answered while the database was away).
    NotShared,
}

/// Claims the call's one stream start.
pub async fn start(db: &Db, call_sid: &str) -> Result<Start, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE call_watch SET started_at = $2, last_frame_at = $2 \
         WHERE call_sid = $1 AND started_at IS NULL",
    )
    .bind(call_sid)
    .bind(now)
    .execute(&db.pool)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Start::Won);
    }
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_watch WHERE call_sid = $1")
        .bind(call_sid)
        .fetch_one(&db.pool)
        .await?;
    Ok(if rows > 0 {
        Start::Taken
    } else {
        Start::NotShared
    })
}

/// Writes the last frame times of many calls in one statement per chunk.
pub async fn frames(db: &Db, times: &[(String, i64)]) -> Result<(), sqlx::Error> {
    for chunk in times.chunks(200) {
        let mut sql = String::from("UPDATE call_watch SET last_frame_at = CASE call_sid");
        for i in 0..chunk.len() {
            sql.push_str(&format!(" WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2));
        }
        sql.push_str(" ELSE last_frame_at END WHERE call_sid IN (");
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("${}", 2 * i + 1));
        }
        sql.push(')');
        // Safe: fixed text and `$n` placeholders only; the values are bound.
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (sid, at) in chunk {
            q = q.bind(sid).bind(*at);
        }
        q.execute(&db.pool).await?;
    }
    Ok(())
}

/// Calls whose stream never started, or went silent: (call_sid, base, started).
pub async fn due(
    db: &Db,
    start_timeout_ms: i64,
    media_timeout_ms: i64,
) -> Result<Vec<(String, String, Option<i64>)>, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as(
        "SELECT call_sid, base, started_at FROM call_watch WHERE fired_at IS NULL AND \
         ((started_at IS NULL AND armed_at <= $1) OR \
          (started_at IS NOT NULL AND COALESCE(last_frame_at, started_at) <= $2)) \
         LIMIT 500",
    )
    .bind(now - start_timeout_ms)
    .bind(now - media_timeout_ms)
    .fetch_all(&db.pool)
    .await
}

/// Claims the right to fire for a call; exactly one node (and one caller) wins.
pub async fn claim(db: &Db, call_sid: &str) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE call_watch SET fired_at = $2 WHERE call_sid = $1 AND fired_at IS NULL")
            .bind(call_sid)
            .bind(now_ms())
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn disarm(db: &Db, call_sid: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM call_watch WHERE call_sid = $1")
        .bind(call_sid)
        .execute(&db.pool)
        .await
        .map(|_| ())
}
