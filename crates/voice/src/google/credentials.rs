//! A Google service account's credentials (the JSON key file), read from
//! `GCP_CREDENTIALS_JSON` or the file named by `GOOGLE_APPLICATION_CREDENTIALS`. The
//! private key is parsed here, so a malformed file fails loudly at start-up.

use std::fmt;
use std::path::Path;

use jsonwebtoken::EncodingKey;
use serde::Deserialize;

/// Google's OAuth token endpoint, used when the key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Why credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Google credentials are not valid JSON: {0}")]
    Json(String),
    #[error("Google credentials are of type {0:?}, expected \"service_account\"")]
    WrongType(String),
    #[error("Google credentials lack \"{0}\"")]
    Missing(&'static str),
    #[error("Google credentials' private_key is not a valid RSA PEM key: {0}")]
    BadKey(String),
    #[error("cannot read Google credentials file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    project_id: Option<String>,
}

/// A parsed service account.
#[derive(Clone)]
pub struct GoogleCredentials {
    pub client_email: String,
    pub token_uri: String,
    pub project_id: Option<String>,
    pub(crate) private_key_id: Option<String>,
    pub(crate) key: EncodingKey,
}

impl GoogleCredentials {
    /// Parses a service-account key file's JSON.
    pub fn from_json(json: &str) -> Result<Self, CredentialsError> {
        let f: KeyFile =
            serde_json::from_str(json).map_err(|e| CredentialsError::Json(e.to_string()))?;
        if let Some(kind) = f.kind.as_deref()
            && kind != "service_account"
        {
            return Err(CredentialsError::WrongType(kind.to_string()));
        }
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let client_email =
            nonempty(f.client_email).ok_or(CredentialsError::Missing("client_email"))?;
        let pem = nonempty(f.private_key).ok_or(CredentialsError::Missing("private_key"))?;
        let key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| CredentialsError::BadKey(e.to_string()))?;
        // Parsing accepts keys that cannot sign (e.g. under 2048 bits): try one now.
        let probe = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&probe, &serde_json::json!({"probe": true}), &key)
            .map_err(|e| CredentialsError::BadKey(e.to_string()))?;
        Ok(Self {
            client_email,
            token_uri: nonempty(f.token_uri).unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string()),
            project_id: f.project_id,
            private_key_id: nonempty(f.private_key_id),
            key,
        })
    }

    /// Reads and parses a key file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, CredentialsError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| CredentialsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json)
    }

    /// `GCP_CREDENTIALS_JSON` (inline JSON) or else `GOOGLE_APPLICATION_CREDENTIALS` (a
    /// path); `Ok(None)` when neither is set.
    pub fn from_env() -> Result<Option<Self>, CredentialsError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        if let Some(json) = var("GCP_CREDENTIALS_JSON") {
            return Self::from_json(&json).map(Some);
        }
        if let Some(path) = var("GOOGLE_APPLICATION_CREDENTIALS") {
            return Self::from_file(path).map(Some);
        }
        Ok(None)
    }

    /// The same account with another token endpoint (tests, private endpoints).
    pub fn with_token_uri(mut self, uri: impl Into<String>) -> Self {
        self.token_uri = uri.into();
        self
    }
}

impl fmt::Debug for GoogleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleCredentials")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparseable_json_is_a_clear_error() {
        let e = GoogleCredentials::from_json("{not json").unwrap_err();
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }

    #[test]
    fn a_bad_pem_is_a_clear_error() {
        let json = serde_json::json!({
            "type": "service_account",
            "client_email": "bot@p.iam.gserviceaccount.com",
            "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        });
        let e = GoogleCredentials::from_json(&json.to_string()).unwrap_err();
        assert!(matches!(e, CredentialsError::BadKey(_)), "{e}");
        assert!(e.to_string().contains("private_key"));
    }

    #[test]
    fn missing_fields_and_wrong_type_are_named() {
        let e = GoogleCredentials::from_json(r#"{"type":"service_account"}"#).unwrap_err();
        assert!(e.to_string().contains("client_email"), "{e}");
        let e = GoogleCredentials::from_json(r#"{"type":"authorized_user"}"#).unwrap_err();
        assert!(matches!(e, CredentialsError::WrongType(_)));
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let e = GoogleCredentials::from_file("/nonexistent/sa.json").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/sa.json"));
    }
}
