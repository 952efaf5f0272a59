-- Twilio records every call whole from its first moment (`<Start><Recording>`, dual
-- channel: the caller and the receptionist apart), so the owner can play and transcribe the
-- whole conversation (V11). A business may turn it off.
ALTER TABLE businesses ADD COLUMN record_calls BIGINT NOT NULL DEFAULT 1;
