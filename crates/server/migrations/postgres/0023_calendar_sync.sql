-- Appointments beyond our own book (#19, X3). A staff member may connect a Google
-- Calendar (shared with the service account): its busy times block their slots and our
-- bookings are written to it as events. `calendar_event_id`/`calendar_event_calendar` say
-- where an appointment's event is; `calendar_sync` is NULL (nothing to write),
-- 'pending', 'ok' or 'failed' (with `calendar_sync_error`), and a job keeps retrying.
-- `ics_token_hash` is the SHA-256 (hex) of the secret in the staff member's ICS feed URL.
ALTER TABLE staff ADD COLUMN google_calendar_id TEXT;
ALTER TABLE staff ADD COLUMN ics_token_hash TEXT;
CREATE UNIQUE INDEX staff_ics_token ON staff(ics_token_hash);
ALTER TABLE appointments ADD COLUMN calendar_event_id TEXT;
ALTER TABLE appointments ADD COLUMN calendar_event_calendar TEXT;
ALTER TABLE appointments ADD COLUMN calendar_sync TEXT;
ALTER TABLE appointments ADD COLUMN calendar_sync_error TEXT;
-- A caller's own appointments are found by the number they ring from.
CREATE INDEX appointments_customer_phone ON appointments(business_id, customer_phone);
