//! Oversized request bodies: refused with 413 at each route's own limit, without reading
//! (or buffering) what was announced, while everyone else is served.

use std::time::Duration;

use futures::future::join_all;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{answers_a_call, raw_request, rss_bytes, spawn};

/// Every route that reads a body itself, with its limit.
const LIMITS: &[(&str, &str, usize)] = &[
    (
        "/webhook/incoming_call",
        "application/x-www-form-urlencoded",
        64 * 1024,
    ),
    (
        "/webhook/call_status",
        "application/x-www-form-urlencoded",
        64 * 1024,
    ),
    (
        "/webhook/whatsapp/twilio",
        "application/x-www-form-urlencoded",
        64 * 1024,
    ),
    ("/webhook/whatsapp/meta", "application/json", 4 << 20),
    ("/webhook/whatsapp/baileys", "application/json", 1 << 20),
    // The API's JSON bodies: axum's default limit.
    ("/api/auth/login", "application/json", 2 << 20),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_at_each_limit() {
    let _turn = super::exclusive().await;
    let app = spawn(&[]).await;
    for &(path, content_type, limit) in LIMITS {
        // A client announces a gigabyte and sends one byte past the limit: the answer comes
        // without waiting for the rest.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}",
            app.addr,
            1u64 << 30
        );
        let status = raw_request(app.addr, &head, &vec![b'a'; limit + 1]).await;
        assert_eq!(status, Some(413), "{path}: announced 1 GB");
        // Chunked, with no length announced: the same.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked",
            app.addr
        );
        let mut body = Vec::new();
        for chunk in vec![b'a'; limit + 1].chunks(16 * 1024) {
            body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
        let status = raw_request(app.addr, &head, &body).await;
        assert_eq!(status, Some(413), "{path}: chunked");
    }
    answers_a_call(&app).await;
    app.shutdown().await.unwrap();
}

/// Sixteen clients push 8 MB each at the webhooks as fast as they can; memory does not grow
/// with what they send, and a real webhook is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_big_bodies_does_not_stop_the_others() {
    let _turn = super::exclusive().await;
    let app = spawn(&[]).await;
    answers_a_call(&app).await;
    let before = rss_bytes();
    let floods = (0..16).map(|i| {
        let addr = app.addr;
        let path = LIMITS[i % 3].0;
        tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
                8u64 << 20
            );
            let _ = s.write_all(head.as_bytes()).await;
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..128 {
                if s.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        })
    });
    let floods = tokio::spawn(join_all(floods));
    for _ in 0..5 {
        answers_a_call(&app).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::timeout(Duration::from_secs(30), floods)
        .await
        .expect("the server ends each flood (413 and close)")
        .unwrap();
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "RSS grew {} KB while 16 clients sent 8 MB each",
        grown / 1024
    );
    assert!(
        grown < 64 << 20,
        "memory grew {grown} bytes for 128 MB sent: bodies are buffered"
    );
    answers_a_call(&app).await;
    app.shutdown().await.unwrap();
}
