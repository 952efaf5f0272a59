//! Stopping a node in the middle of a burst of calls loses none of them (V3, V12).
//!
//! A paced burst of signed `incoming_call` webhooks goes through nginx to two nodes; one
//! node gets SIGTERM mid-burst (it drains and exits, and is started again), then the other
//! gets kill -9. Every webhook must get its TwiML (nginx sends a webhook whose node refused
//! or dropped the connection to the other node, which is safe because webhooks are
//! idempotent by CallSid), and every answered call must have its row, including any a
//! node kept in its local outbox, replayed when it restarts.
//!
//! `MOKDAN_FAILOVER_CALLS` sets the burst size (default 640, ~8 s; at least that).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{CALLER, Cluster, NUMBER};
use common::twilio::{call_params, new_call_sid};

/// The upstream's `fail_timeout` in deploy/nginx/mokdan-site.conf, plus a margin.
const FAIL_TIMEOUT: Duration = Duration::from_millis(2500);

/// What became of one webhook.
struct Answer {
    sid: String,
    status: u16,
    connected: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_node_mid_burst_loses_no_call_rows() {
    // The watchdog stays out of the way: these calls never stream.
    let Some(mut c) = Cluster::start(&[("MOKDAN_WATCHDOG_START_SECS", "600")]).await else {
        return;
    };
    let total: usize = std::env::var("MOKDAN_FAILOVER_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(640)
        .max(640);
    // About 80 calls a second: the burst lasts ~8 s at the default size.
    let pace = Duration::from_micros(12_500);
    let http = c.http.clone();
    let base = c.nginx.base();
    let started = Instant::now();
    let burst = tokio::spawn(async move {
        let limit = Arc::new(tokio::sync::Semaphore::new(32));
        let mut tasks = Vec::with_capacity(total);
        for i in 0..total {
            tokio::time::sleep_until((started + pace * i as u32).into()).await;
            let permit = limit.clone().acquire_owned().await.unwrap();
            let (http, base) = (http.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = permit;
                let sid = new_call_sid();
                let form = call_params(&sid, CALLER, NUMBER);
                let url = format!("{base}/webhook/incoming_call");
                let sig = telephony::signature::compute(common::twilio::AUTH_TOKEN, &url, &form);
                let r = http
                    .post(&url)
                    .header("X-Twilio-Signature", sig)
                    .form(&form)
                    .timeout(Duration::from_secs(20))
                    .send()
                    .await;
                let (status, body) = match r {
                    Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                    Err(_) => (0, String::new()),
                };
                let connected = telephony::twiml::parse(&body)
                    .map(|t| t.stream_connect().is_some())
                    .unwrap_or(false);
                Answer {
                    sid,
                    status,
                    connected,
                }
            }));
        }
        let mut answers = Vec::with_capacity(total);
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        answers
    });

    // 1.5 s in: SIGTERM to node A; it drains, exits 0, and comes back.
    tokio::time::sleep_until((started + Duration::from_millis(1500)).into()).await;
    assert!(c.nodes[0].terminate().await, "node A exits 0 after SIGTERM");
    let a_stopped = started.elapsed();
    c.nodes[0].spawn().await;
    let a_back = started.elapsed();
    // Once nginx uses node A again (its `fail_timeout` is 2 s, and on a loaded machine the
    // restart itself takes a while): kill -9 node B. Killing B while nginx still counts A
    // as down would leave it no node at all, which is not the failure under test.
    tokio::time::sleep_until((started + a_back + FAIL_TIMEOUT).into()).await;
    let a_upstream = format!("upstream={} ustatus=200", c.nodes[0].addr);
    let seen_before = c.nginx.access_log().matches(&a_upstream).count();
    let wait_until = Instant::now() + Duration::from_secs(5);
    while c.nginx.access_log().matches(&a_upstream).count() <= seen_before
        && Instant::now() < wait_until
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.nodes[1].kill9().await;
    let b_killed = started.elapsed();
    let answers = burst.await.unwrap();
    let burst_took = started.elapsed();
    assert!(
        b_killed < burst_took,
        "node B died before the burst ended ({b_killed:?} of {burst_took:?})"
    );
    // B comes back: anything it had kept in its local outbox is replayed.
    c.nodes[1].spawn().await;

    let failed: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status != 200 || !a.connected)
        .collect();
    let answered: Vec<&str> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| a.sid.as_str())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT call_sid FROM call_logs")
            .fetch_all(&c.db.pool)
            .await
            .unwrap();
        let have: std::collections::HashSet<String> = rows.into_iter().map(|r| r.0).collect();
        let missing: Vec<&str> = answered
            .iter()
            .copied()
            .filter(|s| !have.contains(*s))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let access = c.nginx.access_log();
    let retried = access
        .lines()
        .filter(|l| l.contains("/webhook/incoming_call") && l.contains(", "))
        .count();
    eprintln!(
        "failover: {total} webhooks in {burst_took:?}; node A stopped at {a_stopped:?}, back at \
         {a_back:?}; node B killed at {b_killed:?}; {} answered 200, {} not, {retried} resent \
         by nginx to the other node; {} rows missing",
        answered.len(),
        failed.len(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "answered calls without a row: {missing:?}"
    );
    assert!(
        failed.is_empty(),
        "{} webhooks failed (first: status {}):\n{}",
        failed.len(),
        failed[0].status,
        c.nginx.error_log()
    );
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_logs")
        .fetch_one(&c.db.pool)
        .await
        .unwrap();
    assert_eq!(rows as usize, total, "one row per call, no duplicates");
}
