//! Customers and leads (C2): one row per phone number per business, created by whatever
//! meets the customer first (a call, a WhatsApp message, the CRM) and enriched by the rest.

use sqlx::FromRow;

use super::{Db, now_ms};
use crate::domain::Phone;

#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Customer {
    pub id: i64,
    pub business_id: i64,
    pub name: Option<String>,
    pub phone: String,
    pub email: Option<String>,
    pub status: String,
    pub tags: String,
    pub notes: String,
    pub owner_user_id: Option<i64>,
    pub source: Option<String>,
    pub last_inbound_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str = "id, business_id, name, phone, email, status, tags, notes, \
     owner_user_id, source, last_inbound_at, created_at, updated_at";

/// Finds the business's customer with this phone, creating it if new; a known name is kept,
/// an unknown one is filled in. Safe under concurrent calls for the same phone.
pub async fn upsert_by_phone(
    db: &Db,
    business_id: i64,
    phone: &Phone,
    name: Option<&str>,
    source: &str,
) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO customers (business_id, name, phone, source, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (business_id, phone) DO UPDATE SET \
         name = COALESCE(customers.name, excluded.name), updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(business_id)
    .bind(name.map(str::trim).filter(|n| !n.is_empty()))
    .bind(phone.as_str())
    .bind(source)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    Ok(id)
}

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

pub async fn by_phone(
    db: &Db,
    business_id: i64,
    phone: &Phone,
) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND phone = $2"
    ))
    .bind(business_id)
    .bind(phone.as_str())
    .fetch_optional(&db.pool)
    .await
}
