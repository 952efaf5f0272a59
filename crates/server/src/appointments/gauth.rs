//! The calendar's OAuth access token for the service account (RFC 7523 JWT bearer grant,
//! as Google documents for service accounts): an RS256-signed assertion with the calendar
//! scope goes to the key file's `token_uri`, and the token is cached until a minute before
//! it expires. The speech providers have their own token source for their scope (in the
//! voice crate); this one reads the same key file.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const ASSERTION_LIFETIME: u64 = 3600;
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

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
    expires_in: Option<u64>,
}

struct Inner {
    client_email: String,
    key_id: Option<String>,
    key: EncodingKey,
    token_uri: String,
    scope: &'static str,
    client: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

/// A cached token source; cheap to clone.
#[derive(Clone)]
pub struct TokenSource(Arc<Inner>);

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_email", &self.0.client_email)
            .field("token_uri", &self.0.token_uri)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// From a service-account key file's JSON.
    pub fn from_json(json: &str, scope: &'static str) -> anyhow::Result<Self> {
        let f: KeyFile =
            serde_json::from_str(json).map_err(|e| anyhow::anyhow!("Google credentials: {e}"))?;
        let key = EncodingKey::from_rsa_pem(f.private_key.as_bytes())
            .map_err(|e| anyhow::anyhow!("Google credentials' private_key: {e}"))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(TokenSource(Arc::new(Inner {
            client_email: f.client_email,
            key_id: f.private_key_id.filter(|k| !k.is_empty()),
            key,
            token_uri: f
                .token_uri
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DEFAULT_TOKEN_URI.into()),
            scope,
            client,
            cached: Mutex::new(None),
        })))
    }

    fn assertion(&self, now: u64) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.0.key_id.clone();
        let claims = Claims {
            iss: &self.0.client_email,
            scope: self.0.scope,
            aud: &self.0.token_uri,
            iat: now,
            exp: now + ASSERTION_LIFETIME,
        };
        jsonwebtoken::encode(&header, &claims, &self.0.key)
            .map_err(|e| format!("cannot sign the Google assertion: {e}"))
    }

    /// A valid access token, cached or freshly exchanged.
    pub async fn token(&self) -> Result<String, String> {
        let mut cached = self.0.cached.lock().await;
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
        let resp = self
            .0
            .client
            .post(&self.0.token_uri)
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("Google token endpoint: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("Google token endpoint answered {}", resp.status()));
        }
        let body: TokenResponse = resp
            .json()
            .await
            .map_err(|e| format!("Google token answer: {e}"))?;
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(ASSERTION_LIFETIME));
        *cached = Some((body.access_token.clone(), Instant::now() + lifetime));
        Ok(body.access_token)
    }
}
