-- Spoken prompts by content name, so any node can regenerate a prompt it did not create (V2).
CREATE TABLE tts_prompts (
    name TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
