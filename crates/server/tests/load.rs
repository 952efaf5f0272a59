//! The mixed load, short: every kind of traffic at once on PostgreSQL with the database
//! cut in the middle, then the promises checked (MISSION V3, V12, O3; issue "prove it
//! holds"). `mokdan bench mixed` itself fails when a Twilio route answered 5xx or a call
//! row or WhatsApp message is missing, wrong or duplicated; this test runs it for 25 s at
//! modest rates (a debug build on a shared machine) and reads its verdict. The ten-minute
//! run with the full rates is `mokdan bench mixed` (figures in docs/benchmarks.md).

mod common;

use std::path::Path;
use std::process::Command;

/// `mokdan bench` runs the `mokdan-bench` binary beside `mokdan`. `cargo test` builds only
/// this package's binary, so the benchmark is built here into the same directory, with the
/// same profile (a no-op when it is up to date).
fn build_bench_beside(mokdan: &Path) {
    let profile_dir = mokdan.parent().expect("the binary's directory");
    let target_dir = profile_dir.parent().expect("the target directory");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "-p", "mokdan-bench", "--target-dir"])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cargo.arg("--release");
        }
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
    }
    let status = cargo.status().expect("run cargo build -p mokdan-bench");
    assert!(status.success(), "cargo build -p mokdan-bench failed");
}

#[test]
fn mixed_load_with_a_database_outage_loses_nothing() {
    let mokdan = Path::new(env!("CARGO_BIN_EXE_mokdan"));
    build_bench_beside(mokdan);
    let out = Command::new(mokdan)
        .args([
            "bench",
            "mixed",
            "--postgres",
            &common::pg_admin_url(),
            "--seconds",
            "25",
            "--calls",
            "10",
            "--webhook-concurrency",
            "2",
            "--whatsapp-rate",
            "40",
            "--api-concurrency",
            "1",
            "--customers",
            "500",
            "--outage-at",
            "8",
            "--outage-secs",
            "6",
        ])
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run mokdan bench mixed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench mixed failed:\n{stdout}\n{stderr}"
    );
    // The run saw the outage and the recovery…
    assert!(stdout.contains("database connection cut"), "{stdout}");
    let ready = stdout
        .lines()
        .find(|l| l.starts_with("/readyz"))
        .unwrap_or_default();
    assert!(ready.contains("503"), "readiness never went 503: {ready}");
    assert!(
        ready
            .rsplit("→")
            .next()
            .unwrap_or_default()
            .trim()
            .starts_with("200"),
        "readiness did not come back: {ready}"
    );
    // …and kept its promises, with real traffic behind them.
    let promises = stdout
        .lines()
        .find(|l| l.starts_with("promises"))
        .unwrap_or_default();
    assert!(promises.contains("answered 5xx: 0"), "{promises}");
    assert!(promises.contains("lost rows: 0"), "{promises}");
    let acknowledged = |what: &str| -> u64 {
        promises
            .split(what)
            .nth(1)
            .and_then(|r| {
                r.trim_start_matches(": ")
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(acknowledged("calls acknowledged") >= 20, "{promises}");
    assert!(
        acknowledged("WhatsApp messages acknowledged") >= 200,
        "{promises}"
    );
}
