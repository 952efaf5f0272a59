-- The shared stream registry: lets the webhook and the media socket of one call land on
-- different nodes, and lets a watchdog survive a node restart (V8).
CREATE TABLE call_watch (
    call_sid TEXT PRIMARY KEY,
    base TEXT NOT NULL,
    armed_at BIGINT NOT NULL,
    started_at BIGINT,
    last_frame_at BIGINT,
    fired_at BIGINT
);
CREATE INDEX call_watch_pending ON call_watch(fired_at, armed_at);
