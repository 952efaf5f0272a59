//! Twilio pieces shared by the WhatsApp-over-Twilio tests: the inbound form Twilio posts,
//! a status callback as Twilio signs it, an app configured for Twilio, and a local stand-in
//! of `Messages.json` for the tests that must control Twilio's answers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use super::{BUSINESS_NUMBER, Log, recording, serve};
use crate::common::twilio::{ACCOUNT_SID, AUTH_TOKEN, params};
use crate::common::{Backend, TestApp};
use serde_json::json;

/// The form Twilio posts to the inbound webhook for a text from `from` to the business.
pub fn inbound_form(sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
    let wa_id = from.trim_start_matches('+');
    params(&[
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("ProfileName", "דנה כהן"),
        ("MessageType", "text"),
        ("SmsSid", sid),
        ("WaId", wa_id),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", &format!("whatsapp:{BUSINESS_NUMBER}")),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", &format!("whatsapp:{from}")),
        ("ApiVersion", "2010-04-01"),
    ])
}

/// A fresh message SID in Twilio's shape.
pub fn new_sid() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}

/// An app with Twilio's credentials, WhatsApp through Twilio, and `extra` settings (which
/// override these).
pub async fn app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("WHATSAPP_PROVIDER", "twilio"),
    ];
    vars.extend_from_slice(extra);
    TestApp::spawn_with(backend, &vars).await
}

/// A stand-in of Twilio's `Messages.json` whose answers the test controls.
#[derive(Clone)]
pub struct FakeTwilio {
    pub log: Log,
    /// HTTP statuses to answer, in order; then 201.
    pub script: Arc<Mutex<Vec<u16>>>,
    /// Post this status to the StatusCallback before answering (Twilio's race).
    pub early_status: Option<&'static str>,
    pub counter: Arc<AtomicUsize>,
}

async fn fake_create(
    State(f): State<FakeTwilio>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let next = {
        let mut s = f.script.lock().unwrap();
        if s.is_empty() { 201 } else { s.remove(0) }
    };
    if next != 201 {
        let code = if next == 400 { 21211 } else { 20500 };
        return (
            StatusCode::from_u16(next).unwrap(),
            Json(json!({"code": code, "message": "nope", "more_info": "https://www.twilio.com/docs/errors", "status": next})),
        )
            .into_response();
    }
    let n = f.counter.fetch_add(1, Ordering::SeqCst);
    let sid = format!("SM{n:032}");
    if let (Some(status), Some((_, cb))) = (
        f.early_status,
        form.iter().find(|(k, _)| k == "StatusCallback"),
    ) {
        let cb_params = params(&[
            ("MessageSid", &sid),
            ("MessageStatus", status),
            ("AccountSid", ACCOUNT_SID),
        ]);
        let sig = telephony::signature::compute(AUTH_TOKEN, cb, &cb_params);
        let r = reqwest::Client::new()
            .post(cb)
            .header("X-Twilio-Signature", sig)
            .form(&cb_params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    (
        StatusCode::CREATED,
        Json(json!({"sid": sid, "status": "queued", "to": "x", "from": "y", "error_code": null})),
    )
        .into_response()
}

async fn fake_media() -> impl IntoResponse {
    (
        [("content-type", "image/jpeg")],
        vec![0xFFu8, 0xD8, 0xFF, 0xE0, 1, 2, 3],
    )
}

/// Serves a [`FakeTwilio`] answering `script` first; its base URL and handle.
pub async fn fake_twilio(
    script: Vec<u16>,
    early_status: Option<&'static str>,
) -> (String, FakeTwilio) {
    let f = FakeTwilio {
        log: Log::default(),
        script: Arc::new(Mutex::new(script)),
        early_status,
        counter: Arc::new(AtomicUsize::new(1)),
    };
    let router = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(fake_create),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Messages/{m}/Media/{me}",
            get(fake_media),
        )
        .with_state(f.clone());
    (serve(recording(router, f.log.clone())).await, f)
}

/// Posts a signed status callback for `sid`, as Twilio does; asserts it is answered 200.
pub async fn status(app: &TestApp, sid: &str, status: &str, error: Option<&str>) {
    let mut form = params(&[
        ("AccountSid", ACCOUNT_SID),
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("ChannelPrefix", "whatsapp"),
    ]);
    if let Some(code) = error {
        form.extend(params(&[
            ("ErrorCode", code),
            ("ErrorMessage", "Message failed"),
        ]));
    }
    assert_eq!(
        app.post_signed("/webhook/whatsapp/status", &form)
            .await
            .status(),
        200
    );
}
