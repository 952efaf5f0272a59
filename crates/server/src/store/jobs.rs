//! The durable job queue's table (V10, O4): enqueue, claim with a lease, complete, fail.
//!
//! A job is claimed by ONE statement that moves it to `running`, bumps `attempts` and sets a
//! lease. On PostgreSQL the inner SELECT adds `FOR UPDATE SKIP LOCKED`, so claimers on many
//! nodes never wait for each other nor take the same row; on SQLite the single UPDATE is
//! atomic because SQLite serialises writers. A job whose lease expired (its worker died) is
//! claimable again. Completion and failure are fenced by `(locked_by, attempts)`, so a worker
//! that lost its lease can never overwrite the outcome of the run that replaced it.

use const_format::formatcp;
use sqlx::{AssertSqlSafe, FromRow};

use super::{Db, now_ms};

/// A job as stored.
#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_after: i64,
    pub last_error: Option<String>,
    pub lease_until: Option<i64>,
    pub locked_by: Option<String>,
    pub idempotency_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Job {
    /// The payload as JSON (`Null` if it is not JSON, which enqueue never stores).
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload).unwrap_or(serde_json::Value::Null)
    }
}

pub const COLUMNS: &str = "id, kind, payload, state, attempts, max_attempts, run_after, \
     last_error, lease_until, locked_by, idempotency_key, created_at, updated_at";

/// Attempts before a failing job is `dead`, unless the enqueuer says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 5;

/// Longest error text kept on a job.
const MAX_ERROR_CHARS: usize = 2000;

/// Everything that describes a new job.
#[derive(Clone, Debug)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: &'a serde_json::Value,
    pub idempotency_key: Option<&'a str>,
    /// Epoch ms before which the job is not claimed.
    pub run_after: i64,
    pub max_attempts: i64,
}

/// Inserts a job; `None` when a job with the same idempotency key already exists.
pub async fn insert(db: &Db, job: &NewJob<'_>) -> Result<Option<i64>, sqlx::Error> {
    insert_on(&db.pool, job).await
}

/// [`insert`] on any executor, so a job can be enqueued in the transaction that creates
/// the work it stands for (a crash never leaves the one without the other).
pub async fn insert_on<'c, E>(conn: E, job: &NewJob<'_>) -> Result<Option<i64>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let now = now_ms();
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO jobs (kind, payload, state, attempts, max_attempts, run_after, \
         idempotency_key, created_at, updated_at) \
         VALUES ($1, $2, 'queued', 0, $3, $4, $5, $6, $6) \
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(job.kind)
    .bind(job.payload.to_string())
    .bind(job.max_attempts.max(1))
    .bind(job.run_after)
    .bind(job.idempotency_key)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Claims up to `limit` runnable jobs for `worker` with a lease of `lease_ms`: queued jobs
/// whose time has come, and running jobs whose lease expired (their worker died).
///
/// A running job's `run_after` is kept equal to its `lease_until`, so both kinds of
/// claimable job are found by walking the partial index `jobs_claimable (run_after, id)`
/// in order, and a claim costs the same with a million finished jobs as with none. (A
/// queued job never holds a lease, so the lease test needs no `state` test: written with
/// one, PostgreSQL planned a bitmap scan of every queued job plus a sort whenever its
/// statistics were stale, 20 times the cost of the index walk with 10,000 jobs queued.)
pub async fn claim(
    db: &Db,
    worker: &str,
    limit: i64,
    lease_ms: i64,
) -> Result<Vec<Job>, sqlx::Error> {
    let now = now_ms();
    let sql = either!(
        db.backend.skips_locked(),
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $2, \
         run_after = $2, locked_by = $3, updated_at = $1 \
         WHERE id IN (SELECT id FROM jobs \
         WHERE state IN ('queued', 'running') AND run_after <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) \
         ORDER BY run_after, id LIMIT $4{LOCK}) \
         RETURNING {COLUMNS}",
        LOCK = super::dialect::SKIP_LOCKED,
        "",
    );
    let mut jobs: Vec<Job> = sqlx::query_as(sql)
        .bind(now)
        .bind(now + lease_ms)
        .bind(worker)
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    jobs.sort_by_key(|j| (j.run_after, j.id));
    Ok(jobs)
}

