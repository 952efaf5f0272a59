-- Where a business may place calls and how many (#16.2, V4, S1): outbound calls and
-- transfers cost the service money, so a stolen credential must not dial the world.
-- No row means the defaults: Israel (+972) only, no premium or special-rate numbers, and
-- the service's default quotas. Only operators write these rows.
CREATE TABLE call_policies (
    business_id BIGINT PRIMARY KEY REFERENCES businesses(id) ON DELETE CASCADE,
    -- Calling codes (or longer prefixes) allowed, comma-separated digits, e.g. '972,44'.
    countries TEXT NOT NULL DEFAULT '972',
    -- 1: premium and special-rate ranges (Israel's 1-800/1-900 and the like) may be called.
    allow_premium BIGINT NOT NULL DEFAULT 0,
    -- Quotas; NULL means the service's default.
    per_hour BIGINT,
    per_day BIGINT,
    per_credential_hour BIGINT,
    per_credential_day BIGINT,
    updated_at BIGINT NOT NULL
);

-- One row per outbound call or transfer attempted, for the quotas: written before the call
-- is placed, so concurrent requests (on any node) cannot all pass one count.
CREATE TABLE call_quota_uses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    -- Who placed it: 'user:<id>', 'token:<id>', or 'transfer' for the agent's transfers.
    credential TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX call_quota_uses_business ON call_quota_uses(business_id, created_at);
CREATE INDEX call_quota_uses_credential ON call_quota_uses(credential, created_at);
