-- The API token behind a change (#16.7, C3): a token's writes name the token itself, not
-- only the user who created it (who may be gone or demoted since).
ALTER TABLE audit_log ADD COLUMN actor_token_id BIGINT;
