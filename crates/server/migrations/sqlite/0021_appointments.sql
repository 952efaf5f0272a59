-- Appointments (#19, X3, X2): what a business offers (services), who gives it (staff:
-- people, rooms or chairs), when (weekly hours, closures, and whether it closes on
-- Shabbat and the holidays), and what is booked. Times are epoch milliseconds; hours are
-- minutes after midnight in Israel's time (0–1440); weekdays count from Sunday = 0.
--
-- No double booking, ever: every booked appointment holds one row per (staff member,
-- five-minute granule) it occupies, buffer included, in `appointment_slots`, written in
-- the same transaction as the appointment. The primary key lets only one appointment hold
-- a granule, on SQLite and PostgreSQL alike, however many bookings race.
CREATE TABLE appointment_settings (
    business_id BIGINT PRIMARY KEY REFERENCES businesses(id) ON DELETE CASCADE,
    location TEXT NOT NULL DEFAULT 'tel_aviv' CHECK (location IN ('tel_aviv', 'jerusalem')),
    closed_on_holy_days BIGINT NOT NULL DEFAULT 0,
    slot_step_minutes BIGINT NOT NULL DEFAULT 15 CHECK (slot_step_minutes IN (5, 10, 15, 20, 30, 60)),
    updated_at BIGINT NOT NULL
);

CREATE TABLE services (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    duration_minutes BIGINT NOT NULL CHECK (duration_minutes BETWEEN 5 AND 720),
    buffer_after_minutes BIGINT NOT NULL DEFAULT 0 CHECK (buffer_after_minutes BETWEEN 0 AND 240),
    price_agorot BIGINT CHECK (price_agorot >= 0),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX services_business ON services(business_id);

CREATE TABLE staff (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX staff_business ON staff(business_id);

-- Which staff can give which service.
CREATE TABLE staff_services (
    staff_id BIGINT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    service_id BIGINT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    PRIMARY KEY (staff_id, service_id)
);
CREATE INDEX staff_services_service ON staff_services(service_id);

-- Weekly hours: a staff member's, or (staff_id NULL) the business's own, which bound
-- every staff member's. A business with no rows of its own is not bounded.
CREATE TABLE opening_hours (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    staff_id BIGINT REFERENCES staff(id) ON DELETE CASCADE,
    weekday BIGINT NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_minute BIGINT NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute BIGINT NOT NULL CHECK (end_minute BETWEEN 1 AND 1440 AND end_minute > start_minute)
);
CREATE INDEX opening_hours_business ON opening_hours(business_id, staff_id);

-- Dates closed (`first_date`..`last_date`, YYYY-MM-DD), or one date's special hours when
-- `start_minute`/`end_minute` are set.
CREATE TABLE closures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    first_date TEXT NOT NULL,
    last_date TEXT NOT NULL CHECK (last_date >= first_date),
    start_minute BIGINT CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute BIGINT CHECK (end_minute BETWEEN 1 AND 1440),
    note TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX closures_business ON closures(business_id, last_date);

CREATE TABLE appointments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    staff_id BIGINT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    service_id BIGINT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
    customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL,
    customer_name TEXT,
    customer_phone TEXT,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL CHECK (ends_at > starts_at),
    -- The end of the service's buffer: the staff member is busy until then.
    busy_until BIGINT NOT NULL CHECK (busy_until >= ends_at),
    status TEXT NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    source TEXT NOT NULL DEFAULT 'api',
    notes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX appointments_business_start ON appointments(business_id, starts_at);
CREATE INDEX appointments_staff_start ON appointments(staff_id, starts_at);

-- `granule` is the five-minute step since the epoch (epoch ms / 300000).
CREATE TABLE appointment_slots (
    staff_id BIGINT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    granule BIGINT NOT NULL,
    appointment_id BIGINT NOT NULL REFERENCES appointments(id) ON DELETE CASCADE,
    PRIMARY KEY (staff_id, granule)
);
CREATE INDEX appointment_slots_appointment ON appointment_slots(appointment_id);