/// The fence every outcome carries: the worker and the attempt it claimed.
const FENCE: &str = "id = $1 AND state = 'running' AND locked_by = $2 AND attempts = $3";

/// Marks a claimed job done; false when this worker no longer holds it.
pub async fn complete(db: &Db, job: &Job, worker: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(formatcp!(
        "UPDATE jobs SET state = 'done', lease_until = NULL, locked_by = NULL, \
         last_error = NULL, updated_at = $4 WHERE {FENCE}"
    ))
    .bind(job.id)
    .bind(worker)
    .bind(job.attempts)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks many claimed jobs done in one statement (each still fenced by its attempt); returns
/// how many this worker still held.
pub async fn complete_many(db: &Db, jobs: &[Job], worker: &str) -> Result<u64, sqlx::Error> {
    let mut done = 0;
    for chunk in jobs.chunks(MAX_FENCED) {
        done += update_fenced(
            db,
            "state = 'done', lease_until = NULL, locked_by = NULL, last_error = NULL, \
             updated_at = $2",
            chunk,
            worker,
        )
        .await?;
    }
    Ok(done)
}

/// Hands claimed jobs that never started back to the queue, due now, the claim's attempt
/// not counted; returns how many this worker still held.
pub async fn release(db: &Db, jobs: &[Job], worker: &str) -> Result<u64, sqlx::Error> {
    let mut done = 0;
    for chunk in jobs.chunks(MAX_FENCED) {
        done += update_fenced(
            db,
            "state = 'queued', attempts = attempts - 1, run_after = $2, lease_until = NULL, \
             locked_by = NULL, updated_at = $2",
            chunk,
            worker,
        )
        .await?;
    }
    Ok(done)
}

/// Most jobs one fenced statement names.
const MAX_FENCED: usize = 256;

/// `UPDATE jobs SET {set}` for the jobs `worker` still holds at the attempt it claimed
/// (`$1` is the worker, `$2` now). The list is padded (repeating its last job) to one of a
/// few lengths, so the database sees a handful of statement shapes, each prepared once per
/// connection, rather than one per batch size.
async fn update_fenced(
    db: &Db,
    set: &'static str,
    jobs: &[Job],
    worker: &str,
) -> Result<u64, sqlx::Error> {
    let Some(last) = jobs.last() else {
        return Ok(0);
    };
    let len = [1, 4, 16, 64, MAX_FENCED]
        .into_iter()
        .find(|&n| n >= jobs.len())
        .unwrap_or(jobs.len());
    let pairs: Vec<String> = (0..len)
        .map(|i| format!("(id = ${} AND attempts = ${})", 3 + 2 * i, 4 + 2 * i))
        .collect();
    // Safe: `set` is fixed text of this module and the rest is `$n` placeholders.
    let sql = AssertSqlSafe(format!(
        "UPDATE jobs SET {set} WHERE state = 'running' AND locked_by = $1 AND ({})",
        pairs.join(" OR ")
    ));
    let mut q = sqlx::query(sql).bind(worker).bind(now_ms());
    for j in jobs.iter().chain(std::iter::repeat(last)).take(len) {
        q = q.bind(j.id).bind(j.attempts);
    }
    Ok(q.execute(&db.pool).await?.rows_affected())
}

/// What became of a failed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOutcome {
    /// Queued again after the backoff.
    Retrying,
    /// No attempts left (or the failure was permanent).
    Dead,
    /// This worker no longer held the job; nothing changed.
    Lost,
}

