//! The watchdog's ticker over a registry that fails for a while, as PostgreSQL does in an
//! outage: the outage is logged once when it begins and once when it ends, not every tick.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use super::*;

/// A registry whose reads fail on ticks `fail_from..=fail_to`.
struct Flaky {
    fail_from: u64,
    fail_to: u64,
}

#[async_trait]
impl StreamRegistry for Flaky {
    fn mode(&self) -> RegistryMode {
        RegistryMode::Shared
    }
    fn survives_restart(&self) -> bool {
        true
    }
    fn arm(&self, _: &str, base: &str, ago: Duration, started: bool) -> Arc<CallWatch> {
        CallWatch::new(base, ago, started)
    }
    async fn attach(&self, _: &str) -> Option<Arc<CallWatch>> {
        None
    }
    async fn started(&self, _: &str, _: &CallWatch) -> bool {
        true
    }
    fn get(&self, _: &str) -> Option<Arc<CallWatch>> {
        None
    }
    fn disarm(&self, _: &str) {}
    fn armed(&self) -> usize {
        0
    }
    async fn due(&self, tick: u64, _: Timeouts) -> Result<Vec<Due>, sqlx::Error> {
        if (self.fail_from..=self.fail_to).contains(&tick) {
            Err(sqlx::Error::PoolTimedOut)
        } else {
            Ok(Vec::new())
        }
    }
    async fn claim(&self, _: &str) -> bool {
        true
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_registry_outage_is_logged_once_not_every_tick() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Db::open(&format!("sqlite://{}/t.db", dir.path().display()))
        .await
        .expect("database");
    let prompts = Prompts::new(
        dir.path().to_path_buf(),
        db.clone(),
        Arc::new(voice::tts::espeak::EspeakTts::default()),
        false,
    );
    let timeouts = Timeouts {
        start: Duration::from_secs(8),
        media: Duration::from_secs(6),
    };
    // Ticks every 250 ms from t = 0: reads fail from t = 1 s until t = 6 s.
    let registry = Arc::new(Flaky {
        fail_from: 5,
        fail_to: 24,
    });
    let watchdog = Watchdog::with_registry(registry, timeouts, db, None, prompts);

    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tokio::time::pause();
    let stop = CancellationToken::new();
    let ticker = tokio::spawn(watchdog.run(stop.clone()));
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.cancel();
    ticker.await.expect("ticker");

    let text = String::from_utf8(log.0.lock().expect("log buffer").clone()).expect("utf-8");
    let down: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("cannot use the shared registry"))
        .collect();
    assert_eq!(
        down.len(),
        1,
        "one warning for twenty failed reads:\n{text}"
    );
    assert!(down[0].contains("WARN"), "{}", down[0]);
    assert!(
        down[0].contains("op=\"read\"") || down[0].contains("op=read"),
        "{}",
        down[0]
    );
    assert!(
        down[0].contains("timed out"),
        "the error is logged: {}",
        down[0]
    );
    let up: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("can use the shared registry again"))
        .collect();
    assert_eq!(up.len(), 1, "{text}");
    assert!(up[0].contains("INFO"), "{}", up[0]);
    assert!(up[0].contains("unavailable_ms=5000"), "{}", up[0]);
    assert!(up[0].contains("failures=20"), "{}", up[0]);
}
