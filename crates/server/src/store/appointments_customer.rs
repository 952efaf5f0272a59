//! The customer's side of an appointment (#19, migration 0024): their WhatsApp answer
//! ("1" confirms, "2" cancels) finds the nearest upcoming appointment of their number in
//! the business they wrote to (C4: never another business's), and what became of the
//! messages to them is noted on the appointment. Fixed statements, `business_id` first.

use const_format::formatcp;

use super::appointments::{Appointment, COLUMNS};
use super::{Db, now_ms};

/// The nearest booked appointment of `phone` in the business starting after `from_ms`
/// that the customer has not confirmed yet; with `confirmed_too`, the nearest booked one
/// whatever its confirmation.
pub async fn nearest_upcoming(
    db: &Db,
    business_id: i64,
    phone: &str,
    from_ms: i64,
    confirmed_too: bool,
) -> Result<Option<Appointment>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM appointments WHERE business_id = $1 AND customer_phone = $2 \
         AND status = 'booked' AND starts_at > $3 AND (CAST($4 AS BIGINT) = 1 OR confirmed_at IS NULL) \
         ORDER BY starts_at, id LIMIT 1"
    ))
    .bind(business_id)
    .bind(phone)
    .bind(from_ms)
    .bind(i64::from(confirmed_too))
    .fetch_optional(&db.pool)
    .await
}

/// The appointment an inbound message already answered, if it did (a rerun of the answer).
pub async fn answered_by(
    db: &Db,
    business_id: i64,
    message_id: i64,
) -> Result<Option<Appointment>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM appointments WHERE business_id = $1 AND answered_message_id = $2 \
         LIMIT 1"
    ))
    .bind(business_id)
    .bind(message_id)
    .fetch_optional(&db.pool)
    .await
}

/// Records the customer's confirmation by `message_id`; false when it is no longer
/// booked or was confirmed already.
pub async fn confirm(
    db: &Db,
    business_id: i64,
    id: i64,
    message_id: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let r = sqlx::query(
        "UPDATE appointments SET confirmed_at = $3, answered_message_id = $4, updated_at = $3 \
         WHERE business_id = $1 AND id = $2 AND status = 'booked' AND confirmed_at IS NULL",
    )
    .bind(business_id)
    .bind(id)
    .bind(now)
    .bind(message_id)
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Notes on the appointment why the customer got no WhatsApp message (`None` clears it).
pub async fn note(
    db: &Db,
    business_id: i64,
    id: i64,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE appointments SET whatsapp_note = $3 WHERE business_id = $1 AND id = $2")
        .bind(business_id)
        .bind(id)
        .bind(note)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// A customer's appointments (by the customer link or their phone), newest first, for
/// the lead's timeline.
pub async fn for_customer(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    phone: &str,
    limit: i64,
) -> Result<Vec<Appointment>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM appointments WHERE business_id = $1 \
         AND (customer_id = $2 OR customer_phone = $3) ORDER BY starts_at DESC, id DESC LIMIT $4"
    ))
    .bind(business_id)
    .bind(customer_id)
    .bind(phone)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}
