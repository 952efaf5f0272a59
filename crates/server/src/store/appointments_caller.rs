//! A caller's own appointments (#19): the receptionist looks them up by the number the
//! caller rings from, within the business the call is for (C4), so a caller can hear,
//! move or cancel what they booked and nothing of anyone else's. A fixed statement.

use super::Db;
use super::appointments::Appointment;

/// Booked appointments of `business_id` for `phone` (E.164, as stored) ending after
/// `from_ms`, soonest first, at most `limit`.
pub async fn upcoming_for_phone(
    db: &Db,
    business_id: i64,
    phone: &str,
    from_ms: i64,
    limit: i64,
) -> Result<Vec<Appointment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, business_id, staff_id, service_id, customer_id, customer_name, customer_phone, \
         starts_at, ends_at, busy_until, status, source, notes, created_at, updated_at \
         FROM appointments WHERE business_id = $1 AND customer_phone = $2 AND status = 'booked' \
         AND ends_at > $3 ORDER BY starts_at, id LIMIT $4",
    )
    .bind(business_id)
    .bind(phone)
    .bind(from_ms)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}
