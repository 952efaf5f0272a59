//! The server under test as a child process, and its CPU and memory read from `/proc`.
//!
//! Benchmarks that report the server's own CPU and memory must not share a process with
//! the load generator, or the client's cost would be counted as the server's.

use std::time::Duration;

/// The kernel's USER_HZ: 100 on every Linux this runs on.
pub const CLOCK_TICKS: f64 = 100.0;

pub struct ServerChild {
    pub pid: u32,
    pub base: String,
    pub addr: String,
    child: tokio::process::Child,
}

/// Starts `mokdan serve` (the `mokdan` binary beside this one) on a free loopback port with only the given
/// environment, waits for `/readyz`, then `settle` (for start-up work such as rendering
/// greetings).
pub async fn serve_child(env: &[(&str, &str)], settle: Duration) -> anyhow::Result<ServerChild> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = tokio::process::Command::new(crate::mokdan_exe()?);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MOKDAN_LISTEN", &addr)
        .env(
            "RUST_LOG",
            std::env::var("MOKDAN_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn()?;
    let pid = child.id().unwrap_or_default();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    for _ in 0..150 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            tokio::time::sleep(settle).await;
            return Ok(ServerChild {
                pid,
                base,
                addr,
                child,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the server did not become ready")
}

impl ServerChild {
    /// Stops the server as systemd would (SIGTERM), then waits for it.
    pub async fn stop(mut self) {
        if let Ok(pid) = i32::try_from(self.pid) {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// User plus system CPU time of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is 14th, stime 15th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// Resident memory of a process, in KB.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
