//! The four kinds of traffic of the mixed load, each a loop that runs until told to stop.
//!
//! Voice webhooks run closed-loop (as fast as the server answers, at a fixed number in
//! flight) because the issue asks for the highest sustainable rate; WhatsApp runs
//! open-loop at a fixed rate, as Twilio delivers it whether or not we keep up; API reads
//! run closed-loop at a small concurrency, like a few people using the web app.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::stats::Stats;

pub const TOKEN: &str = "bench-auth-token";
pub const BUSINESS: &str = "+97231234567";

/// What every loop shares.
#[derive(Clone)]
pub struct Ctx {
    pub http: reqwest::Client,
    pub base: String,
    pub stats: Arc<Stats>,
    pub stopping: Arc<AtomicBool>,
    /// CallSids whose `incoming_call` was answered 200, and whether their final
    /// `call_status completed` was acknowledged.
    pub calls: Arc<Mutex<Vec<(String, bool)>>>,
    /// MessageSids whose inbound webhook was answered 200.
    pub messages: Arc<Mutex<Vec<String>>>,
}

impl Ctx {
    fn stopped(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

/// Sends a form signed as Twilio signs it (over the URL it called); returns the status,
/// or 0 when no answer came.
pub async fn post_signed(http: &reqwest::Client, url: &str, form: &[(String, String)]) -> u16 {
    let sig = telephony::signature::compute(TOKEN, url, form);
    match http
        .post(url)
        .header("X-Twilio-Signature", sig)
        .form(form)
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) => {
            let s = r.status().as_u16();
            let _ = r.bytes().await;
            s
        }
        Err(_) => 0,
    }
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn call_form(sid: &str, status: &str) -> Vec<(String, String)> {
    form(&[
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", sid),
        ("CallStatus", status),
        ("Direction", "inbound"),
        ("From", "+972501234567"),
        ("To", BUSINESS),
        ("CallDuration", "31"),
    ])
}

/// Reports a call's end as Twilio does (`call_status completed`), recording the answer.
pub async fn complete_call(ctx: &Ctx, sid: &str) -> bool {
    let url = format!("{}/webhook/call_status", ctx.base);
    let t0 = Instant::now();
    let status = post_signed(&ctx.http, &url, &call_form(sid, "completed")).await;
    ctx.stats.record("POST /webhook/call_status", t0, status);
    (200..300).contains(&status)
}

/// Closed-loop voice webhooks: a call arrives (`incoming_call`), then ends (`call_status`).
pub async fn voice_loop(ctx: Ctx, worker: u64, next: Arc<AtomicU64>) {
    let url = format!("{}/webhook/incoming_call", ctx.base);
    while !ctx.stopped() {
        let n = next.fetch_add(1, Ordering::Relaxed);
        // Distinct from the streamed calls' CallSids (which count up from 1).
        let sid = format!("CA{:016x}{:016x}", 0xB0_u64 + worker, n);
        let t0 = Instant::now();
        let status = post_signed(&ctx.http, &url, &call_form(&sid, "ringing")).await;
        ctx.stats.record("POST /webhook/incoming_call", t0, status);
        if status != 200 {
            continue;
        }
        let completed = complete_call(&ctx, &sid).await;
        ctx.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((sid, completed));
    }
}

/// Open-loop WhatsApp inbound at `rate` per second, at most `max_in_flight` at once;
/// returns how many were not sent because the client fell behind.
pub async fn whatsapp_loop(ctx: Ctx, rate: u64, max_in_flight: usize) -> u64 {
    let url = format!("{}/webhook/whatsapp/twilio", ctx.base);
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let per_tick = (rate as f64 / 100.0).max(0.0);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut owed, mut n, mut behind) = (0.0f64, 0u64, 0u64);
    while !ctx.stopped() {
        tick.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            n += 1;
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                behind += 1;
                continue;
            };
            let (ctx, url) = (ctx.clone(), url.clone());
            tokio::spawn(async move {
                let sid = format!("SM{n:032x}");
                let from = format!("whatsapp:+97250{:07}", n % 5_000);
                let body = format!("שלום, אפשר לקבוע תור למחר? 🙏 ({n})");
                let f = form(&[
                    ("SmsMessageSid", &sid),
                    ("NumMedia", "0"),
                    ("ProfileName", "דנה"),
                    ("MessageType", "text"),
                    ("WaId", &from[10..]),
                    ("SmsStatus", "received"),
                    ("Body", &body),
                    ("To", &format!("whatsapp:{BUSINESS}")),
                    ("MessageSid", &sid),
                    ("AccountSid", "AC00000000000000000000000000000000"),
                    ("From", &from),
                    ("ApiVersion", "2010-04-01"),
                ]);
                let t0 = Instant::now();
                let status = post_signed(&ctx.http, &url, &f).await;
                ctx.stats
                    .record("POST /webhook/whatsapp/twilio", t0, status);
                if status == 200 {
                    ctx.messages
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(sid);
                }
                drop(permit);
            });
        }
    }
    // Let the last deliveries finish.
    let _ = slots.acquire_many(max_in_flight as u32).await;
    behind
}

/// Closed-loop CRM reads: customer pages and the call list, alternately.
pub async fn api_loop(ctx: Ctx, token: String, worker: usize) {
    let mut i = worker;
    while !ctx.stopped() {
        i += 1;
        let (route, path) = if i.is_multiple_of(2) {
            (
                "GET /api/customers",
                format!("/api/customers?page={}&per_page=50", i % 20 + 1),
            )
        } else {
            ("GET /api/calls", "/api/calls?per_page=50".to_string())
        };
        let t0 = Instant::now();
        let status = match ctx
            .http
            .get(format!("{}{path}", ctx.base))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(10))
            .send()
            .await
        {
            Ok(r) => {
                let s = r.status().as_u16();
                let _ = r.bytes().await;
                s
            }
            Err(_) => 0,
        };
        ctx.stats.record(route, t0, status);
        if status == 0 || status >= 500 {
            // The database is away: don't spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `/readyz` every 250 ms; returns the (offset, status) of every change.
pub async fn watch_readiness(ctx: Ctx) -> Vec<(Duration, u16)> {
    let mut changes = Vec::new();
    let mut last = 0u16;
    while !ctx.stopped() {
        let status = match ctx
            .http
            .get(format!("{}/readyz", ctx.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        };
        if status != last {
            changes.push((ctx.stats.elapsed(), status));
            last = status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    changes
}
