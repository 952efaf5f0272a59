//! The REST client against a local axum server playing Twilio: paths, Basic auth,
//! form fields, error mapping, retries and the download origin guard.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use telephony::rest::{
    CreateCall, CreateMessage, RestConfig, TwilioClient, TwilioError, UpdateOutcome,
};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tok-secret-123";
const CALLS: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls";

/// A request the peer received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: Option<String>,
    auth: Option<String>,
    form: Vec<(String, String)>,
}

/// One scripted answer: status, body, and how long to wait before sending it.
#[derive(Clone)]
struct Reply(u16, &'static str, Duration);

fn ok(body: &'static str) -> Reply {
    Reply(200, body, Duration::ZERO)
}

#[derive(Clone, Default)]
struct Peer {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Peer {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(
    State(peer): State<Peer>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    peer.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        auth,
        form: serde_urlencoded::from_bytes(&body).unwrap_or_default(),
    });
    let reply = peer.script.lock().unwrap().pop_front();
    let Some(Reply(status, body, delay)) = reply else {
        return (StatusCode::IM_A_TEAPOT, "script exhausted").into_response();
    };
    tokio::time::sleep(delay).await;
    let content_type = if body.starts_with('{') {
        "application/json"
    } else {
        "audio/x-wav"
    };
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, content_type)],
        body,
    )
        .into_response()
}

/// Starts a peer answering with `script` in order; returns it and a client for it.
async fn start_peer(script: Vec<Reply>) -> (Peer, TwilioClient, String) {
    let peer = Peer::default();
    peer.script.lock().unwrap().extend(script);
    let app = Router::new().fallback(handle).with_state(peer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = TwilioClient::new(RestConfig {
        base_url: format!("{base}/"),
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        timeout: Duration::from_millis(500),
    });
    (peer, client, base)
}

fn form_values<'a>(seen: &'a Seen, key: &str) -> Vec<&'a str> {
    seen.form
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

const CALL_JSON: &str = r#"{"sid":"CA11","status":"queued","to":"+972501234567","from":"+97231234567","direction":"outbound-api","duration":null,"price":null}"#;

#[tokio::test]
async fn create_call_posts_form_with_basic_auth() {
    let (peer, client, _) = start_peer(vec![Reply(201, CALL_JSON, Duration::ZERO)]).await;
    let call = client
        .create_call(&CreateCall {
            to: "+972501234567".into(),
            from: "+97231234567".into(),
            url: "https://h.test/webhook/voice?x=1&y=2".into(),
            status_callback: Some("https://h.test/webhook/call_status".into()),
            status_callback_events: vec!["initiated".into(), "answered".into(), "completed".into()],
            record: true,
            record_dual: false,
            recording_status_callback: Some("https://h.test/webhook/recording_status".into()),
        })
        .await
        .unwrap();
    assert_eq!(
        (call.sid.as_str(), call.status.as_str(), call.duration),
        ("CA11", "queued", None)
    );
    assert_eq!(call.direction, "outbound-api");

    let seen = &peer.seen()[0];
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.path, format!("{CALLS}.json"));
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    assert_eq!(
        seen.auth.as_deref(),
        Some(format!("Basic {expected}").as_str())
    );
    assert_eq!(form_values(seen, "To"), ["+972501234567"]);
    assert_eq!(form_values(seen, "From"), ["+97231234567"]);
    assert_eq!(
        form_values(seen, "Url"),
        ["https://h.test/webhook/voice?x=1&y=2"]
    );
    assert_eq!(
        form_values(seen, "StatusCallback"),
        ["https://h.test/webhook/call_status"]
    );
    assert_eq!(form_values(seen, "StatusCallbackMethod"), ["POST"]);
    assert_eq!(
        form_values(seen, "StatusCallbackEvent"),
        ["initiated", "answered", "completed"]
    );
    assert_eq!(form_values(seen, "Record"), ["true"]);
    assert_eq!(
        form_values(seen, "RecordingStatusCallback"),
        ["https://h.test/webhook/recording_status"]
    );
}

#[tokio::test]
async fn update_call_twiml_and_url() {
    let (peer, client, _) = start_peer(vec![ok(CALL_JSON), ok(CALL_JSON)]).await;
    let twiml = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>שלום &amp; להתראות</Say><Hangup/></Response>"#;
    assert_eq!(
        client.update_call_twiml("CA11", twiml).await.unwrap(),
        UpdateOutcome::Updated
    );
    assert_eq!(
        client
            .update_call_url("CA11", "https://h.test/fallback")
            .await
            .unwrap(),
        UpdateOutcome::Updated
    );
    let seen = peer.seen();
    assert_eq!(seen[0].path, format!("{CALLS}/CA11.json"));
    assert_eq!(form_values(&seen[0], "Twiml"), [twiml]);
    assert_eq!(form_values(&seen[1], "Url"), ["https://h.test/fallback"]);
    assert_eq!(form_values(&seen[1], "Method"), ["POST"]);
}

