//! The media socket with a bare client: handshake, token checks, stream discipline (V5, V6, S3).

mod common;

use std::time::Duration;

use common::twilio::{self, AUTH_TOKEN, new_call_sid};
use common::ws::{self, Next, answered_call};
use common::{Backend, TestApp};
use telephony::media::{ServerMessage, StreamEvent};

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
        ],
    )
    .await
}

async fn subprotocol_is_echoed_on_both_paths(backend: Backend) {
    let app = spawn(backend).await;
    for path in ["/ws/twilio-media", "/ws/twilio-media/"] {
        let (mut socket, proto) = ws::connect(&format!("ws://{}{path}", app.addr)).await;
        assert_eq!(proto.as_deref(), Some("audio.twilio.com"), "{path}");
        ws::send(&mut socket, &StreamEvent::connected()).await;
        // Nothing is sent before `start` (V6).
        assert!(matches!(
            ws::next(&mut socket, Duration::from_millis(300)).await,
            Next::Nothing
        ));
    }
    app.shutdown().await.unwrap();
}
dual_test!(subprotocol_is_echoed_on_both_paths);

async fn strangers_are_closed_with_policy_violation(backend: Backend) {
    let app = spawn(backend).await;
    let (sid, token) = answered_call(&app).await;
    let url = format!("ws://{}/ws/twilio-media", app.addr);
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, String);
    let cases: Vec<Case> = vec![
        ("no token", vec![("call_id", sid.clone())], sid.clone()),
        (
            "forged token",
            vec![("call_id", sid.clone()), ("token", "AAAA".repeat(11))],
            sid.clone(),
        ),
        (
            "token of another call",
            vec![
                ("call_id", sid.clone()),
                ("token", mokdan::calls::token::issue("x", &sid)),
            ],
            sid.clone(),
        ),
        (
            "unknown call",
            vec![
                ("call_id", "CA00000000000000000000000000000000".into()),
                (
                    "token",
                    mokdan::calls::token::issue(
                        app.state.settings.jwt_secret.expose(),
                        "CA00000000000000000000000000000000",
                    ),
                ),
            ],
            "CA00000000000000000000000000000000".into(),
        ),
        (
            "callSid mismatch",
            vec![("call_id", sid.clone()), ("token", token.clone())],
            new_call_sid(),
        ),
    ];
    for (name, params, call_sid) in cases {
        let (mut socket, _) = ws::connect(&url).await;
        ws::send(&mut socket, &StreamEvent::connected()).await;
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ws::send(&mut socket, &ws::start("MZ1", &call_sid, &params)).await;
        match ws::next(&mut socket, Duration::from_secs(3)).await {
            Next::Closed(Some(code)) => assert_eq!(code, 1008, "{name}"),
            other => panic!("{name}: expected a policy close, got {other:?}"),
        }
    }
    app.shutdown().await.unwrap();
}
dual_test!(strangers_are_closed_with_policy_violation);

