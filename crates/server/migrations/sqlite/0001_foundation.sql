-- Tenants, their phone numbers, users, and the call log (C1, V3).
-- Times are epoch milliseconds (BIGINT) so one query text serves SQLite and PostgreSQL.
CREATE TABLE businesses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    greeting TEXT,
    agent_prompt TEXT,
    business_hours TEXT,
    transfer_number TEXT,
    whatsapp_number TEXT,
    auto_reply BIGINT NOT NULL DEFAULT 1,
    recording_retention_days BIGINT NOT NULL DEFAULT 30,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE business_numbers (
    number TEXT PRIMARY KEY,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX business_numbers_business ON business_numbers(business_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('operator', 'owner', 'agent')),
    business_id BIGINT REFERENCES businesses(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE call_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NOT NULL UNIQUE,
    business_id BIGINT REFERENCES businesses(id) ON DELETE SET NULL,
    from_number TEXT,
    to_number TEXT,
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    status_rank BIGINT NOT NULL DEFAULT 0,
    duration_secs BIGINT,
    recording_sid TEXT,
    recording_url TEXT,
    recording_duration BIGINT,
    transcription TEXT,
    call_summary TEXT,
    stream_sid TEXT,
    stream_started_at BIGINT,
    stream_ended_at BIGINT,
    stream_end_reason TEXT,
    fallback_reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX call_logs_business_created ON call_logs(business_id, created_at);
