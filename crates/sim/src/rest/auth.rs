//! Logging every REST request and checking its Basic auth, as one extractor.
//!
//! Twilio authenticates with `AccountSid:AuthToken` and answers anything else with
//! 401 and error 20003; a request for another account's resources is not found.

use std::sync::Arc;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::json::twilio_error;
use crate::config::SimConfig;
use crate::state::{RestRequest, Shared};

/// Biggest form body the API reads (TwiML in a Calls update is the largest).
const BODY_LIMIT: usize = 1 << 20;

/// An authenticated request's form fields (query parameters for GET).
pub(crate) struct Authed {
    pub form: Vec<(String, String)>,
}

impl Authed {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn basic_auth_ok(headers: &HeaderMap, cfg: &SimConfig) -> bool {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", cfg.account_sid, cfg.auth_token);
    decoded == expected.as_bytes()
}

fn parse_form(s: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s).into_owned().collect()
}

/// Logs the request; returns its fields and whether its credentials were right.
async fn log(req: Request, shared: &Shared) -> (Vec<(String, String)>, bool) {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut form = parse_form(req.uri().query().unwrap_or("").as_bytes());
    let ok = basic_auth_ok(req.headers(), &shared.cfg);
    if method != Method::GET {
        let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .unwrap_or_default();
        form.extend(parse_form(&body));
    }
    shared.log_rest(RestRequest {
        method: method.to_string(),
        path,
        form: form.clone(),
        basic_auth_ok: ok,
    });
    (form, ok)
}

pub(crate) fn unauthorized() -> Response {
    let mut resp = twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    resp.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    resp
}

impl FromRequest<Arc<Shared>> for Authed {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<Shared>) -> Result<Self, Self::Rejection> {
        let (form, ok) = log(req, state).await;
        if !ok {
            return Err(unauthorized());
        }
        Ok(Self { form })
    }
}

/// Any other path: logged, then 401 or Twilio's 20404.
pub(crate) async fn not_found(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    req: Request,
) -> Response {
    let path = req.uri().path().to_owned();
    let (_, ok) = log(req, &shared).await;
    if !ok {
        return unauthorized();
    }
    resource_not_found(&path)
}

pub(crate) fn resource_not_found(path: &str) -> Response {
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

/// Twilio's 404 when `account` is not the sim's account.
pub(crate) fn other_account(shared: &Shared, account: &str, path: &str) -> Option<Response> {
    (account != shared.cfg.account_sid).then(|| resource_not_found(path))
}

pub(crate) fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}
