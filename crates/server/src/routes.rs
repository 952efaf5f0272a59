//! The whole route table, assembled from each context's `router()`.

use axum::Router;
use axum::middleware;

use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::ops::routes::router())
        .merge(crate::calls::routes::router())
        .merge(crate::calls::outbound::router())
        .merge(crate::calls::media::routes::router())
        .merge(crate::prompts::routes::router())
        .merge(crate::ui::router())
        .merge(crate::crm::router())
        .merge(crate::jobs::routes::router())
        .merge(crate::whatsapp::routes::router())
        .layer(middleware::from_fn(crate::crm::errors::json_errors))
        .layer(middleware::from_fn(crate::telemetry::track))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ui::headers::strict_transport,
        ))
        .with_state(state)
}
