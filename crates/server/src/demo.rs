//! The demo business: in development, an empty database gets one business to call.
//!
//! A newcomer runs `mokdan serve`, then `mokdan sim call`, and hears the agent, with no
//! set-up in between. Production never seeds anything.

use crate::domain::Phone;
use crate::store::{Db, businesses};

/// The demo business's number (an unassigned Israeli range, never a real line).
pub const DEMO_NUMBER: &str = "+97230000000";

/// Adds the demo business when the database has no business at all.
pub async fn seed_if_empty(db: &Db) -> anyhow::Result<Option<i64>> {
    if businesses::count(db).await? > 0 {
        return Ok(None);
    }
    let phone = Phone::parse(DEMO_NUMBER)?;
    let id = businesses::create(db, "העסק לדוגמה של מוקדן", &phone).await?;
    Ok(Some(id))
}
