-- The durable job queue (V10, V11, O4): recordings, transcription, summaries, clean-up.
-- Claimed with one atomic UPDATE (SQLite serialises writers); a claim holds a
-- lease (lease_until) that a crashed worker lets expire, so the job runs again.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'waiting', 'done', 'dead')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL DEFAULT 5,
    run_after BIGINT NOT NULL,
    last_error TEXT,
    lease_until BIGINT,
    locked_by TEXT,
    idempotency_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- While a job runs, run_after mirrors lease_until, so one ordered index serves both due
-- jobs and expired leases: a claim walks it and stops after LIMIT rows.
CREATE INDEX jobs_claimable ON jobs(run_after, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_state_updated ON jobs(state, updated_at);
