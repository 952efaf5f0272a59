-- Customers and leads of a business (C2), one per phone number per business (C4).
CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    name TEXT,
    phone TEXT NOT NULL,
    email TEXT,
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'contacted', 'qualified', 'won', 'lost')),
    tags TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    owner_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    source TEXT,
    last_inbound_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (business_id, phone)
);
CREATE INDEX customers_business_updated ON customers(business_id, updated_at);
ALTER TABLE call_logs ADD COLUMN customer_id BIGINT REFERENCES customers(id) ON DELETE SET NULL;
