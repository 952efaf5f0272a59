//! Appointments beyond our own book (#19, X3): a staff member's Google Calendar and ICS
//! feed secret, and each appointment's event in that calendar with its sync state. Tables
//! of migrations 0021 and 0023. Tenant reads take `business_id` first (C4); the one
//! exception, [`staff_by_ics`], finds a staff member by the hash of a secret only its
//! feed URL carries. Every statement is a fixed string.

use sqlx::FromRow;

use super::jobs::{self, NewJob};
use super::{Db, now_ms};

/// An appointment's sync state, as the API shows it.
pub const PENDING: &str = "pending";
pub const OK: &str = "ok";
pub const FAILED: &str = "failed";

/// Sets (or with `None` clears) a staff member's Google Calendar; `false` if no such staff.
pub async fn set_staff_calendar(
    db: &Db,
    business_id: i64,
    staff_id: i64,
    calendar_id: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE staff SET google_calendar_id = $3, updated_at = $4 \
         WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(staff_id)
    .bind(calendar_id)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Replaces a staff member's ICS feed secret (its SHA-256, hex); `false` if no such staff.
pub async fn set_ics_token(
    db: &Db,
    business_id: i64,
    staff_id: i64,
    token_hash: &str,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE staff SET ics_token_hash = $3, updated_at = $4 WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(staff_id)
    .bind(token_hash)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// The `(business_id, staff_id, name)` whose feed secret hashes to `token_hash`.
pub async fn staff_by_ics(
    db: &Db,
    token_hash: &str,
) -> Result<Option<(i64, i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT business_id, id, name FROM staff WHERE ics_token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&db.pool)
        .await
}

/// Marks an appointment's calendar event as to be written and enqueues `job` for it, in
/// one transaction, when there is something to write: its staff member has a Google
/// Calendar, or it already has an event there (to move or delete). `false` otherwise.
pub async fn schedule(
    db: &Db,
    business_id: i64,
    appointment_id: i64,
    job: &NewJob<'_>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let r = sqlx::query(
        "UPDATE appointments SET calendar_sync = 'pending' WHERE business_id = $1 AND id = $2 \
         AND (calendar_event_id IS NOT NULL OR staff_id IN (SELECT id FROM staff \
         WHERE business_id = $1 AND google_calendar_id IS NOT NULL))",
    )
    .bind(business_id)
    .bind(appointment_id)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    jobs::insert_on(&mut *tx, job).await?;
    tx.commit().await?;
    Ok(true)
}

/// What a sync job needs of one appointment: where its event should be, and where it is.
#[derive(Clone, Debug, FromRow)]
pub struct Target {
    pub id: i64,
    pub business_id: i64,
    pub status: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub notes: String,
    pub service_name: String,
    pub staff_name: String,
    /// The staff member's calendar now (`None`: not connected).
    pub calendar_id: Option<String>,
    /// Where the event was written, if it was.
    pub event_calendar: Option<String>,
    pub event_id: Option<String>,
}

pub async fn target(
    db: &Db,
    business_id: i64,
    appointment_id: i64,
) -> Result<Option<Target>, sqlx::Error> {
    sqlx::query_as(
        "SELECT a.id, a.business_id, a.status, a.starts_at, a.ends_at, a.customer_name, \
         a.customer_phone, a.notes, v.name AS service_name, s.name AS staff_name, \
         s.google_calendar_id AS calendar_id, a.calendar_event_calendar AS event_calendar, \
         a.calendar_event_id AS event_id FROM appointments a \
         JOIN staff s ON s.id = a.staff_id JOIN services v ON v.id = a.service_id \
         WHERE a.business_id = $1 AND a.id = $2",
    )
    .bind(business_id)
    .bind(appointment_id)
    .fetch_optional(&db.pool)
    .await
}

/// Records where the appointment's event now is (`None`: nowhere) and that it is in sync.
pub async fn record_ok(
    db: &Db,
    business_id: i64,
    appointment_id: i64,
    event: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE appointments SET calendar_event_calendar = $3, calendar_event_id = $4, \
         calendar_sync = 'ok', calendar_sync_error = NULL WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(appointment_id)
    .bind(event.map(|e| e.0))
    .bind(event.map(|e| e.1))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records where the event is after a partial step (an old event deleted) without
/// changing the sync state.
pub async fn record_event(
    db: &Db,
    business_id: i64,
    appointment_id: i64,
    event: Option<(&str, &str)>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE appointments SET calendar_event_calendar = $3, calendar_event_id = $4 \
         WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(appointment_id)
    .bind(event.map(|e| e.0))
    .bind(event.map(|e| e.1))
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records a failed attempt (the job retries it).
pub async fn record_failure(
    db: &Db,
    business_id: i64,
    appointment_id: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    let error: String = error.chars().take(500).collect();
    sqlx::query(
        "UPDATE appointments SET calendar_sync = 'failed', calendar_sync_error = $3 \
         WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(appointment_id)
    .bind(error)
    .execute(&db.pool)
    .await?;
    Ok(())
}
