//! The HTTP/1.1 accept loop, with a deadline on request headers and a graceful drain.
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
//! behind once upgraded.

use std::net::SocketAddr;
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

/// Per-connection limits.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// How long a client has to send a request's headers (and how long a kept-alive
    /// connection may sit idle).
    pub header_timeout: Duration,
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
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(req.map(Body::new))
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
