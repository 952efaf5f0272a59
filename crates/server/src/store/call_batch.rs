//! Group commit for `incoming_call` on PostgreSQL (V3, issue #3's p99 at concurrency 64).
//!
//! Every answered call writes its `call_logs` row and its `call_watch` entry before the
//! TwiML goes back. One statement per call means one commit, one WAL flush and one plan per
//! call, and under a burst the database spends more on commits than on rows. Here the
//! webhooks hand their rows to a few writer tasks; each writer takes whatever has queued up
//! while the previous statement ran and writes it as one statement (rows passed as one
//! JSON array, so the statement text and its cached plan never change). A lone call is
//! written at once, as before; a burst of sixty-four shares a handful of commits.
//!
//! Each webhook still waits for its own row to be committed, so nothing is acknowledged
//! before it is durable. A failed batch fails every call in it, and each keeps its write in
//! the local outbox as a single insert would.

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

use super::calls::NewCall;
use super::{Db, now_ms};

/// Rows written by one statement at most.
const MAX_BATCH: usize = 128;
/// Writers running statements at once: enough to overlap a commit with the next batch,
/// few enough to leave the pool to everything else.
const WRITERS: usize = 4;
/// Calls waiting for a writer at most; beyond that a webhook waits to queue.
const QUEUE: usize = 4096;

/// One row in the batch's JSON array.
#[derive(serde::Serialize)]
struct Row {
    call_sid: String,
    business_id: Option<i64>,
    from_number: Option<String>,
    to_number: Option<String>,
    direction: String,
    status: String,
    status_rank: i64,
    base: String,
}

struct Item {
    row: Row,
    done: oneshot::Sender<Result<(), sqlx::Error>>,
}

/// Hands `incoming_call` rows to the writer tasks. Cheap to clone; the writers stop when
/// the last handle is dropped.
#[derive(Clone)]
pub struct CallWriter {
    tx: mpsc::Sender<Item>,
}

impl CallWriter {
    /// Starts the writers on `db` (call inside a Tokio runtime).
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(writer(db.clone(), rx.clone()));
        }
        CallWriter { tx }
    }

    /// Inserts the call (unless its row exists) and arms its shared watchdog entry, in the
    /// same commit as the calls queued beside it. Returns once that commit is done.
    pub async fn insert_armed(&self, call: &NewCall<'_>, base: &str) -> Result<(), sqlx::Error> {
        let (done, answer) = oneshot::channel();
        let row = Row {
            call_sid: call.call_sid.to_string(),
            business_id: call.business_id,
            from_number: call.from.map(str::to_string),
            to_number: call.to.map(str::to_string),
            direction: call.direction.to_string(),
            status: call.status.to_string(),
            status_rank: call.status.rank(),
            base: base.to_string(),
        };
        self.tx
            .send(Item { row, done })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.unwrap_or(Err(sqlx::Error::PoolClosed))
    }
}

async fn writer(db: Db, rx: Arc<Mutex<mpsc::Receiver<Item>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(item) => batch.push(item),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        }
        let result = write(&db, &batch).await;
        metrics::histogram!("mokdan_call_batch_rows").record(batch.len() as f64);
        for item in batch {
            let _ = item.done.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(copy_error(e)),
            });
        }
    }
}

/// One statement: the rows, then the watch entries, each skipping what already exists
/// (a retried webhook, or the same call twice in one batch).
async fn write(db: &Db, batch: &[Item]) -> Result<(), sqlx::Error> {
    let rows: Vec<&Row> = batch.iter().map(|i| &i.row).collect();
    let json = serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "WITH v AS (SELECT * FROM json_to_recordset($1::json) AS t(call_sid TEXT, \
         business_id BIGINT, from_number TEXT, to_number TEXT, direction TEXT, status TEXT, \
         status_rank BIGINT, base TEXT)), \
         c AS (INSERT INTO call_logs (call_sid, business_id, from_number, to_number, \
         direction, status, status_rank, created_at, updated_at) \
         SELECT call_sid, business_id, from_number, to_number, direction, status, \
         status_rank, $2, $2 FROM v ON CONFLICT (call_sid) DO NOTHING RETURNING 1), \
         w AS (INSERT INTO call_watch (call_sid, base, armed_at) \
         SELECT call_sid, base, $2 FROM v ON CONFLICT (call_sid) DO NOTHING RETURNING 1) \
         SELECT (SELECT COUNT(*) FROM c) + (SELECT COUNT(*) FROM w)",
    )
    .bind(json)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The same failure for every call of a failed batch (`sqlx::Error` is not `Clone`): the
/// kinds the callers tell apart (unreachable, timed out, closed) survive; the rest keep
/// their message.
fn copy_error(e: &sqlx::Error) -> sqlx::Error {
    match e {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}
