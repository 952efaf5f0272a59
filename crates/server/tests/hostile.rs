//! Hostile clients against the real server (S1, S2, S3, C3, O3).
//!
//! Oversized bodies, slow and idle connections, abusive media sockets, cross-site posts,
//! password guessing, and a whole production run whose every log line is searched for the
//! secrets it was given. Each test states what a well-behaved client still gets while the
//! hostile one is at work: the point is that one bad client costs the others nothing.
//!
//! Memory is measured in-process (`/proc/self/status`, the server runs in this process)
//! with loose bounds: the assertions catch "grows with the attack", not small drifts.

mod common;

#[path = "hostile/bodies.rs"]
mod bodies;
#[path = "hostile/secrets.rs"]
mod secrets;
#[path = "hostile/slow.rs"]
mod slow;
#[path = "hostile/sockets.rs"]
mod sockets;
#[path = "hostile/web.rs"]
mod web;

use std::net::SocketAddr;
use std::time::Duration;

use common::twilio::{AUTH_TOKEN, call_params, new_call_sid};
use common::{Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The business every test's calls ring.
pub const BUSINESS_NUMBER: &str = "+97231234567";
pub const CALLER: &str = "+972501234567";

/// An app checking Twilio signatures, with a 1-second header deadline so slow clients are
/// dropped within the test, and a Twilio REST base nothing listens on (no real network).
pub async fn spawn(extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("MOKDAN_HTTP_HEADER_TIMEOUT_SECS", "1"),
        ("TWILIO_API_BASE", "http://127.0.0.1:9"),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::spawn_with(Backend::Sqlite, &vars).await;
    let phone = mokdan::domain::Phone::parse(BUSINESS_NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מוסך", &phone)
        .await
        .unwrap();
    app
}

/// A well-behaved Twilio: a signed `incoming_call` that must be answered with TwiML.
pub async fn answers_a_call(app: &TestApp) {
    let r = app
        .post_signed(
            "/webhook/incoming_call",
            &call_params(&new_call_sid(), CALLER, BUSINESS_NUMBER),
        )
        .await;
    assert_eq!(r.status(), 200, "a real webhook is still answered");
    let body = r.text().await.unwrap();
    assert!(body.contains("<Response>"), "{body}");
}

/// Held by every test that measures this process's memory or file descriptors, or makes
/// them jump: those numbers are process-wide, so such tests take turns.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Runs `work` while sampling resident memory every 5 ms; its result and the highest
/// growth over the memory before it started.
pub async fn peak_rss_growth<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = rss_bytes();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak.max(rss_bytes())
        })
    };
    let out = work.await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.unwrap();
    (out, peak.saturating_sub(before))
}

/// Resident memory of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Writes `head` (request line and headers, without the blank line), then `body`, then
/// reads the status code of the answer; `None` if the connection ended without one.
pub async fn raw_request(addr: SocketAddr, head: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .ok()?;
    for chunk in body.chunks(64 * 1024) {
        if s.write_all(chunk).await.is_err() {
            break;
        }
    }
    read_status(&mut s, Duration::from_secs(10)).await
}

/// The status code of the next response on `s`.
pub async fn read_status(s: &mut TcpStream, wait: Duration) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + wait;
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the server closes `s` within `wait` (reading EOF or a reset).
pub async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}
