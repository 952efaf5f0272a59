//! Notification preferences (#22): one row per user who chose how to be told about calls,
//! and the business's users with their choices, for `notify::emit` to address.
//!
//! A user without a row has no stored choice; what that means (an owner gets the default,
//! an agent nothing) is the notify feature's rule, not the store's.

use const_format::formatcp;
use sqlx::FromRow;

use super::{Db, now_ms};

/// A user's stored preferences, as the row holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq, FromRow)]
pub struct PrefsRow {
    pub user_id: i64,
    /// JSON list of event names.
    pub events: String,
    pub email_on: i64,
    pub whatsapp_on: i64,
    /// E.164, the user's own phone.
    pub whatsapp_phone: Option<String>,
    /// JSON `{"from":"22:00","to":"07:00"}`, or none.
    pub quiet_hours: Option<String>,
    pub shabbat_quiet: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "user_id, events, email_on, whatsapp_on, whatsapp_phone, quiet_hours, \
     shabbat_quiet, updated_at";

/// A user's preferences, if they stored any.
pub async fn get(db: &Db, user_id: i64) -> Result<Option<PrefsRow>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM notification_prefs WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await
}

/// Stores a user's preferences (insert or replace); returns them as stored.
pub async fn put(db: &Db, p: &PrefsRow) -> Result<PrefsRow, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "INSERT INTO notification_prefs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (user_id) DO UPDATE SET events = $2, email_on = $3, whatsapp_on = $4, \
         whatsapp_phone = $5, quiet_hours = $6, shabbat_quiet = $7, updated_at = $8 \
         RETURNING {COLUMNS}"
    ))
    .bind(p.user_id)
    .bind(&p.events)
    .bind(p.email_on)
    .bind(p.whatsapp_on)
    .bind(&p.whatsapp_phone)
    .bind(&p.quiet_hours)
    .bind(p.shabbat_quiet)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await
}

/// A user of a business with their preferences, if any: whom an event may reach.
#[derive(Clone, Debug, FromRow)]
pub struct Recipient {
    pub user_id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub events: Option<String>,
    pub email_on: Option<i64>,
    pub whatsapp_on: Option<i64>,
    pub whatsapp_phone: Option<String>,
    pub quiet_hours: Option<String>,
    pub shabbat_quiet: Option<i64>,
}

const RECIPIENT: &str = "SELECT u.id AS user_id, u.email, u.name, u.role, p.events, \
     p.email_on, p.whatsapp_on, p.whatsapp_phone, p.quiet_hours, p.shabbat_quiet \
     FROM users u LEFT JOIN notification_prefs p ON p.user_id = u.id";

/// Every user of the business, with their preferences where stored.
pub async fn recipients(db: &Db, business_id: i64) -> Result<Vec<Recipient>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "{RECIPIENT} WHERE u.business_id = $1 ORDER BY u.id"
    ))
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

/// One user of the business with their preferences; `None` when not the business's.
pub async fn recipient(
    db: &Db,
    business_id: i64,
    user_id: i64,
) -> Result<Option<Recipient>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "{RECIPIENT} WHERE u.business_id = $1 AND u.id = $2"
    ))
    .bind(business_id)
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await
}
