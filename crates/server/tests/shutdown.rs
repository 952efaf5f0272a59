//! Graceful shutdown: in-flight requests finish, then the server stops and the pool closes.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn in_flight_request_finishes_during_shutdown(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let body = "CallSid=CA0123456789abcdef0123456789abcdef&CallStatus=completed&CallDuration=5";
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /webhook/call_status HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        app.addr,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    // Half the body: the request is now in the handler, waiting for the rest.
    conn.write_all(&body.as_bytes()[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // New connections are no longer accepted...
    let refused =
        tokio::time::timeout(Duration::from_secs(1), reqwest::get(app.url("/health"))).await;
    assert!(
        !matches!(refused, Ok(Ok(ref r)) if r.status() == 200),
        "accepted after shutdown"
    );

    // ...but the one in flight completes.
    conn.write_all(&body.as_bytes()[10..]).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 1024];
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            response.extend_from_slice(&buf[..n]);
            if n == 0 || response.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the in-flight request never finished");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 204"), "{text}");

    let state = app.state.clone();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), app.join())
        .await
        .expect("stopped within 10 s")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(state.db.pool.is_closed(), "the pool is closed on shutdown");
    let row = mokdan::store::calls::by_sid(&state.db, "CA0123456789abcdef0123456789abcdef").await;
    assert!(row.is_err(), "closed pool refuses work");
}
dual_test!(in_flight_request_finishes_during_shutdown);
