//! Signed Twilio webhook requests, made as Twilio makes them.

use super::TestApp;

pub const AUTH_TOKEN: &str = "test-auth-token-0123456789";
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";

pub fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Twilio's fields for a call ringing `to` from `from`.
pub fn call_params(call_sid: &str, from: &str, to: &str) -> Vec<(String, String)> {
    params(&[
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", "ringing"),
        ("Called", to),
        ("Caller", from),
        ("Direction", "inbound"),
        ("From", from),
        ("To", to),
        ("FromCountry", "IL"),
        ("ToCountry", "IL"),
    ])
}

pub fn new_call_sid() -> String {
    format!("CA{}", uuid::Uuid::new_v4().simple())
}

impl TestApp {
    /// POSTs a form signed for `signed_url` (normally the URL itself).
    pub async fn post_signed_as(
        &self,
        path: &str,
        signed_url: &str,
        form: &[(String, String)],
    ) -> reqwest::Response {
        let sig = telephony::signature::compute(AUTH_TOKEN, signed_url, form);
        self.http
            .post(self.url(path))
            .header("X-Twilio-Signature", sig)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_signed(&self, path: &str, form: &[(String, String)]) -> reqwest::Response {
        let url = self.url(path);
        self.post_signed_as(path, &url, form).await
    }

    /// POSTs a signed webhook and parses the TwiML it answers.
    pub async fn twiml(&self, path: &str, form: &[(String, String)]) -> telephony::twiml::Response {
        let r = self.post_signed(path, form).await;
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/xml"), "{ct}");
        let body = r.text().await.unwrap();
        telephony::twiml::parse(&body).unwrap_or_else(|e| panic!("bad TwiML {e:?}: {body}"))
    }
}