#[tokio::test]
async fn update_of_ended_call_is_not_a_failure() {
    let not_found = r#"{"code":20404,"message":"The requested resource /2010-04-01/Accounts/AC/Calls/CA11.json was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}"#;
    let not_in_progress = r#"{"code":21220,"message":"Call is not in-progress. Cannot redirect.","more_info":"https://www.twilio.com/docs/errors/21220","status":400}"#;
    let other = r#"{"code":21210,"message":"Caller phone number not verified","more_info":"https://www.twilio.com/docs/errors/21210","status":400}"#;
    let (peer, client, _) = start_peer(vec![
        Reply(404, not_found, Duration::ZERO),
        Reply(400, not_in_progress, Duration::ZERO),
        Reply(400, other, Duration::ZERO),
    ])
    .await;
    assert_eq!(
        client
            .update_call_twiml("CA11", "<Response/>")
            .await
            .unwrap(),
        UpdateOutcome::AlreadyEnded
    );
    assert_eq!(
        client
            .update_call_url("CA11", "https://h.test/x")
            .await
            .unwrap(),
        UpdateOutcome::AlreadyEnded
    );
    let err = client
        .update_call_twiml("CA11", "<Response/>")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(21210));
    assert_eq!(peer.seen().len(), 3);
}

#[tokio::test]
async fn api_errors_map_to_twilio_error() {
    let body = r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;
    let (_, client, _) = start_peer(vec![
        Reply(401, body, Duration::ZERO),
        Reply(400, "not json at all", Duration::ZERO),
        ok("{not json"),
    ])
    .await;
    let err = client.fetch_call("CA11").await.unwrap_err();
    assert_eq!(
        err,
        TwilioError::Api {
            status: 401,
            code: Some(20003),
            message: "Authenticate".into(),
            more_info: Some("https://www.twilio.com/docs/errors/20003".into()),
        }
    );
    assert!(!err.to_string().contains(TOKEN));
    let err = client.fetch_call("CA11").await.unwrap_err();
    assert!(
        matches!(&err, TwilioError::Api { status: 400, code: None, message, .. } if message == "not json at all"),
        "{err:?}"
    );
    assert!(matches!(
        client.fetch_call("CA11").await,
        Err(TwilioError::Decode(_))
    ));
}

#[tokio::test]
async fn get_is_retried_after_503() {
    let (peer, client, _) = start_peer(vec![
        Reply(
            503,
            r#"{"code":20503,"message":"Service unavailable","status":503}"#,
            Duration::ZERO,
        ),
        Reply(502, "bad gateway", Duration::ZERO),
        ok(r#"{"sid":"CA11","status":"completed","duration":"42"}"#),
    ])
    .await;
    let call = client.fetch_call("CA11").await.unwrap();
    assert_eq!(
        (call.status.as_str(), call.duration),
        ("completed", Some(42))
    );
    let seen = peer.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|s| s.method == Method::GET && s.path == format!("{CALLS}/CA11.json"))
    );
}

#[tokio::test]
async fn get_gives_up_after_three_attempts() {
    let (peer, client, _) = start_peer(vec![
        Reply(500, "{}", Duration::ZERO),
        Reply(500, "{}", Duration::ZERO),
        Reply(
            500,
            r#"{"code":20500,"message":"Internal Server Error","status":500}"#,
            Duration::ZERO,
        ),
        ok(CALL_JSON),
    ])
    .await;
    let err = client.fetch_call("CA11").await.unwrap_err();
    assert_eq!(err.code(), Some(20500));
    assert_eq!(peer.seen().len(), 3);
}

#[tokio::test]
async fn timed_out_get_is_retried() {
    let (peer, client, _) = start_peer(vec![
        Reply(200, CALL_JSON, Duration::from_secs(2)),
        ok(CALL_JSON),
    ])
    .await;
    assert_eq!(client.fetch_call("CA11").await.unwrap().sid, "CA11");
    assert_eq!(peer.seen().len(), 2);
}

