//! `GET`/`HEAD /static/tts/{name}`: prompt audio as Twilio's `<Play>` fetches it, with an
//! ETag and caching headers (V2).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::calls::state::CallsState;
use crate::prompts::Source;

/// Which voice made the audio: `provider`, `espeak` or `bundled` (for operators and tests).
const SOURCE: HeaderName = HeaderName::from_static("x-prompt-source");

pub fn router() -> Router<CallsState> {
    Router::new().route("/static/tts/{name}", get(serve))
}

async fn serve(
    State(state): State<CallsState>,
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
        // The configured voice's audio never changes under its name: cache it for good.
        Some(audio) if audio.source == Source::Provider => (
            [
                (header::CONTENT_TYPE, "audio/wav".to_string()),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=86400, immutable".to_string(),
                ),
                (header::ETAG, etag),
                (SOURCE, audio.source.as_str().to_string()),
            ],
            audio.bytes,
        )
            .into_response(),
        // A stand-in voice: playable now, but asked for again so the real one replaces it.
        Some(audio) => (
            [
                (header::CONTENT_TYPE, "audio/wav".to_string()),
                (header::CACHE_CONTROL, "no-cache".to_string()),
                (
                    header::ETAG,
                    format!(
                        "W/\"{}-{}\"",
                        name.trim_end_matches(".wav"),
                        audio.source.as_str()
                    ),
                ),
                (SOURCE, audio.source.as_str().to_string()),
            ],
            audio.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such prompt").into_response(),
    }
}
