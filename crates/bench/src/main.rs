//! `mokdan-bench` (run as `mokdan bench …`): benchmarks that print figures (medians,
//! percentiles, rates).
//!
//! Figures come from runs, not from timed assertions in tests: this machine is shared and
//! noisy, so the numbers are reported for people to read and compare, never to fail a build.
//! The benchmarks are load generators, not part of the service, so they live in their own
//! binary beside `mokdan` and reach the service only through the `mokdan` library's public
//! API or by running `mokdan serve` as a child process.
#![forbid(unsafe_code)]

mod api;
mod appointments;
mod child;
mod jobs;
mod mixed;
mod realtime;
mod streams;
mod voice;
mod webhooks;
mod whatsapp;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// `mokdan bench …`; the name in the usage is the command people type.
#[derive(Parser, Debug)]
#[command(
    name = "mokdan bench",
    version,
    about = "Benchmarks that print figures."
)]
struct Cli {
    #[command(subcommand)]
    which: BenchCmd,
}

#[derive(Subcommand, Debug)]
enum BenchCmd {
    /// Signed incoming_call webhooks that each write a call row.
    Webhooks(webhooks::WebhookBench),
    /// Concurrent streamed calls: CPU, memory per call, outbound frame lateness.
    Streams(streams::StreamBench),
    /// The live pipeline's own latency, apart from the providers' time.
    Voice(voice::VoiceBench),
    /// The CRM API: customer list and create on a business with many customers.
    Api(api::ApiBench),
    /// Appointments: a month's availability for 5 staff with 2,000 appointments, and
    /// racing bookings with the no-double-booking guarantee checked.
    Appointments(appointments::AppointmentBench),
    /// No-op jobs through the durable queue: enqueue, claim + complete, worker pool.
    Jobs(jobs::JobBench),
    /// Signed inbound WhatsApp webhooks, each stored once and deduplicated.
    Whatsapp(whatsapp::WhatsappBench),
    /// Everything at once on PostgreSQL for minutes, with a database outage; checks that
    /// nothing was lost and no Twilio route answered 5xx.
    Mixed(mixed::MixedBench),
}

/// Parses arguments, runs the benchmark, and turns any failure into one line and an exit
/// code, as every `mokdan` command does.
fn main() -> ExitCode {
    mokdan::cli::run_command(run(Cli::parse().which))
}

async fn run(which: BenchCmd) -> anyhow::Result<()> {
    match which {
        BenchCmd::Webhooks(args) => webhooks::run(args).await,
        BenchCmd::Streams(args) => streams::run(args).await,
        BenchCmd::Voice(args) => voice::run(args).await,
        BenchCmd::Api(args) => api::run(args).await,
        BenchCmd::Appointments(args) => appointments::run(args).await,
        BenchCmd::Jobs(args) => jobs::run(args).await,
        BenchCmd::Whatsapp(args) => whatsapp::run(args).await,
        BenchCmd::Mixed(args) => mixed::run(args).await,
    }
}

/// The `mokdan` binary beside this one: the server the benchmarks start as a child.
pub fn mokdan_exe() -> anyhow::Result<std::path::PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name(format!("mokdan{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        path.is_file(),
        "no mokdan binary beside {} (build it with `cargo build -p mokdan`)",
        me.display()
    );
    Ok(path)
}

/// Percentile of sorted durations (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// Adds the benchmark's business on `number`, through the store as the API would.
pub async fn add_business(
    db: &mokdan::store::Db,
    number: &str,
    greeting: Option<&str>,
    auto_reply: bool,
) -> anyhow::Result<i64> {
    let settings = mokdan::store::businesses::Settings {
        name: "bench".into(),
        greeting: greeting.map(str::to_string),
        auto_reply,
        // The schema's default, as for a business the API creates without one.
        recording_retention_days: 30,
        ..Default::default()
    };
    let phone = mokdan::domain::Phone::parse(number)?;
    Ok(mokdan::store::businesses::create_with(db, &settings, &[phone]).await?)
}

/// A throw-away database for a benchmark: a temp SQLite file, or a new PostgreSQL database
/// on the server of `--postgres URL`.
pub async fn scratch_database(
    postgres: Option<&str>,
) -> anyhow::Result<(String, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let url = match postgres {
        None => format!("sqlite://{}/bench.db", dir.path().display()),
        Some(admin) => {
            use sqlx::{Connection, Executor};
            let name = format!("mokdan_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            // Safe: `mokdan_bench_` and a UUID's hex digits.
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await?;
            conn.close().await?;
            let mut u = url::Url::parse(admin)?;
            u.set_path(&name);
            u.to_string()
        }
    };
    Ok((url, dir))
}
