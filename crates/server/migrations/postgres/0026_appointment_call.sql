-- The call an appointment was booked on, so the call's record can say so (#22, #19, C2).
ALTER TABLE appointments ADD COLUMN call_id BIGINT;
CREATE INDEX appointments_call ON appointments(call_id);
