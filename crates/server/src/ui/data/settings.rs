//! A business's settings as the owner edits them, and its users.

use crate::store::{Db, now_ms};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BusinessSettings {
    pub name: String,
    pub greeting: Option<String>,
    pub agent_prompt: Option<String>,
    pub business_hours: Option<String>,
    pub transfer_number: Option<String>,
    pub auto_reply: i64,
    /// JSON array of the intake questions; `None`: the agent's defaults.
    pub intake_questions: Option<String>,
}

pub async fn get(db: &Db, business_id: i64) -> Result<Option<BusinessSettings>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, greeting, agent_prompt, business_hours, transfer_number, auto_reply, \
         intake_questions FROM businesses WHERE id = $1",
    )
    .bind(business_id)
    .fetch_optional(&db.pool)
    .await
}

pub async fn save(db: &Db, business_id: i64, s: &BusinessSettings) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE businesses SET greeting = $2, agent_prompt = $3, business_hours = $4, \
         transfer_number = $5, auto_reply = $6, updated_at = $7, intake_questions = $8 \
         WHERE id = $1",
    )
    .bind(business_id)
    .bind(&s.greeting)
    .bind(&s.agent_prompt)
    .bind(&s.business_hours)
    .bind(&s.transfer_number)
    .bind(s.auto_reply)
    .bind(now_ms())
    .bind(&s.intake_questions)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub role: String,
    pub business_id: Option<i64>,
    pub created_at: i64,
}

pub async fn users(db: &Db, business_id: i64) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, role, business_id, created_at FROM users WHERE business_id = $1 \
         ORDER BY id",
    )
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}
