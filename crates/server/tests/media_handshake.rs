//! The media socket's handshake signature and its keep-alive (S3, V5).
//!
//! Twilio may sign the websocket upgrade with `X-Twilio-Signature` over the stream's URL;
//! a signed handshake must verify, or the upgrade is refused before any socket exists.
//! An open stream on which nothing happens is pinged, so proxies and Twilio keep it open.

mod common;

use std::time::{Duration, Instant};

use common::twilio::{self, AUTH_TOKEN};
use common::ws::{self, answered_call};
use common::{Backend, TestApp};
use futures::StreamExt;
use telephony::media::StreamEvent;
use tokio_tungstenite::tungstenite::{Error, Message};

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
            ("MOKDAN_MEDIA_PING_SECS", "0.3"),
        ],
    )
    .await
}

fn sign(url: &str) -> String {
    telephony::signature::compute(AUTH_TOKEN, url, &[])
}

fn refused_status(result: Result<(ws::Socket, Option<String>), Error>) -> Option<u16> {
    match result {
        Err(Error::Http(response)) => Some(response.status().as_u16()),
        Err(other) => panic!("expected an HTTP refusal, got {other:?}"),
        Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_handshake_must_verify() {
    let app = spawn(Backend::Sqlite).await;
    let ws_url = format!("ws://{}/ws/twilio-media", app.addr);

    // Signed as Twilio signs it, over the wss:// (here ws://) URL of the stream.
    let (mut socket, proto) = ws::connect_with(&ws_url, &[("X-Twilio-Signature", &sign(&ws_url))])
        .await
        .expect("a correctly signed handshake is accepted");
    assert_eq!(proto.as_deref(), Some("audio.twilio.com"));
    // (That nothing is sent before `start` is checked on every simulated call.)
    ws::send(&mut socket, &StreamEvent::connected()).await;

    // The other path, signed over the public http:// URL with a query string.
    let slash = format!("ws://{}/ws/twilio-media/?region=il", app.addr);
    let http_form = format!("{}/ws/twilio-media/?region=il", app.base);
    let accepted = ws::connect_with(&slash, &[("X-Twilio-Signature", &sign(&http_form))]).await;
    assert!(accepted.is_ok(), "{:?}", accepted.err());

    let other_path = sign(&format!("ws://{}/ws/elsewhere", app.addr));
    let other_token = telephony::signature::compute("another-token", &ws_url, &[]);
    let other_query = sign(&format!("{ws_url}?region=il"));
    for (name, url, signature) in [
        ("garbage", ws_url.as_str(), "bm90IGEgc2lnbmF0dXJl"),
        ("signed for another path", ws_url.as_str(), &other_path),
        ("signed with another token", ws_url.as_str(), &other_token),
        (
            "signed for another query",
            &format!("{ws_url}?region=ps"),
            &other_query,
        ),
        ("empty", ws_url.as_str(), ""),
    ] {
        let refused = ws::connect_with(url, &[("X-Twilio-Signature", signature)]).await;
        assert_eq!(refused_status(refused), Some(403), "{name}");
    }
    // A refused handshake is counted for alerting.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mokdan_errors_total") && l.contains("ws_rejected")),
        "{metrics}"
    );
    app.shutdown().await.unwrap();
}

/// Reads raw frames for `wait`: (pings, text messages), or the close code if it closed.
async fn read_for(socket: &mut ws::Socket, wait: Duration) -> Result<(usize, usize), String> {
    let end = Instant::now() + wait;
    let (mut pings, mut texts) = (0, 0);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, socket.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(Message::Text(_)))) => texts += 1,
            Ok(Some(Ok(Message::Close(frame)))) => return Err(format!("closed: {frame:?}")),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(format!("socket error: {e}")),
            Ok(None) => return Err("socket ended".into()),
        }
    }
    Ok((pings, texts))
}

async fn an_idle_open_stream_is_pinged(backend: Backend) {
    let app = spawn(backend).await;
    let (sid, token) = answered_call(&app).await;
    let (mut socket, _) = ws::connect(&format!("ws://{}/ws/twilio-media", app.addr)).await;
    ws::send(&mut socket, &StreamEvent::connected()).await;

    // Open, and nothing else happens: pings (control frames), and no message before start.
    let (pings, texts) = read_for(&mut socket, Duration::from_millis(1_100))
        .await
        .unwrap();
    assert!(pings >= 2, "pinged every 0.3 s: {pings} pings in 1.1 s");
    assert_eq!(texts, 0, "nothing is sent before start");

    // A live stream whose caller sends nothing is still pinged.
    ws::send(
        &mut socket,
        &ws::start("MZ5", &sid, &[("call_id", &sid), ("token", &token)]),
    )
    .await;
    let (pings, _) = read_for(&mut socket, Duration::from_millis(1_100))
        .await
        .unwrap();
    assert!(pings >= 2, "{pings} pings in 1.1 s on the live stream");
    app.shutdown().await.unwrap();
}
dual_test!(an_idle_open_stream_is_pinged);
