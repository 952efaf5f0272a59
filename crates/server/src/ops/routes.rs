//! `/health`, `/healthz`, `/readyz`, `/version`, `/metrics` and `/`.
//!
//! Liveness never touches the database: a slow database must not get the process killed.
//! Readiness pings it with a short timeout on every call, so it turns 503 while the database
//! is down and recovers by itself when it returns.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/health", get(health))
        .route("/healthz", get(health))
        .route("/readyz", get(readyz))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "ok": true }))
}

fn ok_or_disabled(on: bool) -> &'static str {
    if on { "ok" } else { "disabled" }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await,
        Ok(Ok(()))
    );
    let p = &state.providers;
    let tts_engine = p.tts_engine(state.voice.tts.name());
    let body = json!({
        "status": if db_ok { "ready" } else { "not_ready" },
        "db": if db_ok { "ok" } else { "error" },
        "db_backend": state.db.backend.name(),
        "openai": ok_or_disabled(p.openai),
        "google": ok_or_disabled(p.google),
        "tts": ok_or_disabled(tts_engine != "none"),
        "tts_engine": tts_engine,
        "stt": ok_or_disabled(p.openai_stt || p.google),
        "stt_engine": p.stt_engine(),
        "twilio": ok_or_disabled(p.twilio_rest),
        "whatsapp": p.whatsapp.unwrap_or("disabled"),
    });
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

async fn version() -> Json<serde_json::Value> {
    Json(json!({
        "name": "mokdan",
        "version": env!("CARGO_PKG_VERSION"),
        "git_commit": env!("MOKDAN_GIT_COMMIT"),
        "build_time": env!("MOKDAN_BUILD_TIME"),
    }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn landing() -> Html<&'static str> {
    Html(include_str!("landing.html"))
}
