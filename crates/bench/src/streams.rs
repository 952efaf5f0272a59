//! `mokdan bench streams`: many concurrent calls, each streaming both ways at the real pace.
//!
//! The server runs as a child process (`mokdan serve`), so its CPU and memory are measured
//! alone from `/proc`. Each simulated call is answered by a signed `incoming_call`, opens
//! the media socket, sends a 20 ms silence frame every 20 ms, and receives the agent's
//! greeting, a long text, as continuous paced playback, echoing marks as Twilio does.
//! Outbound lateness comes from the server's own Prometheus histogram, the same figure
//! production exports.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use futures::{SinkExt, StreamExt};
use telephony::media::{ServerMessage, StartMeta, StreamEvent};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[derive(Args, Debug, Clone)]
pub struct StreamBench {
    /// Concurrent calls; a comma-separated list runs each in turn (e.g. 100,500,1000).
    #[arg(long, default_value = "100")]
    pub calls: String,
    /// Seconds of steady state measured once every call is up.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Calls started per second while ramping up.
    #[arg(long, default_value_t = 200)]
    pub ramp: u64,
    /// Run on a fresh database on this PostgreSQL server (admin URL); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Serve with this mokdan binary instead of the one beside this benchmark, to compare
    /// two builds under the same simulated callers.
    #[arg(long)]
    pub server: Option<std::path::PathBuf>,
}

const TOKEN: &str = "bench-auth-token";
/// A long greeting: continuous playback for the whole measurement.
pub(crate) const GREETING: &str = "שלום וברוכים הבאים. אנחנו כאן כדי לעזור לכם בכל שאלה ובכל בקשה. \
    ספרו לנו בבקשה מה שמכם, מה סיבת הפנייה, ומתי נוח לחזור אליכם. \
    אנחנו זמינים בימים ראשון עד חמישי בין השעות שמונה בבוקר לשש בערב, וביום שישי עד הצהריים. \
    אם מדובר בעניין דחוף, אנא אמרו זאת ונדאג לחזור אליכם בהקדם האפשרי. \
    תודה רבה על הסבלנות, ואנחנו מקשיבים לכם עכשיו. \
    שלום וברוכים הבאים. אנחנו כאן כדי לעזור לכם בכל שאלה ובכל בקשה. \
    ספרו לנו בבקשה מה שמכם, מה סיבת הפנייה, ומתי נוח לחזור אליכם. \
    אנחנו זמינים בימים ראשון עד חמישי בין השעות שמונה בבוקר לשש בערב, וביום שישי עד הצהריים.";

pub async fn run(args: StreamBench) -> anyhow::Result<()> {
    let counts: Vec<usize> = args
        .calls
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--calls: a number or a comma-separated list"))?;
    let mut best = None;
    for n in counts {
        let r = run_once(&args, n).await?;
        if r.p99_ms < 5.0 {
            best = Some(best.map_or(n, |b: usize| b.max(n)));
        }
    }
    match best {
        Some(n) => println!("largest N meeting p99 outbound lateness < 5 ms: {n}"),
        None => println!("no N met p99 outbound lateness < 5 ms"),
    }
    Ok(())
}

struct Outcome {
    p99_ms: f64,
}

