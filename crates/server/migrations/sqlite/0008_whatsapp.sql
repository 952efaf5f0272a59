-- WhatsApp messages in and out, stored once per provider message id (W2, W4) and once per
-- send request (Idempotency-Key, W3). Statuses only move forward by status_rank.
CREATE TABLE whatsapp_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT REFERENCES businesses(id) ON DELETE CASCADE,
    customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
    provider TEXT NOT NULL CHECK (provider IN ('twilio', 'meta', 'baileys')),
    provider_message_id TEXT,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    from_number TEXT,
    to_number TEXT,
    body TEXT,
    media TEXT,
    template TEXT,
    status TEXT NOT NULL,
    status_rank BIGINT NOT NULL DEFAULT 0,
    error_code TEXT,
    error_message TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    status_callback TEXT,
    idempotency_key TEXT,
    profile_name TEXT,
    reply_to TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider, provider_message_id),
    UNIQUE (idempotency_key)
);
CREATE INDEX whatsapp_messages_thread ON whatsapp_messages(business_id, customer_id, id);
CREATE INDEX businesses_whatsapp_number ON businesses(whatsapp_number);

-- A status that arrived before we knew the provider id of our own send (the provider can
-- call back before its API answer reaches us); applied as soon as the id is stored.
CREATE TABLE whatsapp_early_statuses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    status_rank BIGINT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX whatsapp_early_statuses_message ON whatsapp_early_statuses(provider, provider_message_id);
