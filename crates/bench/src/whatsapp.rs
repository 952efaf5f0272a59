//! `mokdan bench whatsapp`: signed inbound WhatsApp webhooks per second, each stored once.
//!
//! Starts the real server in-process on a loopback port (same code as `serve`), adds a
//! business with auto-reply off, then sends signed Twilio inbound webhooks (Hebrew with
//! emoji, from a few thousand customers) at a fixed concurrency. A share of the messages is
//! delivered twice, interleaved with the originals, as Twilio's retries are: the figures
//! include that deduplication, and the run checks that every message is stored exactly once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use super::{ms, percentile};

#[derive(Args, Debug, Clone)]
pub struct WhatsappBench {
    /// Distinct messages to deliver.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Deliveries per second, open loop, instead of a fixed concurrency: each is sent at its
    /// scheduled time whatever the others are doing, and its latency counts from that time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Every Nth message is delivered a second time (0: none).
    #[arg(long, default_value_t = 10)]
    pub duplicate_every: usize,
    /// Run on a fresh database on this PostgreSQL server (admin URL); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
}

const TOKEN: &str = "bench-auth-token";
const BUSINESS: &str = "+97231234567";
const CUSTOMERS: usize = 5_000;
/// Messages sent before the measured run, with ids of their own.
const WARMUP: usize = 512;
const WARMUP_IDS: usize = 1 << 40;

pub async fn run(args: WhatsappBench) -> anyhow::Result<()> {
    let (db_url, dir) = super::scratch_database(args.postgres.as_deref()).await?;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("DATABASE_URL".into(), db_url.clone());
    env.insert(
        "MOKDAN_DATA_DIR".into(),
        dir.path().join("data").display().to_string(),
    );
    env.insert("TWILIO_AUTH_TOKEN".into(), TOKEN.into());
    // WhatsApp through Twilio needs the account; nothing is sent (auto-reply off) and
    // Twilio's REST API is a closed port.
    env.insert("WHATSAPP_PROVIDER".into(), "twilio".into());
    env.insert(
        "TWILIO_ACCOUNT_SID".into(),
        "AC00000000000000000000000000000000".into(),
    );
    env.insert("TWILIO_API_BASE".into(), "http://127.0.0.1:9".into());
    env.insert("PUBLIC_BASE_URL".into(), "https://bench.example".into());
    let settings = mokdan::Settings::from_map(&env)?;
    let app = mokdan::App::build(settings).await?;
    let state = app.state.clone();
    let business_id = super::add_business(&state.db, BUSINESS, None, false).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async move {
        let _ = stopped.await;
    }));

    // The order of deliveries: each message, and some of them again right behind it.
    let mut plan = Vec::with_capacity(args.messages + args.messages / 8);
    for i in 0..args.messages {
        plan.push(i);
        if args.duplicate_every > 0 && i % args.duplicate_every == 0 {
            plan.push(i);
        }
    }
    let plan = Arc::new(plan);
    let url = format!("http://{addr}/webhook/whatsapp/twilio");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    // Warm up: the database pool opens its connections and each prepares its statements
    // (a cold start otherwise costs the first second tens of milliseconds a request).
    let warmup: Vec<usize> = (0..WARMUP).map(|k| WARMUP_IDS + k).collect();
    closed_loop(&client, &url, &Arc::new(warmup), 64).await?;

    let started = Instant::now();
    let (mut lat, errors) = match args.rate {
        Some(rate) => {
            // The sender gets a thread and runtime of its own: its schedule then never
            // waits behind the server's tasks on the same runtime, so the latencies are
            // the server's, not the sender's (the two cores are still shared).
            let (url, plan) = (url.clone(), plan.clone());
            std::thread::spawn(move || -> anyhow::Result<Outcome> {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                rt.block_on(async {
                    let client = reqwest::Client::builder()
                        .pool_max_idle_per_host(256)
                        .build()?;
                    open_loop(&client, &url, &plan, rate).await
                })
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the sender thread panicked"))??
        }
        None => closed_loop(&client, &url, &plan, args.concurrency).await?,
    };
    let elapsed = started.elapsed();
    lat.sort();
    let stored =
        mokdan::store::whatsapp::count(&state.db, business_id, "in").await? - WARMUP as i64;
    let customers =
        mokdan::store::customers::count(&state.db, business_id, &Default::default()).await?;

    let load = match args.rate {
        Some(rate) => format!("open loop at {rate:.0}/s"),
        None => format!("concurrency {}", args.concurrency),
    };
    println!(
        "whatsapp inbound benchmark ({}, {load})",
        state.db.backend.name(),
    );
    println!(
        "  deliveries    {} ok, {} failed, in {:.2} s ({} messages, {} delivered twice)",
        lat.len(),
        errors,
        elapsed.as_secs_f64(),
        args.messages,
        plan.len() - args.messages
    );
    println!(
        "  throughput    {:.0} webhooks/s",
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
        "  stored        {stored} messages (expected {}), {customers} customers — {}",
        args.messages,
        if stored == args.messages as i64 {
            "each stored once"
        } else {
            "MISMATCH"
        }
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    if let Some(admin) = &args.postgres {
        super::webhooks::drop_database(admin, &db_url).await;
    }
    if stored != args.messages as i64 {
        anyhow::bail!("stored {stored} messages, expected {}", args.messages);
    }
    Ok(())
}

type Outcome = (Vec<Duration>, usize);

/// `concurrency` senders, each sending the next delivery as soon as its last is answered.
async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    plan: &Arc<Vec<usize>>,
    concurrency: usize,
) -> anyhow::Result<Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, url, next, plan) =
            (client.clone(), url.to_string(), next.clone(), plan.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let r = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = plan.get(r) else { break };
                let t = Instant::now();
                match send(&client, &url, i).await {
                    Ok(200) => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::with_capacity(plan.len());
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        lat.extend(l);
        errors += e;
    }
    Ok((lat, errors))
}

