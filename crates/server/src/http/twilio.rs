//! The Twilio webhook extractor: body limit, lenient form parsing, and X-Twilio-Signature.
//!
//! Twilio signs the exact public URL it called plus the POST parameters (S1). Behind a TLS
//! proxy the server sees neither the scheme nor the host Twilio used, so the URL is rebuilt
//! from `PUBLIC_BASE_URL`, or else from `X-Forwarded-Proto`/`X-Forwarded-Host`/`Host`. The
//! same base makes every URL we put in TwiML absolute (error 11100 came from relative ones).
//! Forms are parsed leniently: Twilio adds fields without notice and a malformed body must
//! never become a 500 (V12).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::Settings;

/// Largest webhook body accepted; Twilio's are a few kilobytes.
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;

/// A verified Twilio webhook: its parameters and the public URL it was sent to.
#[derive(Debug, Clone)]
pub struct TwilioRequest {
    /// Query and form parameters, in order.
    pub params: Vec<(String, String)>,
    /// The public base (`https://host`), without a trailing slash.
    pub base: String,
    /// The public URL Twilio called, which its signature covers.
    pub url: String,
}

impl TwilioRequest {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// An absolute URL on this service, from a path starting with `/`.
    pub fn abs(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

/// The public base URL for a request (no trailing slash).
pub fn public_base(settings: &Settings, headers: &HeaderMap) -> String {
    if let Some(base) = &settings.public_base_url {
        return base.clone();
    }
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let scheme = first("x-forwarded-proto")
        .filter(|s| s == "https" || s == "http")
        .unwrap_or_else(|| "http".to_string());
    let host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or_else(|| "localhost".to_string());
    format!("{scheme}://{host}")
}

/// `https://…` → `wss://…`, `http://…` → `ws://…`.
pub fn websocket_base(base: &str) -> String {
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_string()
    }
}

fn parse_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn reject(status: StatusCode, message: &'static str) -> Response {
    crate::telemetry::count_error("webhook_rejected");
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

impl<S> FromRequest<S> for TwilioRequest
where
    S: Send + Sync,
    Arc<Settings>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let settings = Arc::<Settings>::from_ref(state);
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_WEBHOOK_BODY).await.map_err(|_| {
            tracing::warn!(path = %parts.uri.path(), "WEBHOOK_REJECTED body too large or unreadable");
            reject(StatusCode::PAYLOAD_TOO_LARGE, "webhook body too large")
        })?;
        let base = public_base(&settings, &parts.headers);
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let url = format!("{base}{path_and_query}");
        let is_json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body_params = if parts.method == Method::POST && !is_json {
            parse_pairs(&bytes)
        } else {
            Vec::new()
        };

        if let Some(token) = &settings.twilio_auth_token {
            let signature = parts
                .headers
                .get("x-twilio-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let valid = !signature.is_empty()
                && if is_json {
                    telephony::signature::validate_json(token.expose(), &url, &bytes, signature)
                } else {
                    telephony::signature::validate(token.expose(), &url, &body_params, signature)
                };
            if !valid {
                tracing::warn!(
                    path = %parts.uri.path(),
                    signed = !signature.is_empty(),
                    "WEBHOOK_SIGNATURE_INVALID: refused with 403 (is PUBLIC_BASE_URL exactly the URL Twilio calls?)"
                );
                return Err(reject(StatusCode::FORBIDDEN, "invalid Twilio signature"));
            }
        }

        let mut params = parts
            .uri
            .query()
            .map(|q| parse_pairs(q.as_bytes()))
            .unwrap_or_default();
        params.extend(body_params);
        Ok(TwilioRequest { params, base, url })
    }
}

/// A TwiML answer, logged in full (`TWIML_FULL`) so a stuck call can be read from the logs,
/// all but the media stream's per-call token, which is a credential (S2, S3).
pub struct Twiml(pub String);

impl Twiml {
    pub fn new(
        route: &'static str,
        call_sid: Option<&str>,
        response: &telephony::twiml::Response,
    ) -> Self {
        let xml = response.to_xml();
        let logged = without_stream_token(&xml);
        tracing::info!(route, call_sid = call_sid.unwrap_or("-"), twiml = %logged, "TWIML_FULL");
        Twiml(xml)
    }
}

/// `xml` with the value of every `<Parameter name="token">` replaced by `***`.
pub fn without_stream_token(xml: &str) -> std::borrow::Cow<'_, str> {
    const TOKEN: &str = r#"<Parameter name="token" value=""#;
    if !xml.contains(TOKEN) {
        return std::borrow::Cow::Borrowed(xml);
    }
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(at) = rest.find(TOKEN) {
        let value = at + TOKEN.len();
        out.push_str(&rest[..value]);
        out.push_str("***");
        rest = &rest[value..];
        rest = &rest[rest.find('"').unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

impl IntoResponse for Twiml {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            self.0,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stream_tokens_are_left_out_of_the_log() {
        let xml = r#"<Response><Connect><Stream url="wss://h/ws"><Parameter name="call_id" value="CA1"/><Parameter name="token" value="s3cr3t-_x"/></Stream></Connect></Response>"#;
        let logged = super::without_stream_token(xml);
        assert!(!logged.contains("s3cr3t"), "{logged}");
        assert!(logged.contains(r#"<Parameter name="call_id" value="CA1"/>"#));
        assert!(logged.contains(r#"<Parameter name="token" value="***"/>"#));
        assert_eq!(super::without_stream_token("<Response/>"), "<Response/>");
    }
}