async fn the_greeting_streams_with_the_right_stream_sid(backend: Backend) {
    let app = spawn(backend).await;
    let (sid, token) = answered_call(&app).await;
    let (mut socket, _) = ws::connect(&format!("ws://{}/ws/twilio-media", app.addr)).await;
    ws::send(&mut socket, &StreamEvent::connected()).await;
    ws::send(
        &mut socket,
        &ws::start(
            "MZ0123456789abcdef",
            &sid,
            &[("call_id", &sid), ("token", &token)],
        ),
    )
    .await;
    let (mut media, mut mark) = (0usize, None);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(20) && mark.is_none() {
        match ws::next(&mut socket, Duration::from_secs(5)).await {
            Next::Msg(ServerMessage::Media {
                stream_sid,
                media: m,
            }) => {
                assert_eq!(stream_sid, "MZ0123456789abcdef");
                // Whole 20 ms frames, up to two per message.
                let bytes = m.decode().unwrap().len();
                assert!(bytes == 160 || bytes == 320, "{bytes} bytes");
                media += bytes;
            }
            Next::Msg(ServerMessage::Mark {
                stream_sid,
                mark: m,
            }) => {
                assert_eq!(stream_sid, "MZ0123456789abcdef");
                mark = Some(m.name);
            }
            Next::Msg(other) => panic!("unexpected {other:?}"),
            other => panic!("expected the greeting, got {other:?}"),
        }
    }
    assert!(
        media >= 4_000,
        "the greeting lasts at least half a second ({media} bytes)"
    );
    assert!(mark.is_some(), "a mark follows the greeting");
    let row = mokdan::store::calls::by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.stream_sid.as_deref(), Some("MZ0123456789abcdef"));
    assert!(row.stream_started_at.is_some());
    assert_eq!(row.status, "in-progress");
    // Twilio hangs up: the stream's end is recorded.
    ws::send(
        &mut socket,
        &StreamEvent::stop("MZ0123456789abcdef", 9, twilio::ACCOUNT_SID, &sid),
    )
    .await;
    for _ in 0..50 {
        let row = mokdan::store::calls::by_sid(&app.state.db, &sid)
            .await
            .unwrap()
            .unwrap();
        if row.stream_end_reason.is_some() {
            assert_eq!(row.stream_end_reason.as_deref(), Some("twilio_stop"));
            app.shutdown().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream end not recorded");
}
dual_test!(the_greeting_streams_with_the_right_stream_sid);

async fn a_flood_of_garbage_closes_the_socket(backend: Backend) {
    let app = spawn(backend).await;
    let (mut socket, _) = ws::connect(&format!("ws://{}/ws/twilio-media", app.addr)).await;
    use futures::SinkExt;
    for _ in 0..60 {
        if socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                "{not json".into(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    let closed = match ws::next(&mut socket, Duration::from_secs(2)).await {
        Next::Closed(code) => Some(code),
        Next::Nothing => None,
        Next::Msg(m) => panic!("nothing may be sent before start: {m:?}"),
    };
    assert_eq!(closed, Some(Some(1008)));
    // The server keeps serving others.
    assert_eq!(app.get("/health").await.status(), 200);
    app.shutdown().await.unwrap();
}
dual_test!(a_flood_of_garbage_closes_the_socket);

/// Frames that parse but cannot be audio (bad base64, far too long) are counted like
/// garbage; good frames in between are not, and a flood of bad ones ends the stream.
async fn a_flood_of_unusable_frames_ends_a_live_stream(backend: Backend) {
    let app = spawn(backend).await;
    let (sid, token) = answered_call(&app).await;
    let (mut socket, _) = ws::connect(&format!("ws://{}/ws/twilio-media", app.addr)).await;
    ws::send(
        &mut socket,
        &ws::start("MZ7", &sid, &[("call_id", &sid), ("token", &token)]),
    )
    .await;
    let good = StreamEvent::media("MZ7", 2, 1, 20, &[0xff; 160]);
    let long = StreamEvent::media("MZ7", 3, 2, 40, &[0xff; 4_000]);
    let not_base64 = r#"{"event":"media","streamSid":"MZ7","media":{"payload":"%%%not base64"}}"#;
    use futures::SinkExt;
    for i in 0..40 {
        // 40 unusable frames: not yet enough to close.
        let text = if i % 2 == 0 {
            long.to_json()
        } else {
            not_base64.to_string()
        };
        socket
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .unwrap();
        ws::send(&mut socket, &good).await;
    }
    for _ in 0..30 {
        ws::send(&mut socket, &good).await;
    }
    // Had the good frames counted, the stream would be over by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alive = mokdan::store::calls::by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alive.stream_end_reason, None, "good frames are not counted");
    // Eleven more make 51, past the limit of 50; nothing follows them, so the close frame
    // is not lost to a reset.
    for _ in 0..11 {
        socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                long.to_json().into(),
            ))
            .await
            .unwrap();
    }
    let mut closed = None;
    for _ in 0..1_000 {
        match ws::next(&mut socket, Duration::from_secs(2)).await {
            Next::Msg(_) => continue,
            Next::Closed(code) => {
                closed = Some(code);
                break;
            }
            Next::Nothing => break,
        }
    }
    assert_eq!(closed, Some(Some(1008)));
    let row = mokdan::store::calls::by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.stream_end_reason.as_deref(),
        Some("too_many_bad_messages")
    );
    app.shutdown().await.unwrap();
}
dual_test!(a_flood_of_unusable_frames_ends_a_live_stream);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_live_streams_going_away() {
    let app = spawn(Backend::Sqlite).await;
    let (sid, token) = answered_call(&app).await;
    let (mut socket, _) = ws::connect(&format!("ws://{}/ws/twilio-media", app.addr)).await;
    ws::send(
        &mut socket,
        &ws::start("MZ9", &sid, &[("call_id", &sid), ("token", &token)]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = tokio::spawn(app.shutdown());
    let mut code = None;
    for _ in 0..500 {
        match ws::next(&mut socket, Duration::from_secs(5)).await {
            Next::Closed(c) => {
                code = c;
                break;
            }
            Next::Msg(_) => continue,
            Next::Nothing => break,
        }
    }
    assert_eq!(
        code,
        Some(1001),
        "streams close with going-away on shutdown"
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A stream token is good for one live socket (S3): a second socket presenting the same
/// call and token while the call streams is closed with a policy violation and is sent
/// nothing, while the first socket keeps its audio.
async fn a_second_socket_with_the_same_token_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let (sid, token) = answered_call(&app).await;
    let url = format!("ws://{}/ws/twilio-media", app.addr);
    let (mut first, _) = ws::connect(&url).await;
    ws::send(&mut first, &StreamEvent::connected()).await;
    ws::send(
        &mut first,
        &ws::start("MZfirst", &sid, &[("call_id", &sid), ("token", &token)]),
    )
    .await;
    assert!(
        matches!(
            ws::next(&mut first, Duration::from_secs(10)).await,
            Next::Msg(ServerMessage::Media { .. })
        ),
        "the first socket hears the greeting"
    );

    let (mut second, _) = ws::connect(&url).await;
    ws::send(&mut second, &StreamEvent::connected()).await;
    ws::send(
        &mut second,
        &ws::start("MZsecond", &sid, &[("call_id", &sid), ("token", &token)]),
    )
    .await;
    match ws::next(&mut second, Duration::from_secs(5)).await {
        Next::Closed(code) => assert_eq!(code, Some(1008), "policy violation"),
        other => panic!("the second socket must get nothing, got {other:?}"),
    }

    // The first socket streams on.
    let mut more = 0;
    for _ in 0..20 {
        match ws::next(&mut first, Duration::from_secs(5)).await {
            Next::Msg(ServerMessage::Media { stream_sid, .. }) => {
                assert_eq!(stream_sid, "MZfirst");
                more += 1;
            }
            Next::Msg(_) => {}
            other => panic!("the first socket was disturbed: {other:?}"),
        }
    }
    assert!(more > 0, "the greeting goes on to the first socket");
    let row = mokdan::store::calls::by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.stream_sid.as_deref(), Some("MZfirst"));
    app.shutdown().await.unwrap();
}
dual_test!(a_second_socket_with_the_same_token_is_refused);

/// The same across nodes sharing PostgreSQL: the call answered on one node streams to
/// another, and a second socket with the same token on the answering node is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_socket_on_another_node_is_refused() {
    // Two nodes on one database, with one secret for the stream tokens.
    let vars = [
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
        ("JWT_SECRET", "two-nodes-one-secret-0123456789abcdef"),
    ];
    let answering = TestApp::spawn_with(Backend::Postgres, &vars).await;
    let other = TestApp::spawn_on(
        answering.db_url.clone(),
        tempfile::tempdir().unwrap(),
        &vars,
    )
    .await;
    let (sid, token) = answered_call(&answering).await;
    let open = |app: &TestApp| format!("ws://{}/ws/twilio-media", app.addr);
    let (mut first, _) = ws::connect(&open(&other)).await;
    ws::send(&mut first, &StreamEvent::connected()).await;
    ws::send(
        &mut first,
        &ws::start("MZfirst", &sid, &[("call_id", &sid), ("token", &token)]),
    )
    .await;
    let heard = ws::next(&mut first, Duration::from_secs(10)).await;
    assert!(
        matches!(heard, Next::Msg(ServerMessage::Media { .. })),
        "the stream runs on the other node: {heard:?}"
    );
    let (mut second, _) = ws::connect(&open(&answering)).await;
    ws::send(&mut second, &StreamEvent::connected()).await;
    ws::send(
        &mut second,
        &ws::start("MZsecond", &sid, &[("call_id", &sid), ("token", &token)]),
    )
    .await;
    match ws::next(&mut second, Duration::from_secs(5)).await {
        Next::Closed(code) => assert_eq!(code, Some(1008), "policy violation"),
        other => panic!("the second socket must get nothing, got {other:?}"),
    }
    other.shutdown().await.unwrap();
    answering.shutdown().await.unwrap();
}
