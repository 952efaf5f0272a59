//! Per-route figures for the mixed load: every request's start time, latency and status.
//!
//! Samples keep their start time so the report can split a run into its steady part and
//! the outage window (plus recovery), which would otherwise blur each other's percentiles.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{ms, percentile};

#[derive(Default)]
struct Route {
    /// (start offset since the run began, latency) of answered requests.
    samples: Vec<(Duration, Duration)>,
    /// HTTP status → count; 0 is a transport error (no answer at all).
    codes: BTreeMap<u16, u64>,
}

pub struct Stats {
    began: Instant,
    routes: Mutex<BTreeMap<&'static str, Route>>,
}

/// A window of the run, in offsets since it began.
#[derive(Clone, Copy)]
pub struct Window {
    pub from: Duration,
    pub to: Duration,
}

impl Window {
    fn holds(&self, at: Duration) -> bool {
        at >= self.from && at < self.to
    }
}

impl Stats {
    pub fn new(began: Instant) -> Stats {
        Stats {
            began,
            routes: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.began.elapsed()
    }

    /// Records one request that started at `t0`; `status` 0 means no answer.
    pub fn record(&self, route: &'static str, t0: Instant, status: u16) {
        let at = t0.saturating_duration_since(self.began);
        let lat = t0.elapsed();
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let r = routes.entry(route).or_default();
        *r.codes.entry(status).or_default() += 1;
        if status != 0 {
            r.samples.push((at, lat));
        }
    }

    /// Answers with status ≥ 500 on routes whose name starts with `prefix`.
    pub fn server_errors(&self, prefix: &str) -> u64 {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .flat_map(|(_, r)| r.codes.iter())
            .filter(|(code, _)| **code >= 500)
            .map(|(_, n)| *n)
            .sum()
    }

    pub fn total(&self, route: &str) -> u64 {
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes
            .get(route)
            .map(|r| r.codes.values().sum())
            .unwrap_or(0)
    }

    /// One line per route: rate, p50/p99/p999 and status counts, over the windows given
    /// (requests that started inside any of them).
    pub fn print(&self, title: &str, windows: &[Window]) {
        let span: f64 = windows
            .iter()
            .map(|w| w.to.saturating_sub(w.from).as_secs_f64())
            .sum();
        println!("{title} ({span:.0} s)");
        println!(
            "  {:<34} {:>9} {:>10} {:>10} {:>10}  statuses",
            "route", "req/s", "p50", "p99", "p99.9"
        );
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        for (name, r) in routes.iter() {
            let mut lat: Vec<Duration> = r
                .samples
                .iter()
                .filter(|(at, _)| windows.iter().any(|w| w.holds(*at)))
                .map(|(_, l)| *l)
                .collect();
            if lat.is_empty() {
                continue;
            }
            lat.sort();
            let codes: Vec<String> = r
                .codes
                .iter()
                .map(|(c, n)| {
                    if *c == 0 {
                        format!("no-answer×{n}")
                    } else {
                        format!("{c}×{n}")
                    }
                })
                .collect();
            println!(
                "  {:<34} {:>9.1} {:>10} {:>10} {:>10}  {}",
                name,
                lat.len() as f64 / span.max(1e-9),
                ms(percentile(&lat, 50.0)),
                ms(percentile(&lat, 99.0)),
                ms(percentile(&lat, 99.9)),
                codes.join(" ")
            );
        }
    }
}
