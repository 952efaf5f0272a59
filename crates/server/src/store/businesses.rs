//! Businesses (the tenants) and the Twilio numbers that route calls to them.

use const_format::formatcp;
use sqlx::FromRow;

use super::{Db, now_ms};
use crate::domain::Phone;

#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Business {
    pub id: i64,
    pub name: String,
    pub greeting: Option<String>,
    pub agent_prompt: Option<String>,
    /// Opening hours as JSON text (the shape is the web app's; the server only stores it).
    pub business_hours: Option<String>,
    pub transfer_number: Option<String>,
    pub whatsapp_number: Option<String>,
    pub auto_reply: i64,
    pub recording_retention_days: i64,
    /// The scripted agent's questions as a JSON array of strings; `None`: its defaults.
    pub intake_questions: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Meta's phone number id of the business's WhatsApp number: its Meta sends go out
    /// from it (`None`: `META_PHONE_NUMBER_ID`, unless another business has that one).
    pub meta_phone_number_id: Option<String>,
    /// Whether Twilio records each call whole (`<Start><Recording>`); 1 by default.
    pub record_calls: i64,
    /// Whether the greeting tells callers the call is recorded (when it is); 0 by default.
    pub announce_recording: i64,
}

impl Business {
    /// The business's own intake questions (empty: the agent's defaults).
    pub fn questions(&self) -> Vec<String> {
        parse_questions(self.intake_questions.as_deref())
    }
}

/// Reads stored intake questions; anything unreadable counts as none (the defaults).
pub fn parse_questions(stored: Option<&str>) -> Vec<String> {
    stored
        .and_then(|t| serde_json::from_str::<Vec<String>>(t).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|q| !q.trim().is_empty())
        .collect()
}

const COLUMNS: &str = "id, name, greeting, agent_prompt, business_hours, transfer_number, whatsapp_number, \
     auto_reply, recording_retention_days, intake_questions, created_at, updated_at, \
     meta_phone_number_id, record_calls, announce_recording";

/// Creates a business with its first number, in one transaction (numbers are unique).
pub async fn create(db: &Db, name: &str, phone: &Phone) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO businesses (name, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id",
    )
    .bind(name)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO business_numbers (number, business_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind(phone.as_str())
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The business that owns a Twilio number (the `To` of an inbound call).
pub async fn by_number(db: &Db, phone: &Phone) -> Result<Option<Business>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM businesses WHERE id = \
         (SELECT business_id FROM business_numbers WHERE number = $1)"
    ))
    .bind(phone.as_str())
    .fetch_optional(&db.pool)
    .await
}

pub async fn get(db: &Db, business_id: i64) -> Result<Option<Business>, sqlx::Error> {
    sqlx::query_as(formatcp!("SELECT {COLUMNS} FROM businesses WHERE id = $1"))
        .bind(business_id)
        .fetch_optional(&db.pool)
        .await
}

/// The business's numbers, first added first (the first is its caller id for outbound calls).
pub async fn numbers(db: &Db, business_id: i64) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT number FROM business_numbers WHERE business_id = $1 ORDER BY created_at, number",
    )
    .bind(business_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(|(n,)| n).collect())
}

/// A short-lived cache of number → business, so the busiest webhook skips a query.
///
/// Entries live a few seconds: a business added or renumbered is seen within that time
/// on every node, and a burst of calls to one number costs one lookup.
#[derive(Default)]
pub struct NumberCache {
    entries:
        std::sync::Mutex<std::collections::HashMap<String, (Option<Business>, std::time::Instant)>>,
}

impl NumberCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(5);

    pub async fn business(&self, db: &Db, phone: &Phone) -> Result<Option<Business>, sqlx::Error> {
        if let Some((b, at)) = self
            .entries
            .lock()
            .expect("number cache")
            .get(phone.as_str())
            && at.elapsed() < Self::TTL
        {
            return Ok(b.clone());
        }
        let found = by_number(db, phone).await?;
        let mut entries = self.entries.lock().expect("number cache");
        if entries.len() > 10_000 {
            entries.clear();
        }
        entries.insert(
            phone.as_str().to_string(),
            (found.clone(), std::time::Instant::now()),
        );
        Ok(found)
    }

    /// Forgets everything (after a change to businesses or numbers on this node).
    pub fn clear(&self) {
        self.entries.lock().expect("number cache").clear();
    }
}

