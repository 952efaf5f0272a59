//! What the operational endpoints (`/healthz`, `/readyz`, `/metrics`) read: the database,
//! the metrics registry and which providers are configured.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Settings;
use crate::store::Db;

#[derive(Clone)]
pub struct OpsState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub metrics: PrometheusHandle,
    pub providers: super::Providers,
    pub voice: voice::session::Providers,
}
