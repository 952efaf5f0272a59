-- Leads for daily work (#20, C2, C3): a deleted lead stays restorable (soft delete, undo),
-- a lead has a follow-up date beside its assignee (owner_user_id), and small tasks with a
-- due date and an assignee ("call back Sunday"). Saved filters of the leads list, per user.
ALTER TABLE customers ADD COLUMN deleted_at BIGINT;
ALTER TABLE customers ADD COLUMN deleted_by BIGINT;
ALTER TABLE customers ADD COLUMN follow_up_at BIGINT;
CREATE INDEX customers_business_deleted ON customers(business_id, deleted_at);
CREATE INDEX customers_business_follow_up ON customers(business_id, follow_up_at);

CREATE TABLE lead_tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    assignee_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    due_at BIGINT,
    done_at BIGINT,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX lead_tasks_customer ON lead_tasks(business_id, customer_id);
CREATE INDEX lead_tasks_due ON lead_tasks(business_id, done_at, due_at);

CREATE TABLE saved_filters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id BIGINT NOT NULL REFERENCES businesses(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);
