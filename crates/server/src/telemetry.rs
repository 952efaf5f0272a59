//! Logs and metrics: enough to see where a call got stuck (O3).
//!
//! One log line per HTTP request (method, matched route, status, latency, request id),
//! pretty in development and JSON in production. Prometheus counters and histograms by
//! route, and an error counter, served at `/metrics`. The recorder is process-global, so it
//! is installed once however many servers a test process starts.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::Environment;

/// Installs the log subscriber for the binary (tests leave logging alone).
pub fn init_logging(env: Environment) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LossyStdout)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let _ = match env {
        Environment::Production => builder.json().flatten_event(true).try_init(),
        Environment::Development => builder.compact().try_init(),
    };
}

/// Standard output that never reports a failed write. A log redirected to a full disk must
/// not stop the service: tracing reports a failed write on stderr, and a failed write to
/// stderr (on the same full disk) panics. The lines are lost; the calls are not.
struct LossyStdout;

impl std::io::Write for LossyStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stdout().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stdout().flush();
        Ok(())
    }
}

/// One `CONFIG` line at startup: what this node runs with, so a log shows how it was
/// configured. Secrets appear only as `set` or `unset` (S2); the database as its kind.
pub fn log_settings(s: &crate::config::Settings) {
    let set = |v: bool| if v { "set" } else { "unset" };
    tracing::info!(
        env = ?s.env,
        listen = %s.listen,
        database = if s.is_postgres() { "postgres" } else { "sqlite" },
        data_dir = %s.data_dir.display(),
        public_base_url = %s.public_base_url.as_deref().map(without_password).unwrap_or_default(),
        twilio_account_sid = s.twilio_account_sid.as_deref().unwrap_or("-"),
        twilio_auth_token = set(s.twilio_auth_token.is_some()),
        openai_api_key = set(s.openai_api_key.is_some()),
        google_credentials = set(s.google_credentials.is_some()),
        whatsapp_provider = ?s.whatsapp_provider,
        meta_access_token = set(s.meta_access_token.is_some()),
        meta_app_secret = set(s.meta_app_secret.is_some()),
        meta_verify_token = set(s.meta_verify_token.is_some()),
        baileys_shared_secret = set(s.baileys_shared_secret.is_some()),
        jwt_secret = "set",
        job_workers = s.job_workers,
        http_header_timeout_secs = s.http_header_timeout.as_secs_f64(),
        "CONFIG"
    );
}

/// A URL with any password in it replaced by `***`.
fn without_password(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

/// The process's Prometheus handle, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .expect("static buckets are valid")
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "mokdan_outbound_frame_lateness_seconds".into(),
                    ),
                    &[
                        0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02,
                        0.05, 0.1, 0.5,
                    ],
                )
                .expect("static buckets are valid");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist in a test binary; the handle still renders ours.
            let _ = metrics::set_global_recorder(recorder);
            // Histograms keep every sample until they are folded into their buckets; the
            // outbound lateness histogram alone gets 50 a second per call. Fold them
            // regularly, whether or not anything scrapes `/metrics`.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

/// Counts an error of a kind (`api`, `webhook`, `ws`, `job`…) for alerting.
pub fn count_error(kind: &'static str) {
    metrics::counter!("mokdan_errors_total", "kind" => kind).increment(1);
}

/// Per-request logging, metrics and request id.
pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let span = tracing::info_span!("request", id = %request_id);
    let mut response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    let elapsed = start.elapsed();
    let _enter = span.enter();
    tracing::info!(
        method = %method,
        route = %route,
        status = status.as_u16(),
        ms = format_args!("{:.2}", elapsed.as_secs_f64() * 1e3),
        "HTTP"
    );
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        count_error("http_500");
    }
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
