//! `mokdan bench webhooks`: signed `incoming_call` requests that each write a call row.
//!
//! Starts the real server in-process on a loopback port (same code as `serve`), adds a
//! business, then sends signed `incoming_call` POSTs at a fixed concurrency and reports
//! throughput and latency percentiles, plus the cost of generating the TwiML alone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;

use super::{ms, percentile, us};

#[derive(Args, Debug, Clone)]
pub struct WebhookBench {
    /// Requests to send.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Run on a fresh database on this PostgreSQL server (admin URL); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
}

const TOKEN: &str = "bench-auth-token";

pub async fn run(args: WebhookBench) -> anyhow::Result<()> {
    let (db_url, dir) = super::scratch_database(args.postgres.as_deref()).await?;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("DATABASE_URL".into(), db_url);
    env.insert(
        "MOKDAN_DATA_DIR".into(),
        dir.path().join("data").display().to_string(),
    );
    env.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
    let settings = mokdan::Settings::from_map(&env)?;
    let app = mokdan::App::build(settings).await?;
    let state = app.state.clone();
    let phone = mokdan::domain::Phone::parse("+97231234567")?;
    mokdan::store::businesses::create(&state.db, "bench", &phone).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async move {
        let _ = stopped.await;
    }));

    let url = format!("http://{addr}/webhook/incoming_call");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Warm up connections and caches.
    let _ = send(&client, &url, "CAwarmup0000000000000000000000000").await;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        let total = args.requests;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let sid = format!("CA{i:032x}");
                let t = Instant::now();
                match send(&client, &url, &sid).await {
                    Ok(200) => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::with_capacity(args.requests);
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    lat.sort();
    let rows: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_logs")
        .fetch_one(&state.db.pool)
        .await?;

    // TwiML generation alone.
    let base = format!("http://{addr}");
    let iterations = 100_000;
    let mut gen_times = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let t = Instant::now();
        let sid = format!("CA{i:032x}");
        let token = mokdan::calls::token::issue("secret", &sid);
        let xml = mokdan::calls::twiml::connect_stream(&base, &sid, &token).to_xml();
        std::hint::black_box(xml);
        gen_times.push(t.elapsed());
    }
    gen_times.sort();

    println!(
        "incoming_call benchmark ({}, concurrency {})",
        state.db.backend.name(),
        args.concurrency
    );
    println!(
        "  requests      {} ok, {} failed, in {:.2} s",
        lat.len(),
        errors,
        elapsed.as_secs_f64()
    );
    println!(
        "  throughput    {:.0} req/s",
        lat.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency       p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 90.0)),
        ms(percentile(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default())
    );
    println!(
        "  rows written  {} (expected {})",
        rows.0 - 1,
        args.requests
    );
    println!(
        "  TwiML + token generation  p50 {}  p99 {}",
        us(percentile(&gen_times, 50.0)),
        us(percentile(&gen_times, 99.0))
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    if let Some(admin) = &args.postgres {
        drop_database(admin, &env["DATABASE_URL"]).await;
    }
    Ok(())
}

async fn send(client: &reqwest::Client, url: &str, sid: &str) -> reqwest::Result<u16> {
    let form: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", sid),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("From", "+972501234567"),
        ("To", "+97231234567"),
        ("Called", "+97231234567"),
        ("Caller", "+972501234567"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = telephony::signature::compute(TOKEN, url, &form);
    let r = client
        .post(url)
        .header("X-Twilio-Signature", sig)
        .form(&form)
        .send()
        .await?;
    let status = r.status().as_u16();
    let _ = r.bytes().await?;
    Ok(status)
}

/// Drops a scratch PostgreSQL database after a run.
pub async fn drop_database(admin: &str, db_url: &str) {
    use sqlx::{Connection, Executor};
    let Some(name) = url::Url::parse(db_url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_string())
    else {
        return;
    };
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        // Safe: the name is the one `scratch_database` made (`mokdan_bench_` and hex digits).
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
        let _ = conn.close().await;
    }
}
