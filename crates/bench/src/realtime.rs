//! `mokdan bench voice --realtime`: what the Realtime engine costs per call, apart from the
//! model's own time.
//!
//! Calls of the real engine ([`voice::realtime`]) each with the real paced sender run
//! in-process, against a stand-in Realtime server on its own runtime (threads named
//! `rt-standin`, so their CPU is not counted as ours). The caller speaks 1.5 s of Hebrew
//! (espeak-ng) then stays silent, in real time, 20 ms frames; the stand-in detects the end
//! of speech (500 ms of silence) and answers exactly 300 ms later with 2 s of audio in
//! 100 ms deltas, as the service streams it. Figures:
//! - added latency: the stand-in's first audio delta sent → the first `media` message
//!   leaving the call's sender for Twilio (socket, JSON, base64, the session, the pacing);
//! - CPU per call: our threads' CPU time over a steady window, per call, as a share of a core;
//! - memory per call: resident memory grown per call (an upper bound: it includes the
//!   stand-in's side of each socket).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use voice::provider::AgentContext;
use voice::session::{Providers, SessionInput, SessionOutput};

use super::{ms, percentile};
use mokdan::calls::media::sender::{self, Outbound};

/// When each call's current reply left the stand-in (its first audio delta).
type Sent = Arc<Mutex<HashMap<usize, Instant>>>;

const ANSWER_AFTER: Duration = Duration::from_millis(300);
const REPLY_MS: u32 = 2_000;

pub async fn run(counts: &[usize], seconds: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        voice::tts::espeak::available(),
        "espeak-ng is needed (apt-get install espeak-ng)"
    );
    let caller =
        voice::tts::espeak::synthesize("שלום, קוראים לי דנה כהן ואני רוצה לקבוע תור").await?;
    let mut frames =
        audio::frame::pcm_to_mulaw_frames(&caller.to_mono().samples, caller.sample_rate);
    frames.truncate(75);
    let frames = Arc::new(frames);
    let providers = Providers {
        stt: None,
        tts: Arc::new(voice::tts::espeak::EspeakTts::default()),
        agent: Arc::new(voice::agent::scripted::ScriptedAgent),
    };
    let ctx = AgentContext {
        business_name: "bench".into(),
        ..Default::default()
    };
    voice::session::prewarm(&providers, &ctx, Duration::from_secs(30)).await;

    let sent: Sent = Arc::default();
    let url = stand_in(sent.clone())?;
    println!(
        "Realtime engine, stand-in answering {} ms after speech stops, {} s per run",
        ANSWER_AFTER.as_millis(),
        seconds
    );
    for &calls in counts {
        let rss_before = rss_kb();
        let stop = Arc::new(AtomicBool::new(false));
        let added: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let mut tasks = Vec::new();
        for i in 0..calls {
            let mut cfg = voice::realtime::RealtimeConfig::new("bench-realtime", "bench-key");
            cfg.url = format!("{url}?call={i}");
            let h = voice::realtime::spawn(Arc::new(cfg), providers.clone(), ctx.clone());
            tasks.push(tokio::spawn(drive(
                i,
                h,
                frames.clone(),
                sent.clone(),
                added.clone(),
                stop.clone(),
            )));
            // Calls arrive over a second, not all in one instant.
            tokio::time::sleep(Duration::from_micros(2_000_000 / calls as u64)).await;
        }
        // Steady state: skip the first seconds, then measure.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let cpu0 = our_cpu();
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let cpu = our_cpu().saturating_sub(cpu0);
        let wall = t0.elapsed();
        let rss = rss_kb().saturating_sub(rss_before);
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            let _ = t.await;
        }
        let mut added = std::mem::take(&mut *added.lock().expect("added"));
        added.sort();
        let cores = cpu.as_secs_f64() / wall.as_secs_f64();
        println!("{calls} concurrent calls: {} replies", added.len());
        println!(
            "  added latency (model's first audio → first frame to Twilio)  p50 {}  p99 {}",
            ms(percentile(&added, 50.0)),
            ms(percentile(&added, 99.0))
        );
        println!(
            "  CPU {:.2} cores in all, {:.3} % of a core per call",
            cores,
            cores * 100.0 / calls as f64
        );
        println!(
            "  memory {} KB resident grown, {:.0} KB per call",
            rss,
            rss as f64 / calls as f64
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

/// One call: Twilio's side (frames in real time, marks echoed as the sender writes them)
/// around the real engine and the real paced sender.
async fn drive(
    call: usize,
    mut h: voice::session::SessionHandle,
    frames: Arc<Vec<Vec<u8>>>,
    sent: Sent,
    added: Arc<Mutex<Vec<Duration>>>,
    stop: Arc<AtomicBool>,
) {
    let (out_tx, commands) = mpsc::channel(64);
    let (socket_tx, mut socket_rx) = mpsc::channel(256);
    let sender_task = tokio::spawn(sender::run(
        format!("MZbench{call}"),
        commands,
        socket_tx,
        false,
    ));
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let silence = vec![audio::mulaw::SILENCE; 160];
    // Frames into the current cycle: speak, then listen for 4 s.
    let mut n = 0usize;
    let cycle = frames.len() + 200;
    let mut awaiting = false;
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            _ = tick.tick() => {
                let f = frames.get(n).cloned().unwrap_or_else(|| silence.clone());
                n = (n + 1) % cycle;
                if n == frames.len() {
                    awaiting = true;
                }
                if h.input.try_send(SessionInput::Audio(f)).is_err() {
                    break;
                }
            }
            out = h.output.recv() => match out {
                Some(SessionOutput::Audio { utterance, mulaw }) => {
                    let _ = out_tx.send(Outbound::Audio { utterance, mulaw }).await;
                }
                Some(SessionOutput::UtteranceEnd { utterance }) => {
                    let _ = out_tx.send(Outbound::UtteranceEnd { utterance }).await;
                }
                Some(SessionOutput::Clear) => {
                    let _ = out_tx.send(Outbound::Clear).await;
                }
                Some(SessionOutput::End { .. } | SessionOutput::Fallback { .. }) | None => break,
                Some(_) => {}
            },
            msg = socket_rx.recv() => {
                let Some(axum::extract::ws::Message::Text(text)) = msg else { continue };
                if text.contains("\"event\":\"media\"") {
                    if awaiting
                        && let Some(at) = sent.lock().expect("sent").remove(&call)
                    {
                        awaiting = false;
                        added.lock().expect("added").push(at.elapsed());
                    }
                } else if text.contains("\"event\":\"mark\"") {
                    // Played at once: the bench measures our cost, not playback.
                    if let Ok(v) = serde_json::from_str::<Value>(text.as_str())
                        && let Some(u) = v["mark"]["name"].as_str().and_then(sender::parse_mark)
                    {
                        let _ = h.input.try_send(SessionInput::Played { utterance: u });
                    }
                }
            }
        }
    }
    let _ = h.input.send(SessionInput::Hangup).await;
    drop(out_tx);
    let _ = sender_task.await;
}

