-- Staff review each call (V10, C2): they may correct the summary, which the post-call job
-- then never overwrites, and say what came of the call (handled, call back, spam).
ALTER TABLE call_logs ADD COLUMN disposition TEXT;
ALTER TABLE call_logs ADD COLUMN summary_edited_by BIGINT;
ALTER TABLE call_logs ADD COLUMN summary_edited_at BIGINT;
-- A business that records its calls may have the greeting say so (V11).
ALTER TABLE businesses ADD COLUMN announce_recording BIGINT NOT NULL DEFAULT 0;
