//! The HTTP/1.1 accept loop, with deadlines on request headers and bodies and a graceful
//! drain.
//!
//! Why not `axum::serve`: it gives hyper no timer, so a client that opens a connection and
//! sends its headers a byte at a time (slowloris), or connects and sends nothing, holds a
//! task and a socket for ever; a few thousand such clients exhaust file descriptors and
//! memory. Here every connection must deliver a request's complete headers within
//! `MOKDAN_HTTP_HEADER_TIMEOUT_SECS` of the server starting to wait for them, which also
//! closes keep-alive connections idle that long (keep a proxy's upstream keep-alive
//! shorter). Only HTTP/1.1 is spoken: Twilio, Meta, the bridge and browsers behind the TLS
//! proxy all use it, and skipping HTTP/2 detection leaves no unbounded read before hyper's
//! own deadline starts. WebSocket upgrades are served as before, and leave the deadline
//! behind once upgraded. A request's body must then arrive whole within
//! `MOKDAN_HTTP_BODY_TIMEOUT_SECS` ([`crate::http::body_deadline`]), or the answer is 408 and the
//! connection closes: a client dripping its body cannot hold a socket either.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::http::body_deadline::DeadlineBody;

/// Per-connection limits.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// How long a client has to send a request's headers (and how long a kept-alive
    /// connection may sit idle).
    pub header_timeout: Duration,
    /// How long a request's whole body may take, from the end of its headers.
    pub body_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops accepting, asks
/// every connection to finish its request in flight, and waits for them to close.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: HttpLimits,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let connections = TaskTracker::new();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    on_accept_error(e).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            let deadline = tokio::time::Instant::now() + body_timeout;
            let (parts, body) = req.into_parts();
            let (body, expired) = DeadlineBody::new(body, deadline);
            let req = http::Request::from_parts(parts, Body::new(body));
            let router = router.clone();
            async move {
                let response = router.oneshot(req).await?;
                if expired.load(Ordering::Relaxed) {
                    return Ok::<_, std::convert::Infallible>(body_timed_out(remote));
                }
                Ok(response)
            }
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => log_connection_end(remote, result),
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    log_connection_end(remote, conn.await);
                }
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// The answer to a request whose body missed its deadline: 408, and the connection closes
/// (the rest of the body is never read).
fn body_timed_out(remote: SocketAddr) -> axum::response::Response {
    use axum::response::IntoResponse;
    tracing::debug!(%remote, "HTTP request body not received in time");
    metrics::counter!("mokdan_http_body_timeouts_total").increment(1);
    let mut response = crate::auth::reject(
        http::StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        "the request body did not arrive in time",
    )
    .into_response();
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

fn log_connection_end(remote: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        if e.is_timeout() {
            tracing::debug!(%remote, "HTTP connection closed: headers not received in time");
            metrics::counter!("mokdan_http_header_timeouts_total").increment(1);
        } else {
            tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
        }
    }
}

/// Connection-level errors concern one client; anything else (out of file descriptors)
/// would spin, so wait a moment before accepting again.
async fn on_accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in a moment");
    tokio::time::sleep(Duration::from_millis(200)).await;
}
