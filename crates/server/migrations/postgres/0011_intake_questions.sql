-- Per-business intake questions for the scripted agent (MISSION V7, C2): a JSON array of
-- 1 to 10 strings, in the order they are asked; NULL means the agent's default questions.
ALTER TABLE businesses ADD COLUMN intake_questions TEXT;
