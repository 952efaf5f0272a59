//! mokdan: a Hebrew AI phone receptionist for small businesses, as one service.
//!
//! The binary is thin; everything lives here so tests can start the real application on
//! port 0 through [`app::run`] and drive it over HTTP and WebSocket.
#![forbid(unsafe_code)]
// The OpenAPI document is one `json!` literal per group of schemas; the largest outgrew
// the macro's default depth of 128.
#![recursion_limit = "256"]

pub mod app;
pub mod appointments;
pub mod auth;
pub mod calls;
pub mod cli;
pub mod config;
pub mod crm;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod error;
pub mod hooks;
pub mod http;
pub mod jobs;
pub mod notify;
pub mod ops;
pub mod outbox;
pub mod prompts;
pub mod providers;
pub mod routes;
pub mod store;
pub mod telemetry;
pub mod ui;
pub mod whatsapp;

pub use app::{App, AppState, run};
pub use config::Settings;
