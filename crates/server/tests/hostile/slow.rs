//! Slow and idle clients: slowloris (headers a byte at a time), connections that send
//! nothing, and kept-alive connections left idle are all dropped after the header deadline
//! (`MOKDAN_HTTP_HEADER_TIMEOUT_SECS`, 1 s in these tests), and never hold up anyone else.

use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::io::AsyncWriteExt;
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