/// Records a failure: back to `queued` after `retry_in_ms`, or `dead` when the attempts are
/// spent or `permanent` is set.
pub async fn fail(
    db: &Db,
    job: &Job,
    worker: &str,
    error: &str,
    retry_in_ms: i64,
    permanent: bool,
) -> Result<FailOutcome, sqlx::Error> {
    let dead = permanent || job.attempts >= job.max_attempts;
    let now = now_ms();
    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
    let done = sqlx::query(formatcp!(
        "UPDATE jobs SET state = $4, run_after = $5, last_error = $6, lease_until = NULL, \
         locked_by = NULL, updated_at = $7 WHERE {FENCE}"
    ))
    .bind(job.id)
    .bind(worker)
    .bind(job.attempts)
    .bind(if dead { "dead" } else { "queued" })
    .bind(if dead {
        job.run_after
    } else {
        now + retry_in_ms
    })
    .bind(error)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(match (done.rows_affected(), dead) {
        (0, _) => FailOutcome::Lost,
        (_, true) => FailOutcome::Dead,
        (_, false) => FailOutcome::Retrying,
    })
}

/// Parks a claimed job in `waiting` (it cannot run until something is configured). The
/// attempt does not count against it.
pub async fn park(db: &Db, job: &Job, worker: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(formatcp!(
        "UPDATE jobs SET state = 'waiting', attempts = attempts - 1, last_error = $4, \
         lease_until = NULL, locked_by = NULL, updated_at = $5 WHERE {FENCE}"
    ))
    .bind(job.id)
    .bind(worker)
    .bind(job.attempts)
    .bind(reason)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Extends a running job's lease; false when this worker lost it.
pub async fn extend_lease(
    db: &Db,
    job: &Job,
    worker: &str,
    lease_ms: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(formatcp!(
        "UPDATE jobs SET lease_until = $4, run_after = $4, updated_at = $5 WHERE {FENCE}"
    ))
    .bind(job.id)
    .bind(worker)
    .bind(job.attempts)
    .bind(now + lease_ms)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves every `waiting` job of `kind` back to `queued`; returns how many.
pub async fn resume_waiting(db: &Db, kind: &str) -> Result<u64, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE jobs SET state = 'queued', run_after = $2, updated_at = $2 \
         WHERE state = 'waiting' AND kind = $1",
    )
    .bind(kind)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected())
}

/// Moves a queued job's time forward to now (it was waiting for something that just
/// happened); true when a job was waiting.
pub async fn run_now(db: &Db, idempotency_key: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE jobs SET run_after = $2, updated_at = $2 \
         WHERE idempotency_key = $1 AND state = 'queued' AND run_after > $2",
    )
    .bind(idempotency_key)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Runs a finished job again (the same row, so the work stays once per key): true when it
/// was done and is queued again.
pub async fn requeue_done(db: &Db, idempotency_key: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2, lease_until = NULL, \
         locked_by = NULL, updated_at = $2 WHERE idempotency_key = $1 AND state = 'done'",
    )
    .bind(idempotency_key)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revives a `dead` job with a fresh set of attempts, returning it as revived; `None` if
/// it is not dead.
pub async fn retry_dead(db: &Db, id: i64) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2, updated_at = $2 \
         WHERE id = $1 AND state = 'dead' RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Job>, sqlx::Error> {
    sqlx::query_as(formatcp!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await
}

/// Jobs in one state (all states with `None`), newest first.
pub async fn list(db: &Db, state: Option<&str>, limit: i64) -> Result<Vec<Job>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM jobs WHERE ($1 IS NULL OR state = $1) \
         ORDER BY updated_at DESC, id DESC LIMIT $2"
    ))
    .bind(state)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// How many jobs are in each state, by state.
pub async fn counts_by_state(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
        .fetch_all(&db.pool)
        .await
}

/// Jobs of one kind, oldest first (for tests and diagnostics).
pub async fn by_kind(db: &Db, kind: &str) -> Result<Vec<Job>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM jobs WHERE kind = $1 ORDER BY id"
    ))
    .bind(kind)
    .fetch_all(&db.pool)
    .await
}

/// Deletes `done` jobs last updated before `before_ms`; returns how many.
pub async fn purge_done(db: &Db, before_ms: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
        .bind(before_ms)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}

/// Deletes `dead` jobs last touched before `before_ms` (kept that long for the operator).
pub async fn purge_dead(db: &Db, before_ms: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM jobs WHERE state = 'dead' AND updated_at < $1")
        .bind(before_ms)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