/// Delivery `r` leaves at `r / rate` seconds, whether or not earlier ones were answered;
/// a slow answer cannot hold back the load, and its lateness counts.
async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    plan: &[usize],
    rate: f64,
) -> anyhow::Result<Outcome> {
    anyhow::ensure!(rate > 0.0, "--rate must be above 0");
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (r, &i) in plan.iter().enumerate() {
        let due = start + Duration::from_secs_f64(r as f64 / rate);
        tokio::time::sleep_until(due).await;
        let (client, url) = (client.clone(), url.to_string());
        tasks.spawn(async move {
            let ok = matches!(send(&client, &url, i).await, Ok(200));
            (ok, due.elapsed())
        });
    }
    let mut lat = Vec::with_capacity(plan.len());
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        match done? {
            (true, took) => lat.push(took),
            (false, _) => errors += 1,
        }
    }
    Ok((lat, errors))
}

/// One signed inbound webhook for message `i` (Twilio's fields and order).
async fn send(client: &reqwest::Client, url: &str, i: usize) -> reqwest::Result<u16> {
    let sid = format!("SM{:032x}", i);
    let from = format!("whatsapp:+97250{:07}", i % CUSTOMERS);
    let body = format!("שלום, אפשר לקבוע תור למחר? 🙏 ({i})");
    let form: Vec<(String, String)> = [
        ("SmsMessageSid", sid.as_str()),
        ("NumMedia", "0"),
        ("ProfileName", "דנה"),
        ("MessageType", "text"),
        ("SmsSid", sid.as_str()),
        ("WaId", &from[10..]),
        ("SmsStatus", "received"),
        ("Body", body.as_str()),
        ("To", "whatsapp:+97231234567"),
        ("NumSegments", "1"),
        ("ReferralNumMedia", "0"),
        ("MessageSid", sid.as_str()),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", from.as_str()),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Twilio signs the public URL it called.
    let sig = telephony::signature::compute(
        TOKEN,
        "https://bench.example/webhook/whatsapp/twilio",
        &form,
    );
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
