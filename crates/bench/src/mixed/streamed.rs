//! The mixed load's streamed calls: N calls held open for the whole run, each streaming
//! paced audio both ways exactly as `bench streams` does (the same call loop).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::streams::{CallCtx, diff, lateness_histogram, one_call, quantile};

pub struct Held {
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    stop: Arc<tokio::sync::Notify>,
    gaps: Arc<AtomicU64>,
    /// The lateness histogram once every call was up.
    before: Vec<(f64, f64)>,
}

pub struct Outcome {
    pub call_sids: Vec<String>,
    pub gaps: u64,
    pub failed: usize,
    /// Why calls failed, each distinct reason once (the first few).
    pub reasons: Vec<String>,
    pub before: Vec<(f64, f64)>,
}

/// Starts `calls` calls at `ramp` per second against the server at `base`.
pub async fn hold_calls(
    http: &reqwest::Client,
    base: &str,
    addr: &str,
    calls: usize,
    ramp: u64,
    stopping: Arc<AtomicBool>,
) -> Held {
    let stop = Arc::new(tokio::sync::Notify::new());
    let gaps = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let gap = Duration::from_secs_f64(1.0 / ramp.max(1) as f64);
    let mut tasks = Vec::with_capacity(calls);
    for index in 0..calls {
        let c = CallCtx {
            http: http.clone(),
            base: base.to_string(),
            addr: addr.to_string(),
            index,
            received: counter.clone(),
            audio_bytes: counter.clone(),
            sent: counter.clone(),
            gaps: gaps.clone(),
            stop: stop.clone(),
            stopping: stopping.clone(),
        };
        tasks.push(tokio::spawn(one_call(c)));
        tokio::time::sleep(gap).await;
    }
    let before = lateness_histogram(http, base).await;
    Held {
        tasks,
        stop,
        gaps,
        before,
    }
}

impl Held {
    /// Ends every call (the caller hangs up) and collects what happened.
    pub async fn finish(self) -> Outcome {
        self.stop.notify_waiters();
        let mut failed = 0;
        let mut reasons: Vec<String> = Vec::new();
        let n = self.tasks.len();
        for t in self.tasks {
            let reason = match t.await {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => format!("{e:#}"),
                Err(e) => format!("the call's task ended: {e}"),
            };
            failed += 1;
            if reasons.len() < 5 && !reasons.contains(&reason) {
                reasons.push(reason);
            }
        }
        Outcome {
            call_sids: (0..n).map(|i| format!("CA{:032x}", i + 1)).collect(),
            gaps: self.gaps.load(Ordering::Relaxed),
            failed,
            reasons,
            before: self.before,
        }
    }
}

/// p50 and p99 outbound frame lateness (seconds) since `before`, from the server's histogram.
pub async fn lateness(before: &[(f64, f64)], http: &reqwest::Client, base: &str) -> (f64, f64) {
    let after = lateness_histogram(http, base).await;
    let window = diff(&after, before);
    (quantile(&window, 0.50), quantile(&window, 0.99))
}
