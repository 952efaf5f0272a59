//! Small tasks on a lead ("לחזור אליה ביום ראשון", #20, C2): a title, a due time, an
//! assignee, done or not; and the list a user opens in the morning, their tasks due by the
//! end of today, overdue first. Fixed statements, scoped to the business first (C4).

use sqlx::FromRow;

use super::{Db, now_ms};

#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Task {
    pub id: i64,
    pub customer_id: i64,
    pub assignee_user_id: Option<i64>,
    pub title: String,
    pub due_at: Option<i64>,
    pub done_at: Option<i64>,
    pub created_at: i64,
}

/// A task with the lead it is about, for the "my tasks" list.
#[derive(Clone, Debug, FromRow)]
pub struct TaskOfLead {
    #[sqlx(flatten)]
    pub task: Task,
    pub lead_name: Option<String>,
    pub lead_phone: String,
}

const COLS: &str = "id, customer_id, assignee_user_id, title, due_at, done_at, created_at";

pub struct NewTask<'a> {
    pub customer_id: i64,
    pub assignee_user_id: Option<i64>,
    pub title: &'a str,
    pub due_at: Option<i64>,
    pub created_by: Option<i64>,
}

/// Adds a task to a live lead of the business; `None` when it has no such lead.
pub async fn create(
    db: &Db,
    business_id: i64,
    t: &NewTask<'_>,
) -> Result<Option<Task>, sqlx::Error> {
    sqlx::query_as(const_format::formatcp!(
        "INSERT INTO lead_tasks (business_id, customer_id, assignee_user_id, title, due_at, \
         created_by, created_at) SELECT $1, id, $3, $4, $5, $6, $7 FROM customers \
         WHERE business_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING {COLS}"
    ))
    .bind(business_id)
    .bind(t.customer_id)
    .bind(t.assignee_user_id)
    .bind(t.title)
    .bind(t.due_at)
    .bind(t.created_by)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

/// A lead's tasks: open ones by due time first, then the done ones.
pub async fn of_lead(
    db: &Db,
    business_id: i64,
    customer_id: i64,
) -> Result<Vec<Task>, sqlx::Error> {
    sqlx::query_as(const_format::formatcp!(
        "SELECT {COLS} FROM lead_tasks WHERE business_id = $1 AND customer_id = $2 \
         ORDER BY CASE WHEN done_at IS NULL THEN 0 ELSE 1 END, \
         CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at, id LIMIT 200"
    ))
    .bind(business_id)
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await
}

/// Marks a task done (or open again); false when the business has no such task.
pub async fn set_done(db: &Db, business_id: i64, id: i64, done: bool) -> Result<bool, sqlx::Error> {
    let at = done.then(now_ms);
    let r = sqlx::query("UPDATE lead_tasks SET done_at = $3 WHERE business_id = $1 AND id = $2")
        .bind(business_id)
        .bind(id)
        .bind(at)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The open tasks of `user_id` in the business due before `until` (epoch ms), or with no
/// due time, overdue first; tasks of deleted leads are left out. Also counts leads
/// assigned to the user whose follow-up falls before `until`, as tasks of their own.
pub async fn due_for(
    db: &Db,
    business_id: i64,
    user_id: i64,
    until: i64,
) -> Result<Vec<TaskOfLead>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.id, t.customer_id, t.assignee_user_id, t.title, t.due_at, t.done_at, \
         t.created_at, c.name AS lead_name, c.phone AS lead_phone FROM lead_tasks t \
         JOIN customers c ON c.id = t.customer_id AND c.business_id = t.business_id \
         WHERE t.business_id = $1 AND t.assignee_user_id = $2 AND t.done_at IS NULL \
         AND c.deleted_at IS NULL AND (t.due_at IS NULL OR t.due_at < $3) \
         ORDER BY CASE WHEN t.due_at IS NULL THEN 1 ELSE 0 END, t.due_at, t.id LIMIT 200",
    )
    .bind(business_id)
    .bind(user_id)
    .bind(until)
    .fetch_all(&db.pool)
    .await
}

/// Leads assigned to `user_id` whose follow-up is due before `until`, soonest first.
pub async fn follow_ups_for(
    db: &Db,
    business_id: i64,
    user_id: i64,
    until: i64,
) -> Result<Vec<super::customers::Customer>, sqlx::Error> {
    sqlx::query_as(const_format::formatcp!(
        "SELECT {} FROM customers WHERE business_id = $1 AND owner_user_id = $2 \
         AND deleted_at IS NULL AND follow_up_at IS NOT NULL AND follow_up_at < $3 \
         ORDER BY follow_up_at, id LIMIT 200",
        super::customers::COLUMNS
    ))
    .bind(business_id)
    .bind(user_id)
    .bind(until)
    .fetch_all(&db.pool)
    .await
}
