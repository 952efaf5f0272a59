//! Google Cloud as the call's ears and voice: Text-to-Speech with he-IL voices rendered
//! as 8 kHz LINEAR16, and Speech-to-Text `speech:recognize`, both authorised with an OAuth
//! token minted from a service account (RS256-signed JWT assertion). Credentials are
//! parsed and the key checked when the provider is built, so bad credentials are a
//! start-up error rather than a silent call.

mod auth;
mod credentials;
mod stt;
mod tts;

pub use auth::{GoogleAuth, SCOPE};
pub use credentials::{CredentialsError, GoogleCredentials};
pub use stt::{DEFAULT_STT_BASE_URL, GoogleStt};
pub use tts::{DEFAULT_TTS_BASE_URL, DEFAULT_VOICE, GoogleTts};

/// `he` → `he-IL`; full tags pass through.
pub(crate) fn language_code(language: &str) -> String {
    match language {
        "he" | "iw" | "" => "he-IL".to_string(),
        "en" => "en-US".to_string(),
        other => other.to_string(),
    }
}
