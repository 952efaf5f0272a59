//! `mokdan bench …`: benchmarks that print figures (medians, percentiles, rates).
//!
//! Figures come from runs, not from timed assertions in tests: this machine is shared and
//! noisy, so the numbers are reported for people to read and compare, never to fail a build.

pub mod api;
pub mod child;
pub mod jobs;
pub mod mixed;
pub mod realtime;
pub mod streams;
pub mod voice;
pub mod webhooks;
pub mod whatsapp;

use std::time::Duration;

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
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await?;
            conn.close().await?;
            let mut u = url::Url::parse(admin)?;
            u.set_path(&name);
            u.to_string()
        }
    };
    Ok((url, dir))
}
