//! `GET`/`HEAD /static/tts/{name}`: prompt audio as Twilio's `<Play>` fetches it.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/static/tts/{name}", get(serve))
}

async fn serve(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let etag = format!("\"{}\"", name.trim_end_matches(".wav"));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    match state.prompts.audio(&name).await {
        Some(bytes) => (
            [
                (header::CONTENT_TYPE, "audio/wav".to_string()),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=86400, immutable".to_string(),
                ),
                (header::ETAG, etag),
            ],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such prompt").into_response(),
    }
}
