-- Team management in the web app (#20, C3): a user can be disabled (signed out at once,
-- cannot sign in); invitations and password resets are one-time links whose tokens are
-- stored only as SHA-256 digests, with an expiry and a use; an owner may let the service's
-- support edit their business's CRM (read-only otherwise).
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE businesses ADD COLUMN support_can_edit BIGINT NOT NULL DEFAULT 0;
CREATE TABLE user_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    business_id BIGINT REFERENCES businesses(id) ON DELETE CASCADE,
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX user_links_business ON user_links(business_id, created_at);
