//! The whole route table, assembled from each feature's `router()`, each on its own slice
//! of state.

use axum::Router;
use axum::middleware;

use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::ops::routes::router().with_state(state.ops.clone()))
        .merge(crate::calls::routes::router().with_state(state.calls.clone()))
        .merge(crate::calls::outbound::router().with_state(state.calls.clone()))
        .merge(crate::calls::media::routes::router().with_state(state.calls.clone()))
        .merge(crate::prompts::routes::router().with_state(state.calls.clone()))
        .merge(crate::ui::router().with_state(state.web.clone()))
        .merge(crate::crm::router().with_state(state.crm.clone()))
        .merge(crate::jobs::routes::router().with_state(state.jobs.clone()))
        .merge(crate::whatsapp::routes::router().with_state(state.whatsapp.clone()))
        .merge(crate::hooks::routes::router().with_state(state.hooks.clone()))
        .merge(crate::notify::routes::router().with_state(state.notify.clone()))
        .layer(middleware::from_fn(crate::http::json_errors::json_errors))
        .layer(middleware::from_fn(crate::telemetry::track))
        .layer(middleware::from_fn_with_state(
            state.settings.clone(),
            crate::ui::headers::strict_transport,
        ))
}
