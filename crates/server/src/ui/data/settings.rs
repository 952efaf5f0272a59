//! A business's settings as the owner edits them, and its users (the store's reads).

pub use crate::store::businesses::BusinessSettings;
pub use crate::store::users::User as UserRow;
use crate::store::{Db, businesses, users as stored_users};

pub async fn get(db: &Db, business_id: i64) -> Result<Option<BusinessSettings>, sqlx::Error> {
    businesses::app_settings(db, business_id).await
}

pub async fn save(db: &Db, business_id: i64, s: &BusinessSettings) -> Result<(), sqlx::Error> {
    businesses::save_app_settings(db, business_id, s).await
}

pub async fn users(db: &Db, business_id: i64) -> Result<Vec<UserRow>, sqlx::Error> {
    stored_users::list(db, Some(business_id)).await
}
