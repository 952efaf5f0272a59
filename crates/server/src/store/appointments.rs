//! Appointments (#19, X3) and the guarantee that none is ever double-booked.
//!
//! A booked appointment holds one row per five-minute granule of its staff member's time
//! that it occupies (the service and its buffer) in `appointment_slots`, whose primary key
//! is (staff, granule). The rows are written in the same transaction as the appointment,
//! so when two bookings race for overlapping time the database itself lets exactly one
//! commit and the other's insert fails on the key: [`BookError::Taken`]. This holds on
//! SQLite and PostgreSQL alike, with no locking of our own. Moving an appointment frees
//! its granules and takes the new ones in one transaction; cancelling frees them.
//! Every statement is a fixed string.

use const_format::formatcp;
use sqlx::FromRow;

use super::{Db, is_unique_violation, now_ms};

/// Milliseconds in one granule (five minutes).
pub const GRANULE_MS: i64 = 300_000;

#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Appointment {
    pub id: i64,
    pub business_id: i64,
    pub staff_id: i64,
    pub service_id: i64,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub busy_until: i64,
    pub status: String,
    pub source: String,
    pub notes: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the customer confirmed (answered "1" on WhatsApp); migration 0024.
    #[sqlx(default)]
    pub confirmed_at: Option<i64>,
    #[sqlx(default)]
    pub cancelled_at: Option<i64>,
    /// `staff`, `caller` (on the phone) or `customer` (on WhatsApp).
    #[sqlx(default)]
    pub cancelled_by: Option<String>,
    /// Why the customer got no WhatsApp message, when they did not.
    #[sqlx(default)]
    pub whatsapp_note: Option<String>,
    /// Its event in the staff member's Google Calendar: `pending`, `ok`, `failed` or
    /// `None` (no calendar connected); with the last error while failing.
    #[sqlx(default)]
    pub calendar_sync: Option<String>,
    #[sqlx(default)]
    pub calendar_sync_error: Option<String>,
    #[sqlx(default)]
    pub calendar_event_id: Option<String>,
}

/// The columns of [`Appointment`], in one place for the statements that read it whole.
pub const COLUMNS: &str = "id, business_id, staff_id, service_id, customer_id, customer_name, \
     customer_phone, starts_at, ends_at, busy_until, status, source, notes, created_at, \
     updated_at, confirmed_at, cancelled_at, cancelled_by, whatsapp_note, calendar_sync, \
     calendar_sync_error, calendar_event_id";

/// Where and when an appointment is: its staff member, start, end and end of buffer
/// (epoch ms; the start on a granule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub staff_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub busy_until: i64,
}

impl Placement {
    /// The granules `[first, end)` it occupies.
    pub fn granules(&self) -> (i64, i64) {
        (
            self.starts_at.div_euclid(GRANULE_MS),
            (self.busy_until + GRANULE_MS - 1).div_euclid(GRANULE_MS),
        )
    }
}

#[derive(Clone, Debug)]
pub struct NewAppointment {
    pub service_id: i64,
    pub at: Placement,
    pub customer_id: Option<i64>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub source: String,
    pub notes: String,
    /// The call it was booked on, when the receptionist booked it.
    pub call_id: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// Some of the time is already another appointment's.
    #[error("the time is taken")]
    Taken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn taken_or(e: sqlx::Error) -> BookError {
    if is_unique_violation(&e) {
        BookError::Taken
    } else {
        BookError::Db(e)
    }
}

async fn hold(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    appointment_id: i64,
    at: &Placement,
) -> Result<(), BookError> {
    let (first, end) = at.granules();
    sqlx::query(
        "WITH RECURSIVE g(n) AS (SELECT CAST($2 AS BIGINT) UNION ALL SELECT n + 1 FROM g WHERE n + 1 < $3) \
         INSERT INTO appointment_slots (staff_id, granule, appointment_id) SELECT $1, n, $4 FROM g",
    )
    .bind(at.staff_id)
    .bind(first)
    .bind(end)
    .bind(appointment_id)
    .execute(&mut **tx)
    .await
    .map_err(taken_or)?;
    Ok(())
}

/// Books an appointment; [`BookError::Taken`] if any of its time is another's.
pub async fn book(db: &Db, business_id: i64, a: &NewAppointment) -> Result<i64, BookError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO appointments (business_id, staff_id, service_id, customer_id, customer_name, \
         customer_phone, starts_at, ends_at, busy_until, status, source, notes, created_at, updated_at, call_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'booked', $10, $11, $12, $12, $13) RETURNING id",
    )
    .bind(business_id)
    .bind(a.at.staff_id)
    .bind(a.service_id)
    .bind(a.customer_id)
    .bind(a.customer_name.as_deref())
    .bind(a.customer_phone.as_deref())
    .bind(a.at.starts_at)
    .bind(a.at.ends_at)
    .bind(a.at.busy_until)
    .bind(&a.source)
    .bind(&a.notes)
    .bind(now)
    .bind(a.call_id)
    .fetch_one(&mut *tx)
    .await?;
    hold(&mut tx, id, &a.at).await?;
    tx.commit().await?;
    Ok(id)
}

