//! The WhatsApp routes: provider webhooks (W1) and the CRM API (W3).

use axum::Router;
use axum::routing::{get, post};

use crate::whatsapp::state::WaState;
use crate::whatsapp::{api, baileys, meta, twilio};

pub fn router() -> Router<WaState> {
    Router::new()
        .route("/webhook/whatsapp/twilio", post(twilio::inbound_webhook))
        .route("/webhook/whatsapp/status", post(twilio::status_webhook))
        .route(
            "/webhook/whatsapp/meta",
            get(meta::verify).post(meta::notify),
        )
        .route("/webhook/whatsapp/baileys", post(baileys::webhook))
        .route("/api/whatsapp/send", post(api::send_message))
        .route("/api/whatsapp/threads", get(api::threads))
        .route("/api/whatsapp/threads/{customer_id}", get(api::thread))
        .route(
            "/api/whatsapp/messages/{id}/media/{n}",
            get(api::media_item),
        )
}
