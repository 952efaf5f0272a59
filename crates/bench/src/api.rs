//! `mokdan bench api`: the CRM API under load — customer list (50 per page), search by a
//! name fragment and by phone digits, and customer create — against a business with many
//! customers (100 000 by default).
//!
//! Starts the real server in-process on a loopback port on a scratch database (PostgreSQL
//! with `--postgres ADMIN_URL`, SQLite otherwise), seeds the customers in bulk, signs in
//! through `POST /api/auth/login`, and sends authenticated requests at a fixed concurrency,
//! so every figure includes authentication (JWT check and the session check, which the
//! server remembers for up to 2 s) and tenant scoping.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use super::{ms, percentile};

#[derive(Args, Debug, Clone)]
pub struct ApiBench {
    /// Customers in the benchmark business before the run.
    #[arg(long, default_value_t = 100_000)]
    pub customers: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Requests per scenario.
    #[arg(long, default_value_t = 5_000)]
    pub requests: usize,
    /// Run on a fresh database on this PostgreSQL server (admin URL); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
}

const PASSWORD: &str = "bench-password-123";

pub async fn run(args: ApiBench) -> anyhow::Result<()> {
    let (db_url, dir) = super::scratch_database(args.postgres.as_deref()).await?;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("DATABASE_URL".into(), db_url.clone());
    env.insert(
        "MOKDAN_DATA_DIR".into(),
        dir.path().join("data").display().to_string(),
    );
    let settings = mokdan::Settings::from_map(&env)?;
    let app = mokdan::App::build(settings).await?;
    let state = app.state.clone();
    let db = state.db.clone();
    let phone = mokdan::domain::Phone::parse("+97231234567")?;
    let business = mokdan::store::businesses::create(&db, "bench", &phone).await?;
    let hash = mokdan::auth::hash_password(PASSWORD)?;
    mokdan::store::users::create(
        &db,
        "bench@example.com",
        &hash,
        mokdan::store::users::Role::Owner,
        Some(business),
    )
    .await?;
    let seeded = Instant::now();
    seed(&db, business, args.customers).await?;
    if db.backend == mokdan::store::Backend::Postgres {
        // What autovacuum would do soon after a bulk load.
        sqlx::query("VACUUM ANALYZE customers")
            .execute(&db.pool)
            .await?;
        // The bulk load's write-ahead log is flushed now rather than by checkpoints in the
        // middle of the measured requests (it needs a superuser; without one, skipped).
        let _ = sqlx::query("CHECKPOINT").execute(&db.pool).await;
    }
    println!(
        "seeded {} customers in {:.1} s ({})",
        args.customers,
        seeded.elapsed().as_secs_f64(),
        db.backend.name()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async move {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let login: serde_json::Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({ "email": "bench@example.com", "password": PASSWORD }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("login gave no token"))?
        .to_string();

    let pages = (args.customers / 50).clamp(1, 20);
    let list = scenario(&client, &args, &db, args.requests, {
        let (base, token) = (base.clone(), token.clone());
        move |c: &reqwest::Client, i| {
            c.get(format!(
                "{base}/api/customers?page={}&per_page=50",
                i % pages + 1
            ))
            .bearer_auth(&token)
        }
    })
    .await;
    report("customer list (50 per page, first 20 pages)", &list, &args);

    // Substring search (trigram indexes on PostgreSQL, a scan on SQLite), fewer requests.
    let search = scenario(&client, &args, &db, (args.requests / 10).max(1), {
        let (base, token) = (base.clone(), token.clone());
        move |c: &reqwest::Client, i| {
            c.get(format!(
                "{base}/api/customers?q=%D7%9C%D7%A7%D7%95%D7%97%20{}&per_page=50",
                i % 1000
            ))
            .bearer_auth(&token)
        }
    })
    .await;
    report("customer search (q = name fragment)", &search, &args);

    // Five digits of a phone, as someone types the end of a number they remember.
    let by_phone = scenario(&client, &args, &db, (args.requests / 10).max(1), {
        let (base, token) = (base.clone(), token.clone());
        move |c: &reqwest::Client, i| {
            c.get(format!(
                "{base}/api/customers?q={:05}&per_page=50",
                (i * 7919) % 100_000
            ))
            .bearer_auth(&token)
        }
    })
    .await;
    report("customer search (q = 5 phone digits)", &by_phone, &args);

    let create = scenario(&client, &args, &db, args.requests, {
        let (base, token) = (base.clone(), token.clone());
        move |c: &reqwest::Client, i| {
            c.post(format!("{base}/api/customers"))
                .bearer_auth(&token)
                .json(&serde_json::json!({
                    "name": format!("ליד חדש {i}"),
                    "phone": format!("+9725{:08}", 90_000_000 + i),
                    "tags": ["bench"],
                }))
        }
    })
    .await;
    report("customer create", &create, &args);

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    if let Some(admin) = &args.postgres {
        super::webhooks::drop_database(admin, &db_url).await;
    }
    Ok(())
}

/// Inserts `n` customers in batches, oldest first, with Hebrew names.
pub(crate) async fn seed(db: &mokdan::store::Db, business: i64, n: usize) -> anyhow::Result<()> {
    let base = mokdan::store::now_ms() - n as i64 * 1000;
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        let values: Vec<String> = (i..end)
            .map(|k| {
                let status = mokdan::store::customers::STATUSES[k % 5];
                let at = base + k as i64 * 1000;
                format!(
                    "({business}, 'לקוח {k}', '+9725{k:08}', '{status}', '', '', 'seed', {at}, {at})"
                )
            })
            .collect();
        // Safe: every value is a number or fixed text generated above, none is input.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO customers (business_id, name, phone, status, tags, notes, source, \
             created_at, updated_at) VALUES {}",
            values.join(", ")
        )))
        .execute(&db.pool)
        .await?;
        i = end;
    }
    Ok(())
}

struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
    /// CPU time spent by this process (client and server) and by the database's server
    /// processes, when they can be read (Linux, PostgreSQL on this machine).
    cpu: Option<(Duration, Option<Duration>)>,
}

/// CPU time (user and system) of a process from `/proc/<pid>/stat`.
fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): utime is the 12th, stime 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time so far of this process and of each server process of the database.
async fn cpu_now(db: &mokdan::store::Db) -> Option<(Duration, Vec<(String, Duration)>)> {
    let own = cpu_of("self")?;
    let mut backends = Vec::new();
    if db.backend == mokdan::store::Backend::Postgres {
        let pids: Vec<(i32,)> =
            sqlx::query_as("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                .fetch_all(&db.pool)
                .await
                .unwrap_or_default();
        for (pid,) in pids {
            if let Some(t) = cpu_of(&pid.to_string()) {
                backends.push((pid.to_string(), t));
            }
        }
    }
    Some((own, backends))
}

/// CPU spent between two readings; a server process that appeared since started at zero.
fn cpu_spent(
    before: Option<(Duration, Vec<(String, Duration)>)>,
    after: Option<(Duration, Vec<(String, Duration)>)>,
) -> Option<(Duration, Option<Duration>)> {
    let ((own0, pg0), (own1, pg1)) = (before?, after?);
    let pg = (!pg1.is_empty()).then(|| {
        pg1.iter()
            .map(|(pid, t)| {
                let start = pg0.iter().find(|(p, _)| p == pid).map(|(_, t)| *t);
                t.saturating_sub(start.unwrap_or_default())
            })
            .sum()
    });
    Some((own1.saturating_sub(own0), pg))
}

async fn scenario<F>(
    client: &reqwest::Client,
    args: &ApiBench,
    db: &mokdan::store::Db,
    requests: usize,
    make: F,
) -> Outcome
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    // Warm up connections.
    for i in 0..args.concurrency.min(8) {
        let _ = make(client, usize::MAX / 2 - i).send().await;
    }
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_now(db).await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (client, make, next, total) = (client.clone(), make.clone(), next.clone(), requests);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                match make(&client, i).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed();
    let cpu = cpu_spent(cpu_before, cpu_now(db).await);
    latencies.sort();
    Outcome {
        latencies,
        errors,
        elapsed,
        cpu,
    }
}

fn report(name: &str, o: &Outcome, args: &ApiBench) {
    let lat = &o.latencies;
    println!(
        "{name} (concurrency {}, {} customers)",
        args.concurrency, args.customers
    );
    println!(
        "  requests    {} ok, {} failed, in {:.2} s ({:.0} req/s)",
        lat.len(),
        o.errors,
        o.elapsed.as_secs_f64(),
        lat.len() as f64 / o.elapsed.as_secs_f64().max(1e-9)
    );
    println!(
        "  latency     p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(lat, 50.0)),
        ms(percentile(lat, 90.0)),
        ms(percentile(lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default())
    );
    // CPU per request does not depend on what else the machine is doing, as rates and
    // latencies do on a shared machine.
    if let Some((own, pg)) = o.cpu {
        let per = |d: Duration| ms(d / (lat.len() + o.errors).max(1) as u32);
        match pg {
            Some(pg) => println!(
                "  cpu         {} a request here (client and server), {} in PostgreSQL",
                per(own),
                per(pg)
            ),
            None => println!(
                "  cpu         {} a request (client, server and SQLite)",
                per(own)
            ),
        }
    }
}
