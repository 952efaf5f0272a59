//! What a business books against (#19, X3): its services, its staff (people, rooms or
//! chairs) and which services each gives, weekly hours (the business's own bound every
//! staff member's), closures and its booking settings. Tables of migration 0021; every
//! function is scoped by `business_id` first (C4), and every statement is a fixed string.

use sqlx::FromRow;

use super::{Db, now_ms};

#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Service {
    pub id: i64,
    pub business_id: i64,
    pub name: String,
    pub duration_minutes: i64,
    pub buffer_after_minutes: i64,
    pub price_agorot: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A service's fields as written.
#[derive(Clone, Debug)]
pub struct ServiceFields {
    pub name: String,
    pub duration_minutes: i64,
    pub buffer_after_minutes: i64,
    pub price_agorot: Option<i64>,
}

#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Staff {
    pub id: i64,
    pub business_id: i64,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The Google Calendar their busy times come from and our bookings go to (#19).
    #[sqlx(default)]
    pub google_calendar_id: Option<String>,
}

/// One weekly opening range: a staff member's, or the business's own (`staff_id` None).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromRow)]
pub struct HoursRow {
    pub staff_id: Option<i64>,
    pub weekday: i64,
    pub start_minute: i64,
    pub end_minute: i64,
}

#[derive(Clone, Debug, FromRow)]
pub struct Closure {
    pub id: i64,
    pub first_date: String,
    pub last_date: String,
    pub start_minute: Option<i64>,
    pub end_minute: Option<i64>,
    pub note: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct Settings {
    pub location: String,
    pub closed_on_holy_days: i64,
    pub slot_step_minutes: i64,
    /// The day-before reminder's time, minutes after midnight in Israel (0024).
    pub reminder_minute: i64,
    pub reminders_on: i64,
    /// Approved WhatsApp templates for outside the 24-hour window (Twilio Content SID or
    /// Meta template name): the confirmation (and a move), the reminder, a cancellation.
    pub confirm_template: Option<String>,
    pub reminder_template: Option<String>,
    pub cancel_template: Option<String>,
}

impl Default for Settings {
    /// Tel Aviv, open on Shabbat, every 15 minutes, reminders at 18:00, no templates.
    fn default() -> Self {
        Settings {
            location: "tel_aviv".into(),
            closed_on_holy_days: 0,
            slot_step_minutes: 15,
            reminder_minute: 18 * 60,
            reminders_on: 1,
            confirm_template: None,
            reminder_template: None,
            cancel_template: None,
        }
    }
}

pub async fn create_service(
    db: &Db,
    business_id: i64,
    f: &ServiceFields,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO services (business_id, name, duration_minutes, buffer_after_minutes, \
         price_agorot, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(business_id)
    .bind(&f.name)
    .bind(f.duration_minutes)
    .bind(f.buffer_after_minutes)
    .bind(f.price_agorot)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await
}

pub async fn list_services(db: &Db, business_id: i64) -> Result<Vec<Service>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, business_id, name, duration_minutes, buffer_after_minutes, price_agorot, \
         created_at, updated_at FROM services WHERE business_id = $1 ORDER BY id",
    )
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

pub async fn get_service(
    db: &Db,
    business_id: i64,
    id: i64,
) -> Result<Option<Service>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, business_id, name, duration_minutes, buffer_after_minutes, price_agorot, \
         created_at, updated_at FROM services WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

pub async fn update_service(
    db: &Db,
    business_id: i64,
    id: i64,
    f: &ServiceFields,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "UPDATE services SET name = $3, duration_minutes = $4, buffer_after_minutes = $5, \
         price_agorot = $6, updated_at = $7 WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(id)
    .bind(&f.name)
    .bind(f.duration_minutes)
    .bind(f.buffer_after_minutes)
    .bind(f.price_agorot)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(r.rows_affected() > 0)
}

pub async fn delete_service(db: &Db, business_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM services WHERE business_id = $1 AND id = $2")
        .bind(business_id)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Why a staff write was refused.
#[derive(Debug)]
pub enum StaffError {
    /// A service id that is not this business's.
    UnknownService(i64),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StaffError {
    fn from(e: sqlx::Error) -> Self {
        StaffError::Db(e)
    }
}

/// Creates (`id` None) or replaces a staff member with their services and weekly hours,
/// in one transaction; `Ok(None)` when `id` names no staff member of the business.
pub async fn save_staff(
    db: &Db,
    business_id: i64,
    id: Option<i64>,
    name: &str,
    service_ids: &[i64],
    hours: &[HoursRow],
) -> Result<Option<i64>, StaffError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let staff_id: i64 = match id {
        None => {
            sqlx::query_scalar(
                "INSERT INTO staff (business_id, name, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3) RETURNING id",
            )
            .bind(business_id)
            .bind(name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
        }
        Some(id) => {
            let r = sqlx::query(
                "UPDATE staff SET name = $3, updated_at = $4 WHERE business_id = $1 AND id = $2",
            )
            .bind(business_id)
            .bind(id)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if r.rows_affected() == 0 {
                return Ok(None);
            }
            sqlx::query("DELETE FROM staff_services WHERE staff_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM opening_hours WHERE business_id = $1 AND staff_id = $2")
                .bind(business_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            id
        }
    };
    for service_id in service_ids {
        // Only the business's own services can be linked.
        let r = sqlx::query(
            "INSERT INTO staff_services (staff_id, service_id) \
             SELECT $1, id FROM services WHERE business_id = $2 AND id = $3",
        )
        .bind(staff_id)
        .bind(business_id)
        .bind(*service_id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(StaffError::UnknownService(*service_id));
        }
    }
    for h in hours {
        insert_hours(&mut tx, business_id, Some(staff_id), h).await?;
    }
    tx.commit().await?;
    Ok(Some(staff_id))
}

async fn insert_hours(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    business_id: i64,
    staff_id: Option<i64>,
    h: &HoursRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO opening_hours (business_id, staff_id, weekday, start_minute, end_minute) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(business_id)
    .bind(staff_id)
    .bind(h.weekday)
    .bind(h.start_minute)
    .bind(h.end_minute)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn list_staff(db: &Db, business_id: i64) -> Result<Vec<Staff>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, business_id, name, created_at, updated_at, google_calendar_id FROM staff \
         WHERE business_id = $1 ORDER BY id",
    )
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

pub async fn get_staff(db: &Db, business_id: i64, id: i64) -> Result<Option<Staff>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, business_id, name, created_at, updated_at, google_calendar_id FROM staff \
         WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

pub async fn delete_staff(db: &Db, business_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM staff WHERE business_id = $1 AND id = $2")
        .bind(business_id)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Every (staff, service) link of the business.
pub async fn staff_services(db: &Db, business_id: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ss.staff_id, ss.service_id FROM staff_services ss \
         JOIN staff s ON s.id = ss.staff_id WHERE s.business_id = $1 ORDER BY ss.staff_id, ss.service_id",
    )
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

/// Every weekly range of the business: its own and each staff member's.
pub async fn hours(db: &Db, business_id: i64) -> Result<Vec<HoursRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT staff_id, weekday, start_minute, end_minute FROM opening_hours \
         WHERE business_id = $1 ORDER BY weekday, start_minute",
    )
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

/// The business's settings, its own weekly hours replaced, in one transaction.
pub async fn save_settings(
    db: &Db,
    business_id: i64,
    s: &Settings,
    business_hours: &[HoursRow],
) -> Result<(), sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO appointment_settings (business_id, location, closed_on_holy_days, \
         slot_step_minutes, updated_at, reminder_minute, reminders_on, confirm_template, \
         reminder_template, cancel_template) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (business_id) DO UPDATE SET location = excluded.location, \
         closed_on_holy_days = excluded.closed_on_holy_days, \
         slot_step_minutes = excluded.slot_step_minutes, updated_at = excluded.updated_at, \
         reminder_minute = excluded.reminder_minute, reminders_on = excluded.reminders_on, \
         confirm_template = excluded.confirm_template, \
         reminder_template = excluded.reminder_template, \
         cancel_template = excluded.cancel_template",
    )
    .bind(business_id)
    .bind(&s.location)
    .bind(s.closed_on_holy_days)
    .bind(s.slot_step_minutes)
    .bind(now_ms())
    .bind(s.reminder_minute)
    .bind(s.reminders_on)
    .bind(s.confirm_template.as_deref())
    .bind(s.reminder_template.as_deref())
    .bind(s.cancel_template.as_deref())
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM opening_hours WHERE business_id = $1 AND staff_id IS NULL")
        .bind(business_id)
        .execute(&mut *tx)
        .await?;
    for h in business_hours {
        insert_hours(&mut tx, business_id, None, h).await?;
    }
    tx.commit().await
}

/// The business's settings, or the defaults ([`Settings::default`]).
pub async fn settings(db: &Db, business_id: i64) -> Result<Settings, sqlx::Error> {
    let row: Option<Settings> = sqlx::query_as(
        "SELECT location, closed_on_holy_days, slot_step_minutes, reminder_minute, reminders_on, \
         confirm_template, reminder_template, cancel_template FROM appointment_settings \
         WHERE business_id = $1",
    )
    .bind(business_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.unwrap_or_default())
}

pub async fn add_closure(db: &Db, business_id: i64, c: &Closure) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO closures (business_id, first_date, last_date, start_minute, end_minute, \
         note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(business_id)
    .bind(&c.first_date)
    .bind(&c.last_date)
    .bind(c.start_minute)
    .bind(c.end_minute)
    .bind(&c.note)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await
}

/// Closures touching the dates `first..=last` (YYYY-MM-DD).
pub async fn closures(
    db: &Db,
    business_id: i64,
    first: &str,
    last: &str,
) -> Result<Vec<Closure>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, first_date, last_date, start_minute, end_minute, note FROM closures \
         WHERE business_id = $1 AND last_date >= $2 AND first_date <= $3 ORDER BY first_date",
    )
    .bind(business_id)
    .bind(first)
    .bind(last)
    .fetch_all(&db.pool)
    .await
}

pub async fn delete_closure(db: &Db, business_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let r = sqlx::query("DELETE FROM closures WHERE business_id = $1 AND id = $2")
        .bind(business_id)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(r.rows_affected() > 0)
}
