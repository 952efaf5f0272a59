//! Inbound media, fetched lazily with the provider's own auth (never stored up front).
//!
//! A message keeps its media as references (Twilio and bridge URLs, Meta media ids). The
//! web app asks for them through `GET /api/whatsapp/messages/{id}/media/{n}`, which
//! fetches with the right credentials: Twilio's Basic auth through `TwilioClient` (whose
//! guard only fetches from the configured API origin), Meta's bearer token through the
//! Graph API, the bridge's shared secret for URLs on the bridge.

use bytes::{Bytes, BytesMut};

use crate::store::whatsapp::Message;
use crate::whatsapp::inbound::MediaRef;
use crate::whatsapp::state::WaState;

/// Largest attachment served (WhatsApp documents go up to 100 MB).
pub const MAX_MEDIA_BYTES: usize = 100 << 20;

/// Why media could not be served.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("no such media")]
    NotFound,
    #[error("{0}")]
    Fetch(String),
}

/// The message's media references.
pub fn refs(msg: &Message) -> Vec<MediaRef> {
    msg.media
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default()
}

/// An attachment as fetched: what the sender declared, and the bytes.
#[derive(Debug)]
pub struct Fetched {
    /// The declared content type (the sender's word, not checked).
    pub content_type: String,
    /// The sender's filename, if any (hostile: see [`crate::whatsapp::attachment`]).
    pub filename: Option<String>,
    pub bytes: Bytes,
}

/// Fetches attachment `n` of `msg`.
pub async fn fetch(state: &WaState, msg: &Message, n: usize) -> Result<Fetched, MediaError> {
    let item = refs(msg).into_iter().nth(n).ok_or(MediaError::NotFound)?;
    let (fetched_type, bytes) = match (msg.provider.as_str(), &item.url, &item.id) {
        ("twilio", Some(url), _) => {
            let client = state
                .twilio
                .as_ref()
                .ok_or_else(|| MediaError::Fetch("Twilio is not configured".into()))?;
            let bytes = client
                .download_recording(url)
                .await
                .map_err(|e| MediaError::Fetch(format!("Twilio media download failed: {e}")))?;
            (None, bytes)
        }
        ("meta", _, Some(id)) => crate::whatsapp::meta::fetch_media(state, id)
            .await
            .map_err(MediaError::Fetch)?,
        ("baileys", Some(url), _) => crate::whatsapp::baileys::fetch_media(state, url)
            .await
            .map_err(MediaError::Fetch)?,
        _ => return Err(MediaError::NotFound),
    };
    let content_type = item
        .content_type
        .or(fetched_type)
        .filter(|t| t.len() < 200 && !t.contains(['\r', '\n']))
        .unwrap_or_else(|| "application/octet-stream".into());
    Ok(Fetched {
        content_type,
        filename: item.filename,
        bytes,
    })
}

/// Reads a response body up to [`MAX_MEDIA_BYTES`].
pub async fn read_limited(mut response: reqwest::Response) -> Result<Bytes, String> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("download broke off: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_MEDIA_BYTES {
            return Err("media too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