/// Every business, for the operator (the one cross-tenant listing).
pub async fn list(db: &Db) -> Result<Vec<Business>, sqlx::Error> {
    sqlx::query_as(formatcp!("SELECT {COLUMNS} FROM businesses ORDER BY id"))
        .fetch_all(&db.pool)
        .await
}

/// The first `limit` businesses by id, for the operator's pages.
pub async fn first(db: &Db, limit: i64) -> Result<Vec<Business>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM businesses ORDER BY id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// The ids of the first `limit` businesses (greetings are rendered for them at start).
pub async fn ids(db: &Db, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM businesses ORDER BY id LIMIT $1")
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// How many businesses there are.
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM businesses")
        .fetch_one(&db.pool)
        .await?;
    Ok(count)
}

/// The shortest recording retention any business asks for, in days (`None`: no business).
pub async fn shortest_retention_days(db: &Db) -> Result<Option<i64>, sqlx::Error> {
    let (shortest,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(recording_retention_days) FROM businesses")
            .fetch_one(&db.pool)
            .await?;
    Ok(shortest)
}

/// Every number with the business it routes to, for the operator.
pub async fn all_numbers(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT number, business_id FROM business_numbers ORDER BY business_id, created_at",
    )
    .fetch_all(&db.pool)
    .await
}

/// What the owner edits on the web app's settings page: a part of [`Business`].
#[derive(Clone, Debug, FromRow)]
pub struct BusinessSettings {
    pub name: String,
    pub greeting: Option<String>,
    pub agent_prompt: Option<String>,
    pub business_hours: Option<String>,
    pub transfer_number: Option<String>,
    pub auto_reply: i64,
    /// JSON array of the intake questions; `None`: the agent's defaults.
    pub intake_questions: Option<String>,
    pub record_calls: i64,
    pub announce_recording: i64,
}

/// The part of a business the web app's settings page edits.
pub async fn app_settings(
    db: &Db,
    business_id: i64,
) -> Result<Option<BusinessSettings>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, greeting, agent_prompt, business_hours, transfer_number, auto_reply, \
         intake_questions, record_calls, announce_recording FROM businesses WHERE id = $1",
    )
    .bind(business_id)
    .fetch_optional(&db.pool)
    .await
}

/// Saves what the web app's settings page edits (the name is the operator's to change).
pub async fn save_app_settings(
    db: &Db,
    business_id: i64,
    s: &BusinessSettings,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE businesses SET greeting = $2, agent_prompt = $3, business_hours = $4, \
         transfer_number = $5, auto_reply = $6, updated_at = $7, intake_questions = $8, \
         record_calls = $9, announce_recording = $10 WHERE id = $1",
    )
    .bind(business_id)
    .bind(&s.greeting)
    .bind(&s.agent_prompt)
    .bind(&s.business_hours)
    .bind(&s.transfer_number)
    .bind(s.auto_reply)
    .bind(now_ms())
    .bind(&s.intake_questions)
    .bind(s.record_calls)
    .bind(s.announce_recording)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Turns recording whole calls on or off; `false` when there is no such business.
pub async fn set_record_calls(db: &Db, business_id: i64, on: bool) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE businesses SET record_calls = $2, updated_at = $3 WHERE id = $1")
            .bind(business_id)
            .bind(i64::from(on))
            .bind(now_ms())
            .execute(&db.pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// A business's settings, as written by the API.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub name: String,
    pub greeting: Option<String>,
    pub agent_prompt: Option<String>,
    pub business_hours: Option<String>,
    pub transfer_number: Option<String>,
    pub whatsapp_number: Option<String>,
    pub auto_reply: bool,
    pub recording_retention_days: i64,
    /// JSON array of the intake questions; `None`: the agent's defaults.
    pub intake_questions: Option<String>,
    pub meta_phone_number_id: Option<String>,
}

