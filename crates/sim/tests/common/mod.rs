//! A minimal voice server playing mokdan's side of the contract, so the sim's tests
//! exercise it over real HTTP and WebSocket: signed webhooks answered with absolute
//! TwiML, a media socket that greets with audio and a mark, and knobs to make it
//! misbehave (wrong streamSid, relative URL, clear, failing webhook).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use telephony::media::{MarkFrame, ServerMessage, StartFrame, StreamEvent};

pub const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "test-auth-token";

pub fn sim_config(speed: f64) -> sim::SimConfig {
    sim::SimConfig::new(ACCOUNT, TOKEN).speed(speed)
}

/// `ms` of a loud 440 Hz tone as 8 kHz mu-law.
pub fn tone_mulaw(ms: u32) -> Vec<u8> {
    let n = (ms * 8) as usize;
    let pcm: Vec<i16> = (0..n)
        .map(|i| ((i as f32 / 8000.0 * 440.0 * std::f32::consts::TAU).sin() * 9000.0) as i16)
        .collect();
    audio::mulaw::encode(&pcm)
}

/// `ms` of tone as a 16 kHz PCM WAV (the caller's "voice").
pub fn tone_wav_16k(ms: u32) -> Vec<u8> {
    let n = (ms * 16) as usize;
    let pcm: Vec<i16> = (0..n)
        .map(|i| ((i as f32 / 16000.0 * 300.0 * std::f32::consts::TAU).sin() * 9000.0) as i16)
        .collect();
    audio::wav::write_pcm16(16_000, &pcm)
}

#[derive(Clone, Default)]
pub struct Behaviour {
    /// Agent greeting sent right after `start`, followed by mark "greeting".
    pub greeting_ms: u32,
    /// Send `clear` this long after the greeting.
    pub clear_after: Option<Duration>,
    /// Reply with 300 ms of audio + a mark when the caller's speech ends.
    pub reply: bool,
    /// Send one media message with a wrong streamSid.
    pub wrong_sid: bool,
    /// Put a relative `<Play>` before the Connect.
    pub relative_play: bool,
    /// Answer incoming_call with this status instead of 200.
    pub incoming_status: Option<u16>,
    /// Close the socket once the greeting's mark comes back.
    pub close_after_greeting: bool,
    /// Send garbage and an unknown event after `start`.
    pub malformed: bool,
    /// Speak before Twilio's `start` (a guessed streamSid, straight after upgrade).
    pub early: bool,
    /// Ask the sim's REST API (at this base) to record the whole call on `start`.
    pub record_call_via: Option<String>,
}

pub type Form = Vec<(String, String)>;

#[derive(Default)]
pub struct Seen {
    /// (path, form, signature valid)
    pub webhooks: Vec<(String, Form, bool)>,
    pub subprotocol: Option<String>,
    pub events: Vec<(Instant, StreamEvent<'static>)>,
    pub marks_sent: Vec<(Instant, String)>,
    pub clear_sent: Option<Instant>,
}

pub struct VoiceServer {
    pub base: String,
    pub seen: Arc<Mutex<Seen>>,
}

#[derive(Clone)]
struct AppState {
    base: String,
    behaviour: Behaviour,
    seen: Arc<Mutex<Seen>>,
}

impl VoiceServer {
    pub async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let state = AppState {
            base: base.clone(),
            behaviour,
            seen: seen.clone(),
        };
        let app = Router::new()
            .route("/webhook/{name}", post(webhook))
            .route("/static/greeting.wav", get(greeting_wav))
            .route("/ws/twilio-media", any(media_socket))
            .with_state(state);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, seen }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }

    /// Forms posted to `/webhook/{name}`, with their signature validity.
    pub fn forms(&self, name: &str) -> Vec<(Form, bool)> {
        let path = format!("/webhook/{name}");
        self.seen()
            .webhooks
            .iter()
            .filter(|w| w.0 == path)
            .map(|w| (w.1.clone(), w.2))
            .collect()
    }

    pub fn started(&self) -> bool {
        self.seen()
            .events
            .iter()
            .any(|e| matches!(e.1, StreamEvent::Start(_)))
    }
}

pub fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn twiml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml")], body).into_response()
}

