//! Abusive media sockets (S3): an oversized frame, floods of garbage, unknown events and
//! binary frames, and sockets that never start, each close that socket only. A real call
//! streaming beside them keeps its audio flowing and ends normally.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use telephony::media::{ServerMessage, StreamEvent};
use tokio_tungstenite::tungstenite::Message;

use super::{BUSINESS_NUMBER, CALLER, rss_bytes, spawn};
use crate::common::TestApp;
use crate::common::twilio::{self, call_params, new_call_sid};
use crate::common::ws::{self, Next, Socket};

/// A call answered by the webhook: its sid and the stream token from the TwiML.
async fn answered_call(app: &TestApp) -> (String, String) {
    let sid = new_call_sid();
    let t = app
        .twiml(
            "/webhook/incoming_call",
            &call_params(&sid, CALLER, BUSINESS_NUMBER),
        )
        .await;
    let Some(c) = t.stream_connect() else {
        panic!("{:?}", t.verbs)
    };
    let token = c.stream.parameters.iter().find(|(k, _)| k == "token");
    (sid, token.unwrap().1.clone())
}

/// What the live call saw while it streamed.
struct LiveReport {
    socket: Socket,
    media_heard: usize,
    frames_sent: u64,
}

/// Streams caller audio on the live call every 20 ms, as Twilio does, and reads what the
/// server sends, until `stop`; panics if the server closes it.
fn stream_on(
    mut socket: Socket,
    stream: &'static str,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<LiveReport> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let (mut media_heard, mut seq) = (0usize, 10u64);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    seq += 1;
                    let frame = StreamEvent::media(stream, seq, seq, seq * 20, &[0xFF; 160]);
                    socket
                        .send(Message::Text(frame.to_json().into()))
                        .await
                        .expect("the live call can still send");
                }
                msg = socket.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        if let Ok(ServerMessage::Media { .. }) = telephony::media::parse_server_message(&t) {
                            media_heard += 1;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => panic!("the live call was closed: {frame:?}"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => panic!("the live call failed: {e}"),
                    None => panic!("the live call was closed"),
                },
            }
        }
        LiveReport {
            socket,
            media_heard,
            frames_sent: seq - 10,
        }
    })
}

/// Sends frames until the server closes the socket; the close code, if any.
async fn abuse(socket: &mut Socket, frame: Message, times: usize) -> Option<u16> {
    for _ in 0..times {
        if socket.send(frame.clone()).await.is_err() {
            break;
        }
    }
    match ws::next(socket, Duration::from_secs(5)).await {
        Next::Closed(code) => code,
        Next::Nothing => panic!("the abusive socket was left open"),
        Next::Msg(m) => panic!("nothing may be sent to a socket that never started: {m:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_sockets_close_while_a_live_call_streams_on() {
    let _turn = super::exclusive().await;
    // The watchdog waits 1 s for `start` (so sockets that never start close after 6 s) and
    // 2 s for caller audio: if the server stopped reading the live call for that long while
    // it is busy with the others, the call would go to the recording fallback and close.
    let app = spawn(&[
        ("MOKDAN_WATCHDOG_START_SECS", "1"),
        ("MOKDAN_WATCHDOG_MEDIA_SECS", "2"),
    ])
    .await;
    let url = format!("ws://{}/ws/twilio-media", app.addr);
    let (sid, token) = answered_call(&app).await;
    let (mut live, _) = ws::connect(&url).await;
    const STREAM: &str = "MZ00000000000000000000000000000001";
    ws::send(&mut live, &StreamEvent::connected()).await;
    ws::send(
        &mut live,
        &ws::start(STREAM, &sid, &[("call_id", &sid), ("token", &token)]),
    )
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let live = stream_on(live, STREAM, stopped);
    let started = Instant::now();
    let rss_before = rss_bytes();

    // Idle sockets that never send `start` (opened first: they take the longest).
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(ws::connect(&url).await.0);
    }
    // One frame over the 64 KB message limit: the socket is dropped at once.
    let (mut big, _) = ws::connect(&url).await;
    let _ = big.send(Message::Text("x".repeat(1 << 20).into())).await;
    assert!(matches!(
        ws::next(&mut big, Duration::from_secs(5)).await,
        Next::Closed(_)
    ));

    // Floods: garbage text, unknown events before `start`, binary frames, media frames too
    // big to be telephone audio. Each is closed with "policy violation" past the tolerance.
    for (what, frame) in [
        ("garbage", Message::Text("{not json".into())),
        (
            "unknown events",
            Message::Text(r#"{"event":"party"}"#.into()),
        ),
        ("binary", Message::Binary(vec![0u8; 1024].into())),
        (
            "oversized media",
            Message::Text(
                StreamEvent::media("MZ9", 1, 1, 0, &[0xFF; 16 * 1024])
                    .to_json()
                    .into(),
            ),
        ),
    ] {
        let (mut s, _) = ws::connect(&url).await;
        assert_eq!(abuse(&mut s, frame, 5_000).await, Some(1008), "{what}");
    }

    // The idle ones are closed too, once a start can no longer come.
    for s in &mut idle {
        match ws::next(s, Duration::from_secs(10)).await {
            Next::Closed(code) => assert_eq!(code, Some(1008)),
            other => panic!("an idle socket was left open: {other:?}"),
        }
    }
    let grown = rss_bytes().saturating_sub(rss_before);
    println!("RSS grew {} KB during the socket abuse", grown / 1024);
    assert!(grown < 64 << 20, "memory grew {grown} bytes");

    // The live call streamed throughout (well past the watchdog's 2 s), heard its greeting,
    // and ends as Twilio ends it.
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(started.elapsed())).await;
    stop.send(()).unwrap();
    let LiveReport {
        socket: mut live,
        media_heard,
        frames_sent,
    } = live.await.unwrap();
    println!("live call: {frames_sent} frames sent, {media_heard} heard");
    assert!(
        media_heard >= 25,
        "the greeting played ({media_heard} frames)"
    );
    assert!(frames_sent >= 200);
    let row = mokdan::store::calls::by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.stream_end_reason, None, "the live call is still on");
    ws::send(
        &mut live,
        &StreamEvent::stop(STREAM, 999_999, twilio::ACCOUNT_SID, &sid),
    )
    .await;
    for _ in 0..50 {
        let row = mokdan::store::calls::by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .unwrap();
        if let Some(reason) = row.stream_end_reason {
            assert_eq!(reason, "twilio_stop");
            app.shutdown().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the live call's end was not recorded");
}