/// Creates a business with its settings and numbers in one transaction; a number already
/// owned by any business fails the whole creation with a unique violation.
pub async fn create_with(db: &Db, s: &Settings, numbers: &[Phone]) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO businesses (name, greeting, agent_prompt, business_hours, transfer_number, \
         whatsapp_number, auto_reply, recording_retention_days, intake_questions, created_at, \
         updated_at, meta_phone_number_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9, $11) RETURNING id",
    )
    .bind(&s.name)
    .bind(&s.greeting)
    .bind(&s.agent_prompt)
    .bind(&s.business_hours)
    .bind(&s.transfer_number)
    .bind(&s.whatsapp_number)
    .bind(i64::from(s.auto_reply))
    .bind(s.recording_retention_days)
    .bind(now)
    .bind(&s.intake_questions)
    .bind(&s.meta_phone_number_id)
    .fetch_one(&mut *tx)
    .await?;
    for phone in numbers {
        sqlx::query(
            "INSERT INTO business_numbers (number, business_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(phone.as_str())
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The business other than `business_id` (`None`: a business not created yet) that already
/// claims `number`, as one of its voice numbers or as its WhatsApp number. The database holds
/// the same rule (migration 0012), so a race between two writers still fails one of them.
pub async fn claimed_elsewhere(
    db: &Db,
    business_id: Option<i64>,
    number: &Phone,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT business_id FROM business_numbers WHERE number = $1 AND business_id <> $2 \
         UNION ALL SELECT id FROM businesses WHERE whatsapp_number = $1 AND id <> $2 LIMIT 1",
    )
    .bind(number.as_str())
    .bind(business_id.unwrap_or(0))
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// The business other than `business_id` whose Meta phone number id is `id`, if any.
pub async fn meta_id_claimed_elsewhere(
    db: &Db,
    business_id: Option<i64>,
    id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT id FROM businesses WHERE meta_phone_number_id = $1 AND id <> $2 LIMIT 1",
    )
    .bind(id)
    .bind(business_id.unwrap_or(0))
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Writes a business's settings and, when given, replaces its numbers (kept numbers keep
/// their age, so the first number stays the caller id), in one transaction: a number or
/// WhatsApp number another business claims is a unique violation and changes nothing.
/// False when there is no such business.
pub async fn update(
    db: &Db,
    business_id: i64,
    s: &Settings,
    numbers: Option<&[Phone]>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    // The settings first: a number moving from the WhatsApp number to the voice numbers (or
    // back) within this business is then never seen as another business's.
    let done = sqlx::query(
        "UPDATE businesses SET name = $2, greeting = $3, agent_prompt = $4, business_hours = $5, \
         transfer_number = $6, whatsapp_number = $7, auto_reply = $8, \
         recording_retention_days = $9, updated_at = $10, intake_questions = $11, \
         meta_phone_number_id = $12 WHERE id = $1",
    )
    .bind(business_id)
    .bind(&s.name)
    .bind(&s.greeting)
    .bind(&s.agent_prompt)
    .bind(&s.business_hours)
    .bind(&s.transfer_number)
    .bind(&s.whatsapp_number)
    .bind(i64::from(s.auto_reply))
    .bind(s.recording_retention_days)
    .bind(now_ms())
    .bind(&s.intake_questions)
    .bind(&s.meta_phone_number_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    if let Some(numbers) = numbers {
        set_numbers_on(&mut tx, business_id, numbers).await?;
    }
    tx.commit().await?;
    Ok(true)
}

async fn set_numbers_on(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    business_id: i64,
    numbers: &[Phone],
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let current: Vec<(String,)> =
        sqlx::query_as("SELECT number FROM business_numbers WHERE business_id = $1")
            .bind(business_id)
            .fetch_all(&mut **tx)
            .await?;
    for (old,) in &current {
        if !numbers.iter().any(|n| n.as_str() == old) {
            sqlx::query("DELETE FROM business_numbers WHERE business_id = $1 AND number = $2")
                .bind(business_id)
                .bind(old)
                .execute(&mut **tx)
                .await?;
        }
    }
    for (i, phone) in numbers.iter().enumerate() {
        if !current.iter().any(|(c,)| c == phone.as_str()) {
            sqlx::query(
                "INSERT INTO business_numbers (number, business_id, created_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(phone.as_str())
            .bind(business_id)
            .bind(now + i as i64)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Deletes a business and (by cascade) its numbers, users, customers and tokens.
pub async fn delete(db: &Db, business_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM businesses WHERE id = $1")
        .bind(business_id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether the owner lets the service's support edit the CRM (#20); read-only otherwise.
pub async fn support_can_edit(db: &Db, business_id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT support_can_edit FROM businesses WHERE id = $1")
            .bind(business_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.is_some_and(|(v,)| v != 0))
}

pub async fn set_support_can_edit(
    db: &Db,
    business_id: i64,
    allow: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE businesses SET support_can_edit = $2, updated_at = $3 WHERE id = $1")
        .bind(business_id)
        .bind(i64::from(allow))
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(())
}
