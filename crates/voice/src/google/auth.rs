//! OAuth access tokens for a service account (RFC 7523 JWT bearer grant): an RS256-signed
//! assertion goes to the token endpoint, and the access token is cached until shortly
//! before it expires, so a live call does not pay for a token round trip per request.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::GoogleCredentials;
use crate::http::ensure_success;
use crate::provider::ProviderError;

/// The scope that covers Text-to-Speech and Speech-to-Text.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const ASSERTION_LIFETIME: u64 = 3600;
/// A token is renewed this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Debug)]
struct Inner {
    creds: GoogleCredentials,
    client: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

/// A cached token source for one service account; cheap to clone and share.
#[derive(Debug, Clone)]
pub struct GoogleAuth {
    inner: Arc<Inner>,
}

impl GoogleAuth {
    pub fn new(creds: GoogleCredentials) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                creds,
                client,
                cached: Mutex::new(None),
            }),
        }
    }

    pub fn credentials(&self) -> &GoogleCredentials {
        &self.inner.creds
    }

    /// The signed JWT assertion for a token request at `now` (seconds since the epoch).
    pub fn assertion(&self, now: u64) -> Result<String, ProviderError> {
        let c = &self.inner.creds;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = c.private_key_id.clone();
        let claims = Claims {
            iss: &c.client_email,
            scope: SCOPE,
            aud: &c.token_uri,
            iat: now,
            exp: now + ASSERTION_LIFETIME,
        };
        jsonwebtoken::encode(&header, &claims, &c.key)
            .map_err(|e| ProviderError::Unavailable(format!("cannot sign Google JWT: {e}")))
    }

    /// A valid access token, from the cache or freshly minted.
    pub async fn token(&self) -> Result<String, ProviderError> {
        let mut cached = self.inner.cached.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() + REFRESH_MARGIN < *expires
        {
            return Ok(token.clone());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let assertion = self.assertion(now)?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT_TYPE)
            .append_pair("assertion", &assertion)
            .finish();
        let resp = self
            .inner
            .client
            .post(&self.inner.creds.token_uri)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .send()
            .await?;
        let body: TokenResponse = ensure_success(resp)
            .await?
            .json()
            .await
            .map_err(|e| ProviderError::Protocol(format!("Google token response: {e}")))?;
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(ASSERTION_LIFETIME));
        *cached = Some((body.access_token.clone(), Instant::now() + lifetime));
        Ok(body.access_token)
    }
}
