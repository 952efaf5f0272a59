//! `mokdan bench mixed`: everything at once against PostgreSQL, for minutes, with a
//! database outage in the middle — then a check that nothing was lost (MISSION V3, V12, O3).
//!
//! The server runs as a child process (`mokdan serve`) so its CPU and memory are its own;
//! its database connection goes through a proxy the run can cut. The load is the issue's
//! mix: signed voice webhooks at the highest rate the server sustains, paced two-way media
//! streams, WhatsApp inbound at a fixed rate, and CRM API reads. The run ends with the
//! checks the product promises: no Twilio route answered 5xx, every acknowledged call has
//! its row with its final status, every acknowledged WhatsApp message is stored once.
//! It exits non-zero when a promise is broken, so the test suite runs a short version.

mod proxy;
mod stats;
mod streamed;
mod traffic;
mod verify;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;

use stats::{Stats, Window};
use traffic::{BUSINESS, Ctx, TOKEN};

#[derive(Args, Debug, Clone)]
pub struct MixedBench {
    /// PostgreSQL admin URL; a scratch database is created on it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// Length of the run in seconds.
    #[arg(long, default_value_t = 600)]
    pub seconds: u64,
    /// Concurrent streamed calls (paced audio both ways) held for the whole run.
    #[arg(long, default_value_t = 200)]
    pub calls: usize,
    /// Voice webhooks in flight at once (closed loop: as fast as the server answers).
    #[arg(long, default_value_t = 8)]
    pub webhook_concurrency: usize,
    /// WhatsApp inbound webhooks per second (open loop).
    #[arg(long, default_value_t = 500)]
    pub whatsapp_rate: u64,
    /// CRM API readers (closed loop).
    #[arg(long, default_value_t = 2)]
    pub api_concurrency: usize,
    /// Customers seeded in the business before the run.
    #[arg(long, default_value_t = 10_000)]
    pub customers: usize,
    /// Second of the run at which the database goes away (0: no outage).
    #[arg(long, default_value_t = 0)]
    pub outage_at: u64,
    /// How long the database stays away.
    #[arg(long, default_value_t = 15)]
    pub outage_secs: u64,
}

pub async fn run(args: MixedBench) -> anyhow::Result<()> {
    let (db_url, dir) = super::scratch_database(Some(&args.postgres)).await?;
    let result = run_on(&args, &db_url, dir.path()).await;
    super::webhooks::drop_database(&args.postgres, &db_url).await;
    result
}

