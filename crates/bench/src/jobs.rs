//! `mokdan bench jobs`: throughput of no-op jobs through the durable queue, per database.
//!
//! Three figures per backend, on a fresh database each:
//! - enqueue: `--workers` tasks inserting jobs concurrently;
//! - claim + complete: `--workers` claimers taking batches of `--batch` with the one-statement
//!   claim and completing each batch with one statement (the raw queue, as several nodes
//!   would drive it);
//! - pool: the real worker pool (leases, outcome recording, per-job tasks) running the
//!   same number of no-op jobs with `--workers` slots.
//!
//! The target is at least 2,000 jobs/s on PostgreSQL with 8 workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use tokio_util::sync::CancellationToken;

use mokdan::jobs::{Outcome, PoolConfig};
use mokdan::store::Db;
use mokdan::store::jobs as store;

#[derive(Args, Debug, Clone)]
pub struct JobBench {
    /// Jobs per phase.
    #[arg(long, default_value_t = 20_000)]
    pub jobs: usize,
    /// Concurrent enqueuers, claimers, and pool slots.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// Jobs taken per claim.
    #[arg(long, default_value_t = 64)]
    pub batch: i64,
    /// Also run on a fresh database on this PostgreSQL server (admin URL).
    #[arg(long)]
    pub postgres: Option<String>,
}

pub async fn run(args: JobBench) -> anyhow::Result<()> {
    println!(
        "jobs bench: {} no-op jobs per phase, {} workers, claim batch {}",
        args.jobs, args.workers, args.batch
    );
    let mut targets = vec![None];
    if let Some(pg) = &args.postgres {
        targets.push(Some(pg.clone()));
    }
    for admin in targets {
        let (url, _dir) = super::scratch_database(admin.as_deref()).await?;
        let db = Db::open(&url).await?;
        println!("\n[{}]", db.backend.name());
        bench_backend(&db, &args).await?;
        db.close().await;
        if let Some(admin) = admin {
            drop_database(&admin, &url).await;
        }
    }
    Ok(())
}

async fn bench_backend(db: &Db, args: &JobBench) -> anyhow::Result<()> {
    let workers = args.workers.max(1);
    let n = args.jobs;

    // Enqueue.
    let started = Instant::now();
    enqueue_all(db, n, workers, "enq").await?;
    report("enqueue", n, started.elapsed());

    // Claim in batches + complete, by independent claimers.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let db = db.clone();
        let batch = args.batch;
        tasks.push(tokio::spawn(async move {
            let worker = format!("bench-{w}");
            let mut done = 0usize;
            let mut claims = 0usize;
            loop {
                let jobs = store::claim(&db, &worker, batch, 60_000).await?;
                if jobs.is_empty() {
                    break;
                }
                claims += 1;
                done += store::complete_many(&db, &jobs, &worker).await? as usize;
            }
            Ok::<_, sqlx::Error>((done, claims))
        }));
    }
    let (mut done, mut claims) = (0, 0);
    for t in tasks {
        let (d, c) = t.await??;
        done += d;
        claims += c;
    }
    let elapsed = started.elapsed();
    report("claim + complete", done, elapsed);
    println!(
        "  ({claims} claim statements, every job completed once: {})",
        done == n
    );

    // The real pool.
    enqueue_all(db, n, workers, "pool").await?;
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let handler = move |_job: store::Job| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(Outcome::Done)
        }
    };
    let stop = CancellationToken::new();
    let cfg = PoolConfig {
        concurrency: workers,
        poll: Duration::from_millis(50),
        ..PoolConfig::default()
    };
    let started = Instant::now();
    let pool = tokio::spawn(mokdan::jobs::run_pool(
        db.clone(),
        Arc::new(handler),
        cfg,
        stop.clone(),
    ));
    while ran.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    pool.await?;
    let elapsed = started.elapsed();
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE state <> 'done'")
        .fetch_one(&db.pool)
        .await?;
    report("worker pool", n, elapsed);
    println!("  (jobs not done afterwards: {left})");
    Ok(())
}

async fn enqueue_all(db: &Db, n: usize, workers: usize, tag: &str) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (db, next, tag) = (db.clone(), next.clone(), tag.to_string());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, sqlx::Error>(());
                }
                let key = format!("{tag}:{i}");
                let payload = serde_json::json!({ "i": i });
                mokdan::jobs::enqueue(&db, "noop", &payload, Some(&key)).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

fn report(phase: &str, jobs: usize, elapsed: Duration) {
    let rate = jobs as f64 / elapsed.as_secs_f64().max(1e-9);
    println!(
        "  {phase:<18} {jobs:>7} jobs in {:>7.2} s = {rate:>8.0} jobs/s",
        elapsed.as_secs_f64()
    );
}

/// Removes the scratch PostgreSQL database.
async fn drop_database(admin: &str, url: &str) {
    use sqlx::{Connection, Executor};
    let Some(name) = url::Url::parse(url)
        .ok()
        .map(|u| u.path().trim_start_matches('/').to_string())
    else {
        return;
    };
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        // Safe: the name is the one `scratch_database` made (`mokdan_bench_` and hex digits).
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .await;
        let _ = conn.close().await;
    }
}
