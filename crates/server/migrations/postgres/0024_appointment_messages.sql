-- The customer's side of a booking (#19, W3): a WhatsApp confirmation at once, a reminder
-- the day before at the business's hour, and the customer's answer ("1" confirms, "2"
-- cancels) recorded on the appointment. Only adds columns.
--
-- Settings: the reminder's time of day (minutes after midnight, Israel's time; 18:00 by
-- default), whether reminders go at all, and the approved WhatsApp templates used outside
-- the 24-hour customer-service window (a Twilio Content SID or a Meta template name).
ALTER TABLE appointment_settings ADD COLUMN reminder_minute BIGINT NOT NULL DEFAULT 1080;
ALTER TABLE appointment_settings ADD COLUMN reminders_on BIGINT NOT NULL DEFAULT 1;
ALTER TABLE appointment_settings ADD COLUMN confirm_template TEXT;
ALTER TABLE appointment_settings ADD COLUMN reminder_template TEXT;
ALTER TABLE appointment_settings ADD COLUMN cancel_template TEXT;
-- The appointment: when the customer confirmed, when and by whom it was cancelled
-- ('staff', 'caller' on the phone, 'customer' on WhatsApp), the inbound WhatsApp message
-- that answered it (so a rerun of that answer never acts on a second appointment), and
-- what became of the customer's messages when none could go (no WhatsApp configured, no
-- template outside the window).
ALTER TABLE appointments ADD COLUMN confirmed_at BIGINT;
ALTER TABLE appointments ADD COLUMN cancelled_at BIGINT;
ALTER TABLE appointments ADD COLUMN cancelled_by TEXT;
ALTER TABLE appointments ADD COLUMN answered_message_id BIGINT;
ALTER TABLE appointments ADD COLUMN whatsapp_note TEXT;
CREATE INDEX appointments_business_phone ON appointments(business_id, customer_phone, starts_at);
