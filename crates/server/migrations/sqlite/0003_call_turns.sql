-- Each turn of a live conversation with its timings (V7), and what the caller told us.
CREATE TABLE call_turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid TEXT NOT NULL,
    turn_index BIGINT NOT NULL,
    caller_text TEXT,
    agent_text TEXT,
    heard_text TEXT,
    barged_in BIGINT NOT NULL DEFAULT 0,
    stt_ms BIGINT,
    llm_first_token_ms BIGINT,
    tts_first_audio_ms BIGINT,
    first_frame_out_ms BIGINT,
    caller_audio_path TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (call_sid, turn_index)
);
ALTER TABLE call_logs ADD COLUMN caller_name TEXT;
ALTER TABLE call_logs ADD COLUMN caller_reason TEXT;
ALTER TABLE call_logs ADD COLUMN callback_time TEXT;
ALTER TABLE call_logs ADD COLUMN urgency TEXT;