async fn run_on(args: &MixedBench, db_url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let token = seed(db_url, args.customers).await?;
    let pg = url::Url::parse(db_url)?;
    let target = format!(
        "{}:{}",
        pg.host_str().unwrap_or("127.0.0.1"),
        pg.port().unwrap_or(5432)
    );
    let proxy = proxy::CutProxy::start(target).await?;
    let mut proxied = pg.clone();
    proxied
        .set_host(Some("127.0.0.1"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    proxied
        .set_port(Some(proxy.addr.port()))
        .map_err(|_| anyhow::anyhow!("bad proxy port"))?;

    let server = super::child::serve_child(
        &[
            ("DATABASE_URL", proxied.as_str()),
            ("MOKDAN_DATA_DIR", &dir.join("data").display().to_string()),
            ("TWILIO_AUTH_TOKEN", TOKEN),
            // WhatsApp through Twilio needs the account; nothing is sent (auto-reply off)
            // and Twilio's REST API is a closed port.
            ("WHATSAPP_PROVIDER", "twilio"),
            ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
            ("TWILIO_API_BASE", "http://127.0.0.1:9"),
            ("JWT_SECRET", "bench-jwt-secret-bench-jwt-secret"),
            ("MOKDAN_WATCHDOG_START_SECS", "900"),
            ("MOKDAN_WATCHDOG_MEDIA_SECS", "900"),
        ],
        Duration::from_secs(4),
    )
    .await?;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let bearer = login(&http, &base, &token).await?;

    let began = Instant::now();
    let ctx = Ctx {
        http: http.clone(),
        base: base.clone(),
        stats: Arc::new(Stats::new(began)),
        stopping: Arc::new(AtomicBool::new(false)),
        calls: Arc::new(Mutex::new(Vec::new())),
        messages: Arc::new(Mutex::new(Vec::new())),
    };
    println!(
        "mixed load for {} s on PostgreSQL: {} streamed calls, voice webhooks ×{} in flight, \
         WhatsApp {}/s, {} API readers{}",
        args.seconds,
        args.calls,
        args.webhook_concurrency,
        args.whatsapp_rate,
        args.api_concurrency,
        if args.outage_at > 0 {
            format!(
                "; database away at {} s for {} s",
                args.outage_at, args.outage_secs
            )
        } else {
            String::new()
        }
    );

    // Streamed calls first: they ramp up at 50 per second and stay for the whole run.
    let streams = streamed::hold_calls(
        &http,
        &base,
        &server.addr,
        args.calls,
        50,
        ctx.stopping.clone(),
    )
    .await;
    let mut tasks = Vec::new();
    let next = Arc::new(AtomicU64::new(0));
    for w in 0..args.webhook_concurrency {
        tasks.push(tokio::spawn(traffic::voice_loop(
            ctx.clone(),
            w as u64,
            next.clone(),
        )));
    }
    for w in 0..args.api_concurrency {
        tasks.push(tokio::spawn(traffic::api_loop(
            ctx.clone(),
            bearer.clone(),
            w,
        )));
    }
    let whatsapp = tokio::spawn(traffic::whatsapp_loop(ctx.clone(), args.whatsapp_rate, 512));
    let readiness = tokio::spawn(traffic::watch_readiness(ctx.clone()));

    let usage = run_clock(args, &ctx, &server, &proxy).await;

    ctx.stopping.store(true, Ordering::Relaxed);
    let behind = whatsapp.await.unwrap_or(0);
    for t in tasks {
        let _ = t.await;
    }
    let stream_outcome = streams.finish().await;
    // The streamed calls end as Twilio ends them: `call_status completed`.
    for sid in &stream_outcome.call_sids {
        let ok = traffic::complete_call(&ctx, sid).await;
        ctx.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((sid.clone(), ok));
    }
    let changes = readiness.await.unwrap_or_default();
    let lateness = streamed::lateness(&stream_outcome.before, &http, &base).await;

    // Rows written to the local outbox during the outage are replayed within seconds.
    let calls = std::mem::take(&mut *ctx.calls.lock().unwrap_or_else(|e| e.into_inner()));
    let messages = std::mem::take(&mut *ctx.messages.lock().unwrap_or_else(|e| e.into_inner()));
    let lost = verify::until_consistent(db_url, &calls, &messages, Duration::from_secs(60)).await?;
    server.stop().await;

    // The report.
    let total = Duration::from_secs(args.seconds);
    let windows = if args.outage_at > 0 {
        let from = Duration::from_secs(args.outage_at);
        let to = from + Duration::from_secs(args.outage_secs + 10);
        println!();
        ctx.stats.print(
            "during the outage and 10 s of recovery",
            &[Window { from, to }],
        );
        vec![
            Window {
                from: Duration::ZERO,
                to: from,
            },
            Window {
                from: to,
                to: total,
            },
        ]
    } else {
        vec![Window {
            from: Duration::ZERO,
            to: total,
        }]
    };
    println!();
    ctx.stats.print("steady state", &windows);
    println!();
    println!(
        "outbound frames      p50 {:.3} ms  p99 {:.3} ms late against their schedule; \
         {} client-side gaps > 60 ms; {} of {} streamed calls failed",
        lateness.0 * 1e3,
        lateness.1 * 1e3,
        stream_outcome.gaps,
        stream_outcome.failed,
        args.calls
    );
    for reason in &stream_outcome.reasons {
        println!("  a streamed call failed: {reason}");
    }
    println!(
        "server               CPU {:.2} cores on average (peak {:.2}), memory {} MB resident at peak",
        usage.avg_cores,
        usage.peak_cores,
        usage.peak_rss_kb / 1024
    );
    println!("WhatsApp client      {behind} deliveries not sent because the client fell behind");
    let ready: Vec<String> = changes
        .iter()
        .map(|(at, s)| format!("{s}@{:.1}s", at.as_secs_f64()))
        .collect();
    println!("/readyz              {}", ready.join(" → "));
    let twilio_5xx = ctx.stats.server_errors("POST /webhook/");
    println!(
        "promises             Twilio routes answered 5xx: {twilio_5xx}; calls acknowledged: {}, \
         WhatsApp messages acknowledged: {}; lost rows: {}",
        calls.len(),
        messages.len(),
        lost.len()
    );
    for l in lost.iter().take(10) {
        println!("  lost: {l}");
    }
    anyhow::ensure!(twilio_5xx == 0, "a Twilio route answered 5xx");
    anyhow::ensure!(lost.is_empty(), "{} rows lost or wrong", lost.len());
    Ok(())
}

struct Usage {
    avg_cores: f64,
    peak_cores: f64,
    peak_rss_kb: u64,
}

/// Runs the clock: progress every 10 s, the outage when it is due, CPU and memory samples.
async fn run_clock(
    args: &MixedBench,
    ctx: &Ctx,
    server: &super::child::ServerChild,
    proxy: &proxy::CutProxy,
) -> Usage {
    let start = Instant::now();
    let cpu0 = super::child::cpu_ticks(server.pid);
    let (mut last_cpu, mut last_t) = (cpu0, Instant::now());
    let (mut peak_cores, mut peak_rss_kb) = (0.0f64, 0u64);
    let (mut cut, mut restored) = (false, false);
    let mut second = 0u64;
    while second < args.seconds {
        second += 1;
        tokio::time::sleep_until((start + Duration::from_secs(second)).into()).await;
        if args.outage_at > 0 && !cut && second >= args.outage_at {
            println!("[{second:>4} s] database connection cut");
            proxy.cut();
            cut = true;
        }
        if cut && !restored && second >= args.outage_at + args.outage_secs {
            println!("[{second:>4} s] database back");
            proxy.restore();
            restored = true;
        }
        let (cpu, now) = (super::child::cpu_ticks(server.pid), Instant::now());
        let cores = cpu.saturating_sub(last_cpu) as f64
            / super::child::CLOCK_TICKS
            / now.duration_since(last_t).as_secs_f64().max(1e-3);
        (last_cpu, last_t) = (cpu, now);
        peak_cores = peak_cores.max(cores);
        peak_rss_kb = peak_rss_kb.max(super::child::rss_kb(server.pid));
        if second.is_multiple_of(10) {
            println!(
                "[{second:>4} s] incoming_call {} · whatsapp {} · api {} · CPU {:.2} cores · {} MB",
                ctx.stats.total("POST /webhook/incoming_call"),
                ctx.stats.total("POST /webhook/whatsapp/twilio"),
                ctx.stats.total("GET /api/customers") + ctx.stats.total("GET /api/calls"),
                cores,
                super::child::rss_kb(server.pid) / 1024
            );
        }
    }
    if cut && !restored {
        proxy.restore();
    }
    let wall = start.elapsed().as_secs_f64();
    Usage {
        avg_cores: super::child::cpu_ticks(server.pid).saturating_sub(cpu0) as f64
            / super::child::CLOCK_TICKS
            / wall.max(1e-3),
        peak_cores,
        peak_rss_kb,
    }
}

/// The business (voice and WhatsApp on one number, auto-reply off so no sends go out),
/// its owner, and customers for the API to page through. Returns the owner's password.
async fn seed(db_url: &str, customers: usize) -> anyhow::Result<String> {
    let db = mokdan::store::Db::open(db_url).await?;
    let business =
        crate::add_business(&db, BUSINESS, Some(super::streams::GREETING), false).await?;
    let password = "bench-password-123".to_string();
    let hash = mokdan::auth::hash_password(&password)?;
    mokdan::store::users::create(
        &db,
        "bench@example.com",
        &hash,
        mokdan::store::users::Role::Owner,
        Some(business),
    )
    .await?;
    super::api::seed(&db, business, customers).await?;
    sqlx::query("VACUUM ANALYZE customers")
        .execute(&db.pool)
        .await?;
    db.close().await;
    Ok(password)
}

async fn login(http: &reqwest::Client, base: &str, password: &str) -> anyhow::Result<String> {
    let v: serde_json::Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "email": "bench@example.com", "password": password }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    v["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("login gave no token"))
}