async fn run_once(args: &StreamBench, calls: usize) -> anyhow::Result<Outcome> {
    let (db_url, dir) = super::scratch_database(args.postgres.as_deref()).await?;
    {
        let db = mokdan::store::Db::open(&db_url).await?;
        super::add_business(&db, "+97231234567", Some(GREETING), true).await?;
        db.close().await;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let addr = format!("127.0.0.1:{port}");
    let server = match &args.server {
        Some(path) => path.clone(),
        None => crate::mokdan_exe()?,
    };
    let mut child = tokio::process::Command::new(server)
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &db_url)
        .env("MOKDAN_DATA_DIR", dir.path().join("data"))
        .env("MOKDAN_LISTEN", &addr)
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("MOKDAN_WATCHDOG_START_SECS", "600")
        .env("MOKDAN_WATCHDOG_MEDIA_SECS", "600")
        .env(
            "RUST_LOG",
            std::env::var("MOKDAN_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let mut up = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::ensure!(up, "the server did not become ready");
    // The server renders the (long) greeting at start; let it finish before calls arrive.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let rss_before = rss_kb(pid);

    let received = Arc::new(AtomicU64::new(0));
    let audio_bytes = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let gaps_over_60ms = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(calls);
    let ramp_gap = Duration::from_secs_f64(1.0 / args.ramp.max(1) as f64);
    let ramp_started = Instant::now();
    for i in 0..calls {
        let c = CallCtx {
            http: http.clone(),
            base: base.clone(),
            addr: addr.clone(),
            index: i,
            received: received.clone(),
            audio_bytes: audio_bytes.clone(),
            sent: sent.clone(),
            gaps: gaps_over_60ms.clone(),
            stop: stop.clone(),
            stopping: stopping.clone(),
        };
        tasks.push(tokio::spawn(one_call(c)));
        tokio::time::sleep(ramp_gap).await;
    }
    // Let the last calls settle, then measure a steady window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ramp_secs = ramp_started.elapsed().as_secs_f64();
    let lat_before = lateness_histogram(&http, &base).await;
    let (cpu0, t0) = (cpu_ticks(pid), Instant::now());
    let (recv0, sent0, audio0) = (
        received.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed),
        audio_bytes.load(Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let (cpu1, wall) = (cpu_ticks(pid), t0.elapsed().as_secs_f64());
    let (recv1, sent1, audio1) = (
        received.load(Ordering::Relaxed),
        sent.load(Ordering::Relaxed),
        audio_bytes.load(Ordering::Relaxed),
    );
    let rss_during = rss_kb(pid);
    let lat_after = lateness_histogram(&http, &base).await;
    stopping.store(true, Ordering::Relaxed);
    stop.notify_waiters();
    let mut failed = 0;
    for t in tasks {
        if !matches!(t.await, Ok(Ok(()))) {
            failed += 1;
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    if let Some(admin) = &args.postgres {
        super::webhooks::drop_database(admin, &db_url).await;
    }

    let ticks = clock_ticks_per_sec();
    let cores = (cpu1.saturating_sub(cpu0)) as f64 / ticks / wall;
    let window = diff(&lat_after, &lat_before);
    let total: f64 = window.last().map(|(_, c)| *c).unwrap_or(0.0);
    let p50 = quantile(&window, 0.50);
    let p99 = quantile(&window, 0.99);
    let late = total
        - window
            .iter()
            .find(|(le, _)| (*le - 0.005).abs() < 1e-9)
            .map(|(_, c)| *c)
            .unwrap_or(total);
    let per_call_kb = (rss_during.saturating_sub(rss_before)) as f64 / calls.max(1) as f64;
    println!(
        "streams: {calls} concurrent calls ({}), ramped in {ramp_secs:.1} s, measured {wall:.1} s",
        if args.postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    println!(
        "  server CPU          {:.1}% of one core ({cores:.3} cores)",
        cores * 100.0
    );
    println!(
        "  server memory       {} MB resident ({} MB before calls), {per_call_kb:.0} KB per call",
        rss_during / 1024,
        rss_before / 1024
    );
    let per_call_s = wall * calls.max(1) as f64;
    println!(
        "  caller→server       {} frames ({:.1}/s per call, expected 50)",
        sent1 - sent0,
        (sent1 - sent0) as f64 / per_call_s
    );
    // Audio played per second of wall time: 1000 ms means continuous playback.
    println!(
        "  server→caller       {} media messages ({:.1}/s per call), {:.0} ms of audio per second per call (expected 1000)",
        recv1 - recv0,
        (recv1 - recv0) as f64 / per_call_s,
        (audio1 - audio0) as f64 / 8.0 / per_call_s
    );
    println!(
        "  outbound lateness   p50 {:.3} ms  p99 {:.3} ms  frames later than 5 ms: {} of {}",
        p50 * 1e3,
        p99 * 1e3,
        late as u64,
        total as u64
    );
    println!(
        "  client saw gaps > 60 ms: {}   failed calls: {failed}",
        gaps_over_60ms.load(Ordering::Relaxed)
    );
    Ok(Outcome { p99_ms: p99 * 1e3 })
}

pub(crate) struct CallCtx {
    pub http: reqwest::Client,
    pub base: String,
    pub addr: String,
    pub index: usize,
    pub received: Arc<AtomicU64>,
    pub audio_bytes: Arc<AtomicU64>,
    pub sent: Arc<AtomicU64>,
    pub gaps: Arc<AtomicU64>,
    pub stop: Arc<tokio::sync::Notify>,
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
}

pub(crate) async fn one_call(c: CallCtx) -> anyhow::Result<()> {
    let call_sid = format!("CA{:032x}", c.index + 1);
    let url = format!("{}/webhook/incoming_call", c.base);
    let form: Vec<(String, String)> = [
        ("CallSid", call_sid.as_str()),
        ("From", "+972501234567"),
        ("To", "+97231234567"),
        ("Direction", "inbound"),
        ("CallStatus", "ringing"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = telephony::signature::compute(TOKEN, &url, &form);
    let xml = c
        .http
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(&form)
        .send()
        .await?
        .text()
        .await?;
    let twiml = telephony::twiml::parse(&xml)?;
    let Some(connect) = twiml.stream_connect() else {
        anyhow::bail!("no <Connect> in {xml}");
    };
    let mut req = format!("ws://{}/ws/twilio-media", c.addr).into_client_request()?;
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "audio.twilio.com".parse()?);
    // A small read buffer, as the server uses: tungstenite zero-fills the free capacity
    // before each read, and the bench's client shares the machine with the server.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false).await?;
    let (mut tx, mut rx) = ws.split();
    let stream_sid = format!("MZ{:032x}", c.index + 1);
    let mut meta = StartMeta::new("AC0", &call_sid, &stream_sid);
    for (k, v) in &connect.stream.parameters {
        meta = meta.custom_parameter(k, v);
    }
    tx.send(Message::Text(StreamEvent::connected().to_json().into()))
        .await?;
    tx.send(Message::Text(StreamEvent::start(1, meta).to_json().into()))
        .await?;
    // The caller's frames are written directly (one allocation each), as Twilio lays them
    // out, so the client spends little of the shared machine's CPU.
    let silence = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0xFFu8; 160]);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 2u64;
    let mut last_media: Option<Instant> = None;
    let stopped = c.stop.notified();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {
                if c.stopping.load(Ordering::Relaxed) { break; }
                let chunk = seq - 1;
                let frame = format!(
                    r#"{{"event":"media","sequenceNumber":"{seq}","media":{{"track":"inbound","chunk":"{chunk}","timestamp":"{}","payload":"{silence}"}},"streamSid":"{stream_sid}"}}"#,
                    chunk * 20
                );
                seq += 1;
                tx.send(Message::Text(frame.into())).await?;
                c.sent.fetch_add(1, Ordering::Relaxed);
            }
            msg = rx.next() => {
                let Some(Ok(Message::Text(t))) = msg else {
                    if matches!(msg, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) { break; }
                    continue;
                };
                match telephony::media::parse_server_message(&t) {
                    Ok(ServerMessage::Media { media, .. }) => {
                        // The decoded length, from the (already validated) base64.
                        let b64 = media.payload.as_bytes();
                        let pad = b64.iter().rev().take_while(|&&c| c == b'=').count();
                        c.audio_bytes.fetch_add((b64.len() / 4 * 3 - pad) as u64, Ordering::Relaxed);
                        let now = Instant::now();
                        if let Some(prev) = last_media
                            && now.duration_since(prev) > Duration::from_millis(60)
                        {
                            c.gaps.fetch_add(1, Ordering::Relaxed);
                        }
                        last_media = Some(now);
                        c.received.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(ServerMessage::Mark { mark, .. }) => {
                        let ev = StreamEvent::mark(&stream_sid, seq, &mark.name);
                        seq += 1;
                        tx.send(Message::Text(ev.to_json().into())).await?;
                    }
                    Ok(ServerMessage::Clear { .. }) => last_media = None,
                    Err(e) => anyhow::bail!("bad server message: {e}"),
                }
            }
        }
    }
    let _ = tx
        .send(Message::Text(
            StreamEvent::stop(&stream_sid, seq, "AC0", &call_sid)
                .to_json()
                .into(),
        ))
        .await;
    let _ = tx.close().await;
    Ok(())
}

/// Cumulative (upper bound, count) pairs of the lateness histogram.
pub(crate) async fn lateness_histogram(http: &reqwest::Client, base: &str) -> Vec<(f64, f64)> {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("mokdan_outbound_frame_lateness_seconds_bucket{le=\"")
        else {
            continue;
        };
        let Some((le, count)) = rest.split_once("\"} ") else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::INFINITY)
        };
        out.push((le, count.trim().parse().unwrap_or(0.0)));
    }
    out
}

pub(crate) fn diff(after: &[(f64, f64)], before: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let prev: HashMap<u64, f64> = before.iter().map(|(le, c)| (le.to_bits(), *c)).collect();
    after
        .iter()
        .map(|(le, c)| (*le, c - prev.get(&le.to_bits()).copied().unwrap_or(0.0)))
        .collect()
}

/// A quantile from cumulative buckets, interpolating linearly inside the bucket.
pub(crate) fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let total = buckets.last().map(|(_, c)| *c).unwrap_or(0.0);
    if total <= 0.0 {
        return 0.0;
    }
    let target = q * total;
    let (mut lo, mut lo_count) = (0.0, 0.0);
    for (le, count) in buckets {
        if *count >= target {
            if le.is_infinite() {
                return lo;
            }
            let span = (count - lo_count).max(1e-9);
            return lo + (le - lo) * ((target - lo_count) / span);
        }
        lo = *le;
        lo_count = *count;
    }
    lo
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is 14th, stime 15th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn clock_ticks_per_sec() -> f64 {
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let b = [
            (0.001, 50.0),
            (0.002, 90.0),
            (0.005, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert!((quantile(&b, 0.5) - 0.001).abs() < 1e-9);
        assert!((quantile(&b, 0.7) - 0.0015).abs() < 1e-9);
        assert!(quantile(&b, 0.99) > 0.002 && quantile(&b, 0.99) <= 0.005);
    }
}
