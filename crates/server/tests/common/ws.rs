//! A bare Media Streams client for socket tests that need to misbehave precisely.

use futures::{SinkExt, StreamExt};
use telephony::media::{ServerMessage, StartMeta, StreamEvent};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::TestApp;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the media socket offering Twilio's subprotocol; returns the echoed protocol.
pub async fn connect(url: &str) -> (Socket, Option<String>) {
    connect_with(url, &[]).await.expect("handshake")
}

/// Like [`connect`], with extra handshake headers; the handshake's error when refused.
pub async fn connect_with(
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<(Socket, Option<String>), tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("audio.twilio.com"),
    );
    for (name, value) in headers {
        req.headers_mut()
            .insert(*name, HeaderValue::from_str(value).unwrap());
    }
    let (socket, resp) = tokio_tungstenite::connect_async(req).await?;
    let proto = resp
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string());
    Ok((socket, proto))
}

pub async fn send(socket: &mut Socket, event: &StreamEvent<'_>) {
    socket
        .send(Message::Text(event.to_json().into()))
        .await
        .unwrap();
}

pub fn start(stream_sid: &str, call_sid: &str, params: &[(&str, &str)]) -> StreamEvent<'static> {
    let mut meta = StartMeta::new(super::twilio::ACCOUNT_SID, call_sid, stream_sid);
    for (k, v) in params {
        meta = meta.custom_parameter(*k, *v);
    }
    StreamEvent::start(1, meta)
}

/// What the server sent next: a message, a close code, or nothing within the wait.
#[derive(Debug)]
pub enum Next {
    Msg(ServerMessage),
    Closed(Option<u16>),
    Nothing,
}

pub async fn next(socket: &mut Socket, wait: std::time::Duration) -> Next {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return Next::Nothing,
            Ok(None) => return Next::Closed(None),
            Ok(Some(Err(_))) => return Next::Closed(None),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Next::Closed(frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                return Next::Msg(
                    telephony::media::parse_server_message(&t).expect("server message is valid"),
                );
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

/// Answers a call through `incoming_call` (one business owns the number): its SID and
/// the stream token from the TwiML's `<Parameter>`.
pub async fn answered_call(app: &TestApp) -> (String, String) {
    let phone = mokdan::domain::Phone::parse("+97231234567").unwrap();
    let _ = mokdan::store::businesses::create(&app.state.db, "מוסך", &phone).await;
    let sid = super::twilio::new_call_sid();
    let t = app
        .twiml(
            "/webhook/incoming_call",
            &super::twilio::call_params(&sid, "+972501234567", "+97231234567"),
        )
        .await;
    let Some(c) = t.stream_connect() else {
        panic!("{:?}", t.verbs)
    };
    let token = c
        .stream
        .parameters
        .iter()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .clone();
    (sid, token)
}
