//! The Realtime WebSocket handshake: `GET {url}?model={model}` upgraded to a WebSocket with
//! the key as `Authorization: Bearer`. The same handshake, closed at once, is the readiness
//! probe: a refused key shows in `/readyz` at start-up rather than as a failed call.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::RealtimeConfig;
use crate::provider::ProviderError;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The endpoint with the model in its query.
pub fn endpoint(cfg: &RealtimeConfig) -> Result<url::Url, ProviderError> {
    let mut url = url::Url::parse(&cfg.url)
        .map_err(|e| ProviderError::Unavailable(format!("OPENAI_REALTIME_URL: {e}")))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(ProviderError::Unavailable(
            "OPENAI_REALTIME_URL must be ws:// or wss://".into(),
        ));
    }
    url.query_pairs_mut().append_pair("model", &cfg.model);
    Ok(url)
}

/// Buffers sized for a phone call, not the library's 128 KiB defaults: hundreds of calls
/// are open at once, and the largest event (the model's audio, or the session echoed back
/// with its instructions) is far smaller than the limits.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(8 << 20))
        .max_frame_size(Some(8 << 20))
}

/// Opens the socket within the configured time.
pub async fn open(cfg: &RealtimeConfig) -> Result<Socket, ProviderError> {
    open_url(endpoint(cfg)?, &cfg.api_key, cfg.connect_timeout).await
}

/// Opens a Realtime socket at `url` with `api_key`, within `timeout`.
pub(crate) async fn open_url(
    url: url::Url,
    api_key: &str,
    timeout: std::time::Duration,
) -> Result<Socket, ProviderError> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ProviderError::Protocol(e.to_string()))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {api_key}"))
        .map_err(|_| ProviderError::Unavailable("OPENAI_API_KEY is not a valid header".into()))?;
    request.headers_mut().insert("Authorization", bearer);
    let opened = tokio::time::timeout(
        timeout,
        // No Nagle: the caller's 20 ms frames and small events must leave at once.
        tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), true),
    )
    .await
    .map_err(|_| ProviderError::Timeout)?;
    match opened {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(ProviderError::http(response.status().as_u16(), ""))
        }
        // The error's text never carries the request headers (the key).
        Err(e) => Err(ProviderError::Unavailable(e.to_string())),
    }
}

/// What the readiness probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeState {
    Ok,
    /// The service refused the key (401 or 403 at the handshake).
    Unauthorized,
    Error,
}

impl ProbeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeState::Ok => "ok",
            ProbeState::Unauthorized => "unauthorized",
            ProbeState::Error => "error",
        }
    }
}

/// Opens the socket and closes it at once.
pub async fn probe(cfg: &RealtimeConfig) -> ProbeState {
    match open(cfg).await {
        Ok(mut socket) => {
            let _ = socket.close(None).await;
            ProbeState::Ok
        }
        Err(ProviderError::Http {
            status: 401 | 403, ..
        }) => ProbeState::Unauthorized,
        Err(e) => {
            tracing::warn!(error = %e, "Realtime readiness probe failed");
            ProbeState::Error
        }
    }
}
