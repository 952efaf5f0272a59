-- Why the business placed an outbound call (MISSION V4), as the CRM's request gave it: the
-- agent opens the call with it. NULL for incoming calls and when not given.
ALTER TABLE call_logs ADD COLUMN purpose TEXT;
