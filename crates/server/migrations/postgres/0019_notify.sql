-- Who is told about a call, and how (#22, C2): each user's own choice of events, channels
-- (e-mail to their sign-in address, WhatsApp to their own phone) and quiet hours. A user
-- with no row gets the default: an owner is e-mailed summaries and urgent calls, an agent
-- nothing. `events` is a JSON list of event names (`call.summarised`, `call.urgent`,
-- `appointment.booked`); `quiet_hours` is JSON `{"from":"22:00","to":"07:00"}` in Israel's
-- time, or NULL.
CREATE TABLE notification_prefs (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    events TEXT NOT NULL,
    email_on BIGINT NOT NULL DEFAULT 1,
    whatsapp_on BIGINT NOT NULL DEFAULT 0,
    whatsapp_phone TEXT,
    quiet_hours TEXT,
    shabbat_quiet BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);