/// Starts the stand-in on its own runtime; returns its URL.
fn stand_in(sent: Sent) -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rt-standin")
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("rt-standin".into())
        .spawn(move || {
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new()
                    .route("/v1/realtime", axum::routing::get(upgrade))
                    .with_state(sent);
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let _ = axum::serve(listener, app).await;
            })
        })?;
    Ok(format!("ws://{addr}/v1/realtime"))
}

async fn upgrade(
    State(sent): State<Sent>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let call: usize = q
        .get("call")
        .and_then(|c| c.parse().ok())
        .unwrap_or(usize::MAX);
    ws.read_buffer_size(16 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |s| answer(s, call, sent))
}

/// One call's model: speech detection by energy, then a reply 300 ms after speech stops.
async fn answer(mut socket: WebSocket, call: usize, sent: Sent) {
    let mut speaking = false;
    let mut quiet = 0u32;
    let mut answer_at: Option<tokio::time::Instant> = None;
    let mut deltas_left = 0u32;
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    let delta = B64.encode(vec![0x11u8; 800]);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let Some(Ok(WsMessage::Text(t))) = msg else { break };
                if !t.as_str().starts_with(r#"{"type":"input_audio_buffer.append""#) {
                    continue;
                }
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                let frame = B64.decode(v["audio"].as_str().unwrap_or_default()).unwrap_or_default();
                let level = frame.iter().map(|&b| i32::from(audio::mulaw::decode_sample(b)).abs()).sum::<i32>()
                    / frame.len().max(1) as i32;
                if level > 600 {
                    quiet = 0;
                    if !speaking {
                        speaking = true;
                        let _ = socket.send(WsMessage::Text(json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": "item_in"}).to_string().into())).await;
                    }
                } else if speaking {
                    quiet += 1;
                    if quiet >= 25 {
                        speaking = false;
                        let _ = socket.send(WsMessage::Text(json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 0, "item_id": "item_in"}).to_string().into())).await;
                        answer_at = Some(tokio::time::Instant::now() + ANSWER_AFTER);
                    }
                }
            }
            _ = tokio::time::sleep_until(answer_at.unwrap_or_else(tokio::time::Instant::now)), if answer_at.is_some() => {
                answer_at = None;
                seq += 1;
                deltas_left = REPLY_MS / 100;
                let _ = socket.send(WsMessage::Text(json!({"type": "response.created", "response": {"id": format!("resp_{seq}")}}).to_string().into())).await;
                pace.reset_immediately();
            }
            _ = pace.tick(), if deltas_left > 0 => {
                let first = deltas_left == REPLY_MS / 100;
                deltas_left -= 1;
                let ev = json!({"type": "response.output_audio.delta", "response_id": format!("resp_{seq}"), "item_id": format!("item_{seq}"), "output_index": 0, "content_index": 0, "delta": delta});
                let text = ev.to_string();
                // Stamped as the first audio leaves: the stand-in's own lag is not ours.
                if first {
                    sent.lock().expect("sent").insert(call, Instant::now());
                }
                if socket.send(WsMessage::Text(text.into())).await.is_err() {
                    break;
                }
                if deltas_left == 0 {
                    let _ = socket.send(WsMessage::Text(json!({"type": "response.done", "response": {"id": format!("resp_{seq}"), "status": "completed"}}).to_string().into())).await;
                }
            }
        }
    }
}

/// CPU time of this process's threads, except the stand-in's.
fn our_cpu() -> Duration {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.starts_with("rt-standin") {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis; utime and stime are 14 and 15.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (u, s) = (
            f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0),
            f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0),
        );
        total += (u + s) / tick;
    }
    Duration::from_secs_f64(total)
}

/// Resident memory of this process, KB.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
