//! The webhooks feature's slice of the service: the database, sign-in state for its API,
//! and the one HTTP client deliveries go out on (its resolver refuses private addresses in
//! production, and it follows no redirect).

use std::sync::Arc;

use crate::config::Settings;
use crate::store::Db;

#[derive(Clone)]
pub struct HooksState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub auth: Arc<crate::auth::AuthState>,
    /// Outgoing deliveries: see [`super::guard::client`].
    pub client: reqwest::Client,
}

impl HooksState {
    pub fn new(settings: Arc<Settings>, db: Db, auth: Arc<crate::auth::AuthState>) -> Self {
        let client = super::guard::client(settings.is_production());
        Self {
            settings,
            db,
            auth,
            client,
        }
    }
}

crate::feature_state!(HooksState);
