//! The CRM API (C2, C4): businesses, users, customers and leads, calls, the audit log and
//! the OpenAPI document, all under `/api`, all behind [`crate::auth`].
//!
//! One submodule per resource, each with its `router()`. Handlers resolve the caller's
//! business through [`crate::auth::Tenant`] and pass it first to every store function, so
//! another tenant's id finds nothing and answers 404. The list of operations lives in one
//! place, [`openapi::OPERATIONS`], which the served document and the tests both read.

pub mod audit;
pub mod businesses;
pub mod call_review;
pub mod calls;
pub mod counts;
pub mod csv;
pub mod customers;
pub mod import;
pub mod import_plan;
pub mod import_preview;
pub mod lead_care;
pub mod openapi;
pub mod openapi_leads;
pub mod page;
pub mod patch;
pub mod state;
pub mod team;
pub mod team_api;
pub mod team_mail;
pub mod timeline;
pub mod users;

use axum::Router;
use axum::routing::any;

use crate::crm::state::CrmState;
use crate::error::AppError;

pub fn router() -> Router<CrmState> {
    Router::new()
        .merge(crate::auth::routes::router())
        .merge(crate::auth::tokens::router())
        .merge(businesses::router())
        .merge(users::router())
        .merge(team_api::router())
        .merge(customers::router())
        .merge(lead_care::router())
        .merge(calls::router())
        .merge(audit::router())
        .merge(openapi::router())
        .merge(crate::appointments::router())
        .route("/api", any(unknown))
        .route("/api/{*rest}", any(unknown))
}

/// Unknown API paths answer the API's error shape, not an empty 404.
async fn unknown() -> AppError {
    AppError::NotFound
}

/// The audit actor of a caller (API tokens act as the user who made them).
pub fn actor(caller: &crate::auth::Caller) -> Option<i64> {
    Some(caller.user_id).filter(|id| *id > 0)
}

/// The API token behind a caller's change, if any (audited alongside the user).
pub fn actor_token(caller: &crate::auth::Caller) -> Option<i64> {
    caller.token_id
}
