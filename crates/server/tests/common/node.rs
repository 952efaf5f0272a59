//! `mokdan serve` as a child process: the real binary, as systemd would run it.
//!
//! Several-node and crash tests need what an in-process server cannot give: a second
//! process on the same database, SIGTERM and kill -9, and a restart on the same port and
//! data dir. Each node's stdout and stderr go to a log file beside its data dir, which the
//! tests read to see which node did what (`WS_START`, `JOB_DONE`, `WATCHDOG_REDIRECT`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_mokdan");

/// A free port on 127.0.0.1 (bound and released; good enough for a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `secs` of a 440 Hz tone as a WAV file, as Twilio serves a recording.
pub fn tone_wav(secs: f64) -> Vec<u8> {
    let n = (8000.0 * secs) as usize;
    let pcm: Vec<i16> = (0..n)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16)
        .collect();
    audio::wav::write_pcm16(8000, &pcm)
}

/// One node: its environment, its address, and the running process (if any).
pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub env: HashMap<String, String>,
    child: Option<Child>,
    starts: u32,
}

impl Node {
    /// Starts a node listening on `addr` with `env` (plus `MOKDAN_LISTEN` and
    /// `MOKDAN_DATA_DIR`), and waits until `/readyz` answers.
    pub async fn start(name: &str, data_dir: &Path, env: &[(&str, &str)]) -> Node {
        Self::start_on(name, free_port(), data_dir, env).await
    }

    /// Starts a node on a chosen port (when its `PUBLIC_BASE_URL` must name it).
    pub async fn start_on(name: &str, port: u16, data_dir: &Path, env: &[(&str, &str)]) -> Node {
        std::fs::create_dir_all(data_dir).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut node = Node {
            name: name.to_string(),
            addr,
            data_dir: data_dir.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            starts: 0,
        };
        node.spawn().await;
        node
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Beside the data dir, not in it: a full data dir must not silence the log.
    pub fn log_path(&self) -> PathBuf {
        let parent = self.data_dir.parent().unwrap_or(&self.data_dir);
        parent.join(format!("{}.log", self.name))
    }

    /// Everything the node has logged, over all its runs.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Log lines that contain every one of `needles`.
    pub fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_string)
            .collect()
    }

    /// (Re)starts the process on the same address, database and data dir.
    pub async fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,sqlx=warn")
            .envs(&self.env)
            .env("MOKDAN_LISTEN", self.addr.to_string())
            .env("MOKDAN_DATA_DIR", &self.data_dir)
            .current_dir(&self.data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("mokdan binary starts"));
        self.wait_ready().await;
    }

    /// Waits until the node answers `/readyz` with 200 (or panics after 30 s).
    pub async fn wait_ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("{} exited at start ({status}):\n{}", self.name, self.log());
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.base())).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready in 30 s:\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    fn signal(&self, sig: &str) {
        let pid = self.pid().expect("node is running").to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// SIGTERM, then waits for the graceful exit; returns whether it exited 0.
    pub async fn terminate(&mut self) -> bool {
        self.signal("-TERM");
        self.wait_exit(Duration::from_secs(20)).await
    }

    /// SIGTERM without waiting (the test goes on while the node drains).
    pub fn send_term(&self) {
        self.signal("-TERM");
    }

    /// kill -9: no drain, no cleanup, leases and registry rows left behind.
    pub async fn kill9(&mut self) {
        self.signal("-KILL");
        self.wait_exit(Duration::from_secs(10)).await;
    }

    /// Waits for the process to end; true when it exited with status 0.
    pub async fn wait_exit(&mut self, max: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let deadline = Instant::now() + max;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not exit within {max:?}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
