//! A bare Media Streams client for socket tests that need to misbehave precisely.

use futures::{SinkExt, StreamExt};
use telephony::media::{ServerMessage, StartMeta, StreamEvent};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the media socket offering Twilio's subprotocol; returns the echoed protocol.
pub async fn connect(url: &str) -> (Socket, Option<String>) {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("audio.twilio.com"),
    );
    let (socket, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("handshake");
    let proto = resp
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_string());
    (socket, proto)
}

pub async fn send(socket: &mut Socket, event: &StreamEvent) {
    socket
        .send(Message::Text(event.to_json().into()))
        .await
        .unwrap();
}

pub fn start(stream_sid: &str, call_sid: &str, params: &[(&str, &str)]) -> StreamEvent {
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
