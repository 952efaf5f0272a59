//! Twilio's REST API (2010-04-01), the part mokdan's client calls, served locally.
//!
//! The server's `TWILIO_API_BASE` points here in tests and in `mokdan sim serve`: it
//! places outbound calls, redirects live calls to the fallback, downloads recordings
//! and sends WhatsApp messages through these routes. Each request is logged before
//! anything else so a test can assert on exactly what the server asked for, and
//! credentials are checked as Twilio checks them, with Twilio's error bodies.

mod auth;
mod calls;
mod json;
mod messages;
mod recordings;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::state::Shared;

pub(crate) use auth::Authed;
pub(crate) use json::twilio_error;

const ACCOUNT: &str = "/2010-04-01/Accounts/{account}";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let r = |p: &str| format!("{ACCOUNT}{p}");
    Router::new()
        .route(&r("/Calls.json"), post(calls::create).get(calls::list))
        .route(&r("/Calls/{file}"), post(calls::update).get(calls::fetch))
        .route(
            &r("/Calls/{call}/Recordings.json"),
            get(recordings::list_for_call).post(recordings::start_for_call),
        )
        .route(&r("/Recordings.json"), get(recordings::list))
        .route(&r("/Recordings/{file}"), get(recordings::fetch))
        .route(&r("/Messages.json"), post(messages::create))
        .route(&r("/Messages/{file}"), get(messages::fetch))
        .fallback(auth::not_found)
        .with_state(shared)
}