async fn webhook(State(st): State<AppState>, headers: HeaderMap, req: Request) -> Response {
    let uri = req.uri().to_string();
    let path = req.uri().path().to_owned();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let sig = headers
        .get("X-Twilio-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok = telephony::signature::validate(TOKEN, &format!("{}{uri}", st.base), &form, sig);
    st.seen
        .lock()
        .unwrap()
        .webhooks
        .push((path.clone(), form, ok));
    let b = &st.base;
    match path.as_str() {
        "/webhook/incoming_call" => {
            if let Some(code) = st.behaviour.incoming_status {
                return StatusCode::from_u16(code).unwrap().into_response();
            }
            let play = if st.behaviour.relative_play {
                "<Play>/static/greeting.wav</Play>".to_owned()
            } else {
                String::new()
            };
            let ws = b.replacen("http://", "wss://", 1);
            twiml(format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Response>{play}<Connect action="{b}/webhook/stream_ended"><Stream url="{ws}/ws/twilio-media" statusCallback="{b}/webhook/stream_status"><Parameter name="call_id" value="42"/><Parameter name="token" value="tok-123"/></Stream></Connect></Response>"#
            ))
        }
        "/webhook/stream_ended" | "/webhook/handle_recording" => {
            twiml("<Response><Hangup/></Response>".into())
        }
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn greeting_wav() -> Response {
    let wav = audio::wav::write_mulaw(8000, &tone_mulaw(500));
    ([(header::CONTENT_TYPE, "audio/wav")], wav).into_response()
}

async fn media_socket(
    State(st): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    st.seen.lock().unwrap().subprotocol = offered;
    ws.protocols(["audio.twilio.com"])
        .on_upgrade(move |socket| run_socket(st, socket))
}

async fn send(socket: &mut WebSocket, msg: ServerMessage) {
    let _ = socket.send(Message::Text(msg.to_json().into())).await;
}

fn is_speech(frame: &[u8]) -> bool {
    let sum: u64 = frame
        .iter()
        .map(|&b| u64::from(audio::mulaw::decode_sample(b).unsigned_abs()))
        .sum();
    sum / frame.len().max(1) as u64 > 1000
}

async fn run_socket(st: AppState, mut socket: WebSocket) {
    let mut sid = String::new();
    if st.behaviour.early {
        send(
            &mut socket,
            ServerMessage::media("MZguess", &tone_mulaw(20)),
        )
        .await;
    }
    let mut clear_at: Option<tokio::time::Instant> = None;
    let mut speaking = false;
    let mut quiet = 0;
    let mut replies = 0;
    loop {
        let sleep = async {
            match clear_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {
                clear_at = None;
                send(&mut socket, ServerMessage::clear(&sid)).await;
                st.seen.lock().unwrap().clear_sent = Some(Instant::now());
            }
            msg = socket.recv() => {
                let Some(Ok(Message::Text(text))) = msg else { break };
                let ev = telephony::media::parse_event(text.as_str()).unwrap();
                st.seen.lock().unwrap().events.push((Instant::now(), ev.clone()));
                match ev {
                    StreamEvent::Start(StartFrame { ref stream_sid, .. }) => {
                        sid = stream_sid.clone();
                        let b = &st.behaviour;
                        if b.malformed {
                            let _ = socket.send(Message::Text("{not json".into())).await;
                            let _ = socket.send(Message::Text(format!(r#"{{"event":"dance","streamSid":"{sid}"}}"#).into())).await;
                        }
                        if let Some(api) = &b.record_call_via {
                            let call_sid = match &ev {
                                StreamEvent::Start(f) => f.start.call_sid.clone(),
                                _ => unreachable!(),
                            };
                            let status = reqwest::Client::builder().no_proxy().build().unwrap()
                                .post(format!("{api}/2010-04-01/Accounts/{ACCOUNT}/Calls/{call_sid}/Recordings.json"))
                                .basic_auth(ACCOUNT, Some(TOKEN))
                                .form(&[("RecordingStatusCallback", format!("{}/webhook/recording_status", st.base))])
                                .send().await.unwrap().status();
                            assert_eq!(status, 201);
                        }
                        if b.wrong_sid {
                            send(&mut socket, ServerMessage::media("MZ00000000000000000000000000000000", &tone_mulaw(100))).await;
                        }
                        if b.greeting_ms > 0 {
                            for chunk in tone_mulaw(b.greeting_ms).chunks(800) {
                                send(&mut socket, ServerMessage::media(&sid, chunk)).await;
                            }
                            send(&mut socket, ServerMessage::mark(&sid, "greeting")).await;
                            st.seen.lock().unwrap().marks_sent.push((Instant::now(), "greeting".into()));
                            if let Some(after) = b.clear_after {
                                clear_at = Some(tokio::time::Instant::now() + after);
                            }
                        }
                    }
                    StreamEvent::Media(media) => {
                        let frame = media.decode().unwrap();
                        if is_speech(&frame) {
                            speaking = true;
                            quiet = 0;
                        } else if speaking {
                            quiet += 1;
                            if quiet == 15 && st.behaviour.reply {
                                speaking = false;
                                replies += 1;
                                let name = format!("reply-{replies}");
                                send(&mut socket, ServerMessage::media(&sid, &tone_mulaw(300))).await;
                                send(&mut socket, ServerMessage::mark(&sid, &name)).await;
                                st.seen.lock().unwrap().marks_sent.push((Instant::now(), name));
                            }
                        }
                    }
                    StreamEvent::Mark(MarkFrame { mark, .. })
                        if mark.name == "greeting" && st.behaviour.close_after_greeting =>
                    {
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                    StreamEvent::Stop(_) => break,
                    _ => {}
                }
            }
        }
    }
}