#[tokio::test]
async fn post_is_never_retried() {
    let (peer, client, _) = start_peer(vec![
        Reply(
            503,
            r#"{"code":20503,"message":"Service unavailable","status":503}"#,
            Duration::ZERO,
        ),
        Reply(201, CALL_JSON, Duration::ZERO),
    ])
    .await;
    let err = client
        .create_call(&CreateCall {
            to: "+1".into(),
            from: "+2".into(),
            url: "https://h.test/v".into(),
            ..CreateCall::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, TwilioError::Api { status: 503, .. }));
    let (slow_peer, slow_client, _) =
        start_peer(vec![Reply(201, CALL_JSON, Duration::from_secs(2))]).await;
    let err = slow_client
        .create_message(&CreateMessage {
            to: "+1".into(),
            from: "+2".into(),
            body: Some("x".into()),
            ..CreateMessage::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, TwilioError::Timeout(_)), "{err:?}");
    assert_eq!(peer.seen().len(), 1);
    assert_eq!(slow_peer.seen().len(), 1);
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = TwilioClient::new(RestConfig {
        base_url: base,
        ..RestConfig::new(SID, TOKEN)
    });
    let err = client.fetch_call("CA11").await.unwrap_err();
    assert!(matches!(&err, TwilioError::Transport(_)), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn lists_recordings_across_pages() {
    let page1 = r#"{"recordings":[{"sid":"RE1","call_sid":"CA11","duration":"12","status":"completed","uri":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE1.json"}],"next_page_uri":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls/CA11/Recordings.json?PageSize=1&Page=1&PageToken=PARE1"}"#;
    let page2 = r#"{"recordings":[{"sid":"RE2","call_sid":"CA11","duration":"-1","status":"processing","uri":"/x/RE2.json"}],"next_page_uri":null}"#;
    let (peer, client, _) = start_peer(vec![ok(page1), ok(page2)]).await;
    let recs = client.list_recordings("CA11").await.unwrap();
    assert_eq!(
        recs.iter().map(|r| r.sid.as_str()).collect::<Vec<_>>(),
        ["RE1", "RE2"]
    );
    assert_eq!((recs[0].duration, recs[1].duration), (Some(12), None));
    let seen = peer.seen();
    assert_eq!(seen[0].path, format!("{CALLS}/CA11/Recordings.json"));
    assert_eq!(
        seen[1].query.as_deref(),
        Some("PageSize=1&Page=1&PageToken=PARE1")
    );
}

#[tokio::test]
async fn downloads_recording_with_auth_and_retry() {
    let (peer, client, base) = start_peer(vec![
        Reply(503, "busy", Duration::ZERO),
        ok("RIFF....WAVEfmt "),
    ])
    .await;
    let url = format!("{base}/2010-04-01/Accounts/{SID}/Recordings/RE1.wav");
    let audio = client.download_recording(&url).await.unwrap();
    assert_eq!(&audio[..], b"RIFF....WAVEfmt ");
    let seen = peer.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].auth.as_deref().unwrap().starts_with("Basic "));
    assert_eq!(
        seen[1].path,
        format!("/2010-04-01/Accounts/{SID}/Recordings/RE1.wav")
    );
}

#[tokio::test]
async fn download_refuses_foreign_urls() {
    let (peer, client, base) = start_peer(vec![ok("x")]).await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let other_port = if port == "1" { "2" } else { "1" };
    for foreign in [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1".to_owned(),
        format!("http://localhost:{port}/x"),
        format!("https://127.0.0.1:{port}/x"),
        format!("http://127.0.0.1:{other_port}/x"),
        format!("http://user:pw@127.0.0.1:{port}/x"),
        "//evil.test/x".to_owned(),
        "file:///etc/passwd".to_owned(),
        "not a url".to_owned(),
    ] {
        let err = client.download_recording(&foreign).await.unwrap_err();
        assert_eq!(err, TwilioError::ForeignUrl(foreign.clone()));
    }
    assert!(
        peer.seen().is_empty(),
        "no request may leave for a foreign URL"
    );
    // A path on the API origin is fine.
    assert_eq!(
        &client.download_recording("/rec/RE1.wav").await.unwrap()[..],
        b"x"
    );
}

#[tokio::test]
async fn create_message_posts_whatsapp_template() {
    let (peer, client, _) = start_peer(vec![Reply(
        201,
        r#"{"sid":"SM1","status":"queued","to":"whatsapp:+972501234567","from":"whatsapp:+14155238886","error_code":null}"#,
        Duration::ZERO,
    )])
    .await;
    let msg = client
        .create_message(&CreateMessage {
            to: "whatsapp:+972501234567".into(),
            from: "whatsapp:+14155238886".into(),
            body: None,
            status_callback: Some("https://h.test/wa_status".into()),
            content_sid: Some("HX123".into()),
            content_variables: Some(r#"{"1":"דנה"}"#.into()),
            media_url: vec!["https://h.test/a.png".into(), "https://h.test/b.png".into()],
        })
        .await
        .unwrap();
    assert_eq!((msg.sid.as_str(), msg.error_code), ("SM1", None));
    let seen = &peer.seen()[0];
    assert_eq!(
        seen.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(form_values(seen, "Body"), Vec::<&str>::new());
    assert_eq!(form_values(seen, "ContentSid"), ["HX123"]);
    assert_eq!(form_values(seen, "ContentVariables"), [r#"{"1":"דנה"}"#]);
    assert_eq!(
        form_values(seen, "MediaUrl"),
        ["https://h.test/a.png", "https://h.test/b.png"]
    );
    assert_eq!(
        form_values(seen, "StatusCallback"),
        ["https://h.test/wa_status"]
    );
}

#[tokio::test]
async fn rejects_sids_that_would_alter_the_path() {
    let (peer, client, _) = start_peer(vec![]).await;
    for bad in ["", "../CA1", "CA1/Recordings", "CA1?x=1", "CA 1"] {
        assert!(
            matches!(
                client.fetch_call(bad).await,
                Err(TwilioError::InvalidArgument(_))
            ),
            "{bad}"
        );
    }
    assert!(peer.seen().is_empty());
    let debug = format!("{client:?}");
    assert!(!debug.contains(TOKEN) && debug.contains(SID), "{debug}");
}
