//! What the queue itself needs: the database, the pool's settings, the shutdown signal,
//! and sign-in state for the operator's routes.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::store::Db;

#[derive(Clone)]
pub struct JobsState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub shutdown: CancellationToken,
    pub auth: Arc<crate::auth::AuthState>,
}

crate::feature_state!(JobsState);
