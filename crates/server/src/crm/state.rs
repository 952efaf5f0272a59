//! The CRM API's slice of the service: the database, the settings, sign-in state (users
//! and businesses revoke sessions) and the cached totals of large lists.

use std::sync::Arc;

use crate::config::Settings;
use crate::store::Db;

#[derive(Clone)]
pub struct CrmState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub auth: Arc<crate::auth::AuthState>,
    /// Cached totals of large customer lists.
    pub crm_counts: Arc<super::counts::Counts>,
    /// The Google account staff calendars are shared with, when configured (#19).
    pub google: Option<crate::appointments::gcal::Google>,
}

crate::feature_state!(CrmState);
