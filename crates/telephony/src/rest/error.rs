//! Failures of REST calls, shaped so callers can act on them.
//!
//! Twilio reports errors as `{"code","message","more_info","status"}`; the code
//! is what matters (20404: no such call, 21220: call not in progress), so it is
//! kept as data rather than flattened into text. No variant ever carries the
//! auth token: requests authenticate with a header, never in the URL.

use serde::Deserialize;

/// Why a REST call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with a non-success status.
    #[error("Twilio API error {status} (code {code:?}): {message}")]
    Api {
        status: u16,
        /// Twilio's error code, absent when the body was not Twilio's JSON.
        code: Option<u32>,
        message: String,
        more_info: Option<String>,
    },
    /// No response within the configured timeout.
    #[error("request to Twilio timed out: {0}")]
    Timeout(String),
    /// Could not connect, or the connection broke.
    #[error("could not reach Twilio: {0}")]
    Transport(String),
    /// A success status with a body we could not read.
    #[error("unexpected response from Twilio: {0}")]
    Decode(String),
    /// A URL outside the configured API origin; never fetched (SSRF guard).
    #[error("refusing to fetch {0}: not on the Twilio API origin")]
    ForeignUrl(String),
    /// A SID or URL argument that cannot be part of a request.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A download exceeded the size limit.
    #[error("response larger than {0} bytes")]
    TooLarge(usize),
}

impl TwilioError {
    /// Twilio's error code, if this is an API error carrying one.
    pub fn code(&self) -> Option<u32> {
        match self {
            Self::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// Worth retrying an idempotent request: network trouble, 429 or a 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Transport(_) => true,
            Self::Api { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// Classifies a reqwest failure; `context` names the request (no secrets).
    pub(crate) fn from_reqwest(e: reqwest::Error, context: &str) -> Self {
        let (timeout, decode) = (e.is_timeout(), e.is_decode());
        let text = format!("{context}: {}", error_chain(&e.without_url()));
        if timeout {
            Self::Timeout(text)
        } else if decode {
            Self::Decode(text)
        } else {
            Self::Transport(text)
        }
    }

    /// Builds an `Api` error from a failed response's status and body.
    pub(crate) fn from_response(status: u16, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Body {
            code: Option<u32>,
            message: Option<String>,
            more_info: Option<String>,
        }
        match serde_json::from_slice::<Body>(body) {
            Ok(b) => Self::Api {
                status,
                code: b.code,
                message: b.message.unwrap_or_default(),
                more_info: b.more_info,
            },
            Err(_) => Self::Api {
                status,
                code: None,
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                more_info: None,
            },
        }
    }
}

/// An error and its causes, joined: reqwest's top-level text is often vague.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
