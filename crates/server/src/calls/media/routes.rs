//! The upgrade: subprotocol echo, optional handshake signature, and size limits.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::calls::state::CallsState;
use crate::http::twilio::{public_base, websocket_base};

/// Twilio's media messages are under 1 KB; anything far larger is not Twilio.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// The socket's read buffer. tungstenite zero-fills the buffer's free capacity before
/// every read, so its 128 KiB default cost a 128 KiB memset per 20 ms frame per call (and
/// kept 128 KiB resident per call); a few KiB hold several frames. Larger messages (up to
/// [`MAX_MESSAGE`]) still get the room they need.
pub const READ_BUFFER: usize = 4 * 1024;

pub fn router() -> Router<CallsState> {
    Router::new()
        .route("/ws/twilio-media", get(upgrade))
        .route("/ws/twilio-media/", get(upgrade))
}

async fn upgrade(
    State(state): State<CallsState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> Response {
    // Twilio may sign the handshake; when it does, the signature must hold (S3).
    if let (Some(token), Some(signature)) = (
        &state.settings.twilio_auth_token,
        headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok()),
    ) {
        let base = public_base(&state.settings, &headers);
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let candidates = [
            format!("{}{path}", websocket_base(&base)),
            format!("{base}{path}"),
        ];
        if !candidates
            .iter()
            .any(|url| telephony::signature::validate(token.expose(), url, &[], signature))
        {
            tracing::warn!(%remote, "WS_HANDLER_ERROR handshake signature invalid: refused");
            crate::telemetry::count_error("ws_rejected");
            return (StatusCode::FORBIDDEN, "invalid Twilio signature").into_response();
        }
    }
    ws.protocols(["audio.twilio.com"])
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| super::socket::run(socket, state, remote))
}
