-- Sessions, API tokens, the audit log and customer notes for the CRM API (C2, C3, C4).
-- Secrets (session and API tokens) are stored only as SHA-256 hex digests.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_business ON api_tokens(business_id, created_at);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT,
    actor_user_id BIGINT,
    entity TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    changes TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX audit_log_business_created ON audit_log(business_id, created_at);

CREATE TABLE customer_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    author_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX customer_notes_customer ON customer_notes(business_id, customer_id, created_at);

ALTER TABLE users ADD COLUMN name TEXT;
CREATE INDEX users_business ON users(business_id);
CREATE INDEX customers_business_created ON customers(business_id, created_at, id);
CREATE INDEX call_logs_business_customer ON call_logs(business_id, customer_id);
CREATE INDEX call_logs_business_from ON call_logs(business_id, from_number);
CREATE INDEX call_logs_business_to ON call_logs(business_id, to_number);
