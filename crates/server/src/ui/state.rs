//! The web app's slice of the service. Its pages read the database directly, show the
//! operator what `/readyz` and the metrics say, start "try a call" runs and show the
//! WhatsApp bridge's pairing, so it holds those features' states rather than the whole
//! application's.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::store::Db;

#[derive(Clone)]
pub struct WebState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub shutdown: CancellationToken,
    pub auth: Arc<crate::auth::AuthState>,
    /// Which optional tables exist, and "try a call" runs.
    pub ui: Arc<super::UiState>,
    pub prompts: Arc<crate::prompts::Prompts>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// For the operator's health page.
    pub ops: crate::ops::state::OpsState,
    /// For the WhatsApp pairing page.
    pub wa: crate::whatsapp::state::WaState,
}

crate::feature_state!(WebState);
