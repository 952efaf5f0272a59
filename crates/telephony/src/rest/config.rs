//! Connection settings for the REST client, with the auth token kept out of logs.
//!
//! `RestConfig` is logged at startup and may end up in panic messages, so its
//! `Debug` never prints the token.

use std::time::Duration;

/// Where and as whom to call Twilio's REST API.
#[derive(Clone, PartialEq, Eq)]
pub struct RestConfig {
    /// Scheme, host and optional port, e.g. `https://api.twilio.com`.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// Limit on each attempt of each request, body included.
    pub timeout: Duration,
}

impl RestConfig {
    pub const DEFAULT_BASE_URL: &'static str = "https://api.twilio.com";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

    /// Production settings for an account.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            ..Self::default()
        }
    }
}

impl Default for RestConfig {
    fn default() -> Self {
        Self {
            base_url: Self::DEFAULT_BASE_URL.into(),
            account_sid: String::new(),
            auth_token: String::new(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_token() {
        let config = RestConfig::new("AC123", "s3cr3t-token");
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(shown.contains("AC123") && shown.contains("<redacted>"));
        assert_eq!(config.base_url, "https://api.twilio.com");
    }
}
