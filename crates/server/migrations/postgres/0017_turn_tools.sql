-- The functions the agent called in a turn and what each returned to it (JSON), #18.3.
ALTER TABLE call_turns ADD COLUMN tool_calls TEXT;
