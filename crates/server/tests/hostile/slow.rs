//! Slow and idle clients: slowloris (headers a byte at a time), connections that send
//! nothing, and kept-alive connections left idle are all dropped after the header deadline
//! (`MOKDAN_HTTP_HEADER_TIMEOUT_SECS`, 1 s in these tests); bodies sent a byte at a time
//! are answered 408 and dropped at the body deadline (`MOKDAN_HTTP_BODY_TIMEOUT_SECS`);
//! none of them holds up anyone else.

use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{answers_a_call, closed_within, open_fds, read_status, rss_bytes, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_dropped_and_others_served() {
    let _turn = super::exclusive().await;
    let app = spawn(&[]).await;
    let addr = app.addr;
    // 100 clients each dribble a request's headers, one byte every 200 ms, for ever.
    let slow = (0..100).map(|_| {
        tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nX-Slow: ");
            let started = Instant::now();
            for b in head.bytes().chain(std::iter::repeat(b'a')) {
                if s.write_all(&[b]).await.is_err() {
                    return Some(started.elapsed());
                }
                if closed_within(&mut s, Duration::from_millis(200)).await {
                    return Some(started.elapsed());
                }
                if started.elapsed() > Duration::from_secs(8) {
                    return None;
                }
            }
            None
        })
    });
    let slow = tokio::spawn(join_all(slow));
    // Meanwhile everyone else is answered as usual.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..10 {
        let r = tokio::time::timeout(Duration::from_secs(5), app.get("/health"))
            .await
            .expect("a normal request is not held up by slow clients");
        assert_eq!(r.status(), 200);
        answers_a_call(&app).await;
    }
    let dropped = slow.await.unwrap();
    for (i, d) in dropped.into_iter().enumerate() {
        let d = d
            .unwrap()
            .unwrap_or_else(|| panic!("slow client {i} was still connected after 8 s"));
        assert!(
            d < Duration::from_secs(4),
            "slow client {i} dropped after {d:?}"
        );
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_kept_alive_connections_are_closed() {
    let app = spawn(&[]).await;
    // Connects and says nothing.
    let mut silent = TcpStream::connect(app.addr).await.unwrap();
    // Sends one complete request, then idles on the kept-alive connection.
    let mut kept = TcpStream::connect(app.addr).await.unwrap();
    kept.write_all(format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes())
        .await
        .unwrap();
    assert_eq!(
        read_status(&mut kept, Duration::from_secs(5)).await,
        Some(200)
    );
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    assert!(closed_within(&mut kept, Duration::from_secs(3)).await);
    app.shutdown().await.unwrap();
}

/// 1,000 half-open connections (a request line and no more) neither grow memory without
/// bound nor stay open: once the deadline passes, the server has let go of every one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_have_bounded_cost() {
    let _turn = super::exclusive().await;
    let app = spawn(&[]).await;
    answers_a_call(&app).await;
    let (rss_before, fds_before) = (rss_bytes(), open_fds());
    let mut conns = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"POST /webhook/incoming_call HTTP/1.1\r\n")
            .await
            .unwrap();
        conns.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_during = rss_bytes();
    let fds_during = open_fds();
    answers_a_call(&app).await;
    let per_conn = rss_during.saturating_sub(rss_before) / 1000;
    println!(
        "1000 half-open connections: RSS +{} KB ({} bytes each), fds {} -> {}",
        rss_during.saturating_sub(rss_before) / 1024,
        per_conn,
        fds_before,
        fds_during
    );
    assert!(
        per_conn < 64 * 1024,
        "{per_conn} bytes per half-open connection"
    );
    // Every one is closed by the server (the client sees EOF) ...
    let closed = join_all(
        conns
            .iter_mut()
            .map(|s| closed_within(s, Duration::from_secs(5))),
    )
    .await;
    assert!(closed.iter().all(|c| *c), "the server dropped every one");
    // ... and the server's side of each is gone: only the client sockets remain open here.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds_after = open_fds();
    assert!(
        fds_after <= fds_before + 1000 + 20,
        "server still holds sockets: {fds_before} before, {fds_during} during, {fds_after} after"
    );
    drop(conns);
    answers_a_call(&app).await;
    app.shutdown().await.unwrap();
}

/// Sends `head` (with a `Content-Length` far larger than it will ever send), then a byte of
/// body every 200 ms until the server answers and closes; what it answered and after how
/// many body bytes, or `None` if it was still waiting after 10 s.
async fn drip_body(addr: std::net::SocketAddr, head: String) -> Option<(String, usize)> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut sent = 0;
    let mut buf = [0u8; 4096];
    loop {
        if s.write_all(b"a").await.is_ok() {
            sent += 1;
        }
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if started.elapsed() > Duration::from_secs(10) {
            return None;
        }
    }
    let status = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    Some((status, sent))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dripped_bodies_are_answered_408_and_closed() {
    let app = spawn(&[("MOKDAN_HTTP_BODY_TIMEOUT_SECS", "1")]).await;
    let addr = app.addr;
    // An API route and a Twilio webhook, each taking its body a byte at a time.
    let heads = [
        format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        ),
        format!(
            "POST /webhook/incoming_call HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        ),
    ];
    let drips = (0..20).map(|i| tokio::spawn(drip_body(addr, heads[i % 2].clone())));
    let drips = tokio::spawn(join_all(drips));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let r = tokio::time::timeout(Duration::from_secs(5), app.get("/health"))
            .await
            .expect("a normal request is not held up by dripping clients");
        assert_eq!(r.status(), 200);
        answers_a_call(&app).await;
    }
    for (i, d) in drips.await.unwrap().into_iter().enumerate() {
        let (status, sent) = d
            .unwrap()
            .unwrap_or_else(|| panic!("dripping client {i} was still connected after 10 s"));
        assert!(status.starts_with("HTTP/1.1 408"), "client {i}: {status:?}");
        assert!(sent < 100, "client {i} sent {sent} bytes before it was cut");
    }
    app.shutdown().await.unwrap();
}
