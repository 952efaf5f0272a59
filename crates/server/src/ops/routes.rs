//! `/health`, `/healthz`, `/readyz`, `/version`, `/metrics` and `/`.
//!
//! Liveness never touches the database: a slow database must not get the process killed.
//! Readiness pings it with a short timeout on every call, so it turns 503 while the database
//! is down and recovers by itself when it returns. It also says whether OpenAI answers
//! (`ops::probe`), which does not make the service unready: calls still get an answer.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::ops::state::OpsState;

pub fn router() -> Router<OpsState> {
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

async fn readyz(State(state): State<OpsState>) -> impl IntoResponse {
    let db_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await,
        Ok(Ok(()))
    );
    let (disk, openai, realtime) = tokio::join!(
        disk_state(state.settings.data_dir.clone()),
        state.providers.openai_probe.state(),
        state.providers.realtime_probe.state()
    );
    let ready = db_ok && disk == "ok";
    let p = &state.providers;
    let tts_engine = p.tts_engine(state.voice.tts.name());
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "db": if db_ok { "ok" } else { "error" },
        "disk": disk,
        "db_backend": state.db.backend.name(),
        // Asked, not assumed: `ok` only when the server answered (cached 30 s).
        "openai": openai,
        "google": ok_or_disabled(p.google),
        "tts": ok_or_disabled(tts_engine != "none"),
        "tts_engine": tts_engine,
        "stt": ok_or_disabled(p.openai_stt || p.google),
        "stt_engine": p.stt_engine(),
        // `realtime`: the cascade hears the caller while they speak (a Realtime
        // transcription session per call); `off`: each answer is uploaded whole.
        "stt_streaming": if state.voice.stt.as_ref().and_then(|s| s.streaming()).is_some() {
            "realtime"
        } else {
            "off"
        },
        // Who answers: `scripted`, or the LLM's model.
        "agent": state.voice.agent.model().unwrap_or(state.voice.agent.name()),
        "agent_engine": state.voice.agent.name(),
        // Which engine holds live calls: `realtime` (speech-to-speech) or `cascade`.
        "engine": if state.settings.realtime().is_some() { "realtime" } else { "cascade" },
        "realtime_model": state.settings.openai_realtime_model.as_deref().unwrap_or("none"),
        // Asked, not assumed: the handshake with the key (`unauthorized`: the key was refused).
        "realtime": realtime,
        "twilio": ok_or_disabled(p.twilio_rest),
        "whatsapp": p.whatsapp.unwrap_or("disabled"),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Whether the data dir takes a small synced write: recordings, generated prompts and the
/// outbox live there (and the database, on SQLite). `full` when the disk is out of space.
async fn disk_state(dir: std::path::PathBuf) -> &'static str {
    let probe = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let path = dir.join(".readyz-probe");
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::File::create(&path))
            .and_then(|mut f| f.write_all(&[0u8; 4096]).and_then(|()| f.sync_data()));
        let _ = std::fs::remove_file(&path);
        written.map_err(|e| (e, dir))
    });
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(Ok(()))) => "ok",
        Ok(Ok(Err((e, dir)))) => {
            let full = e.kind() == std::io::ErrorKind::StorageFull;
            crate::telemetry::count_error("disk");
            tracing::error!(dir = %dir.display(), error = %e, full, "DISK_ERROR: the data dir takes no writes");
            if full { "full" } else { "error" }
        }
        _ => "error",
    }
}

async fn version() -> Json<serde_json::Value> {
    Json(json!({
        "name": "mokdan",
        "version": env!("CARGO_PKG_VERSION"),
        "git_commit": env!("MOKDAN_GIT_COMMIT"),
        "build_time": env!("MOKDAN_BUILD_TIME"),
    }))
}

/// Prometheus text, for whoever holds `MOKDAN_METRICS_TOKEN` (as a bearer token). Without
/// a token configured, development serves everyone and production no one: route names,
/// error counts and traffic shape are not for the public (#16.9).
async fn metrics(State(state): State<OpsState>, headers: HeaderMap) -> Response {
    use subtle::ConstantTimeEq;
    match &state.settings.metrics_token {
        Some(token) => {
            let sent = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if !bool::from(sent.trim().as_bytes().ct_eq(token.expose().as_bytes())) {
                let mut r = crate::auth::reject(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "metrics need the bearer token MOKDAN_METRICS_TOKEN",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return r;
            }
        }
        None if state.settings.is_production() => {
            return crate::auth::reject(
                StatusCode::FORBIDDEN,
                "forbidden",
                "metrics are closed in production until MOKDAN_METRICS_TOKEN is set",
            );
        }
        None => {}
    }
    state.metrics.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn landing() -> Html<&'static str> {
    Html(include_str!("landing.html"))
}
