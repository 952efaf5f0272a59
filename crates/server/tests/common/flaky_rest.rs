//! A front for the sim's REST API that fails the first call updates: it answers the first
//! `fail_first` `POST …/Calls/{sid}.json` with 503 (as Twilio does in a bad moment) and
//! forwards everything else to the sim unchanged, so a test can see a redirect retried.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

#[derive(Clone)]
pub struct FlakyRest {
    pub base: String,
    /// Call updates answered 503.
    pub failed: Arc<AtomicUsize>,
    fail_first: usize,
    target: String,
    http: reqwest::Client,
}

impl FlakyRest {
    pub async fn start(target: &str, fail_first: usize) -> FlakyRest {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let front = FlakyRest {
            base: format!("http://{addr}"),
            failed: Arc::new(AtomicUsize::new(0)),
            fail_first,
            target: target.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        };
        let app = Router::new().fallback(forward).with_state(front.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        front
    }

    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }
}

fn is_call_update(method: &Method, path: &str) -> bool {
    method == Method::POST
        && path.contains("/Calls/")
        && path.ends_with(".json")
        && !path.contains("/Recordings")
}

async fn forward(
    State(front): State<FlakyRest>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if is_call_update(&method, uri.path())
        && front
            .failed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < front.fail_first).then_some(n + 1)
            })
            .is_ok()
    {
        let body = r#"{"code": 20500, "message": "Internal Server Error", "status": 503}"#;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("content-type", "application/json")],
            body,
        )
            .into_response();
    }
    let mut req = front
        .http
        .request(method, format!("{}{path}", front.target))
        .body(body);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v);
        }
    }
    match req.send().await {
        Ok(r) => {
            let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_string();
            let bytes = r.bytes().await.unwrap_or_default();
            (status, [("content-type", ct)], bytes).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
