//! Appointments as the web app shows them beside a call or a lead (#22, #19, C2): with the
//! service's and the staff member's names joined in, so the owner reads "תספורת אצל דנה"
//! rather than ids. Scoped to the business first, like every tenant read (C4).

use sqlx::FromRow;

use super::Db;

/// One appointment with the names a person reads.
#[derive(Clone, Debug, FromRow)]
pub struct AppointmentLine {
    pub id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub status: String,
    pub source: String,
    pub service_name: String,
    pub staff_name: String,
    pub customer_name: Option<String>,
}

/// The appointments booked on call `call_id` of `business_id`, by start.
pub async fn booked_on_call(
    db: &Db,
    business_id: i64,
    call_id: i64,
) -> Result<Vec<AppointmentLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.starts_at, a.ends_at, a.status, a.source, s.name AS service_name, \
         t.name AS staff_name, a.customer_name FROM appointments a \
         JOIN services s ON s.id = a.service_id JOIN staff t ON t.id = a.staff_id \
         WHERE a.business_id = $1 AND a.call_id = $2 ORDER BY a.starts_at, a.id LIMIT 20",
    )
    .bind(business_id)
    .bind(call_id)
    .fetch_all(&db.pool)
    .await
}

/// A lead's appointments of `business_id`: those linked to the lead and those booked
/// under its phone number (E.164, as stored), newest start first, at most 100.
pub async fn of_lead(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    phone: Option<&str>,
) -> Result<Vec<AppointmentLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.starts_at, a.ends_at, a.status, a.source, s.name AS service_name, \
         t.name AS staff_name, a.customer_name FROM appointments a \
         JOIN services s ON s.id = a.service_id JOIN staff t ON t.id = a.staff_id \
         WHERE a.business_id = $1 AND (a.customer_id = $2 OR (CAST($3 AS TEXT) IS NOT NULL \
         AND a.customer_phone = $3)) ORDER BY a.starts_at DESC, a.id DESC LIMIT 100",
    )
    .bind(business_id)
    .bind(customer_id)
    .bind(phone)
    .fetch_all(&db.pool)
    .await
}