/// Moves a booked appointment; `Ok(false)` when there is no such booked appointment.
pub async fn move_to(
    db: &Db,
    business_id: i64,
    id: i64,
    at: &Placement,
) -> Result<bool, BookError> {
    let mut tx = db.pool.begin().await?;
    let r = sqlx::query(
        "UPDATE appointments SET staff_id = $3, starts_at = $4, ends_at = $5, busy_until = $6, \
         updated_at = $7, confirmed_at = NULL WHERE business_id = $1 AND id = $2 AND status = 'booked'",
    )
    .bind(business_id)
    .bind(id)
    .bind(at.staff_id)
    .bind(at.starts_at)
    .bind(at.ends_at)
    .bind(at.busy_until)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM appointment_slots WHERE appointment_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    hold(&mut tx, id, at).await?;
    tx.commit().await?;
    Ok(true)
}

/// Cancels a booked appointment and frees its time; `false` if none was booked.
pub async fn cancel(db: &Db, business_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    cancel_as(db, business_id, id, "staff", None).await
}

/// [`cancel`], saying who cancelled (`staff`, `caller`, `customer`) and, for a customer's
/// WhatsApp answer, the message that did it.
pub async fn cancel_as(
    db: &Db,
    business_id: i64,
    id: i64,
    by: &str,
    answered_message_id: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    let r = sqlx::query(
        "UPDATE appointments SET status = 'cancelled', updated_at = $3, cancelled_at = $3, \
         cancelled_by = $4, answered_message_id = COALESCE($5, answered_message_id) \
         WHERE business_id = $1 AND id = $2 AND status = 'booked'",
    )
    .bind(business_id)
    .bind(id)
    .bind(now_ms())
    .bind(by)
    .bind(answered_message_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM appointment_slots WHERE appointment_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(r.rows_affected() > 0)
}

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<Appointment>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM appointments WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Appointments starting in `[from, to)` (epoch ms), of one staff member or all, by start.
pub async fn list(
    db: &Db,
    business_id: i64,
    from: i64,
    to: i64,
    staff_id: Option<i64>,
) -> Result<Vec<Appointment>, sqlx::Error> {
    match staff_id {
        None => sqlx::query_as(formatcp!(
            "SELECT {COLUMNS} FROM appointments WHERE business_id = $1 AND starts_at >= $2 \
                 AND starts_at < $3 ORDER BY starts_at, id LIMIT 2000"
        ))
        .bind(business_id)
        .bind(from)
        .bind(to),
        Some(staff) => sqlx::query_as(formatcp!(
            "SELECT {COLUMNS} FROM appointments WHERE business_id = $1 AND starts_at >= $2 \
                 AND starts_at < $3 AND staff_id = $4 ORDER BY starts_at, id LIMIT 2000"
        ))
        .bind(business_id)
        .bind(from)
        .bind(to)
        .bind(staff),
    }
    .fetch_all(&db.pool)
    .await
}

/// The busy time `(staff_id, starts_at, busy_until)` of booked appointments overlapping
/// `[from, to)`, for availability.
pub async fn busy(
    db: &Db,
    business_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT staff_id, starts_at, busy_until FROM appointments WHERE business_id = $1 \
         AND status = 'booked' AND starts_at < $3 AND busy_until > $2 ORDER BY starts_at",
    )
    .bind(business_id)
    .bind(from)
    .bind(to)
    .fetch_all(&db.pool)
    .await
}
