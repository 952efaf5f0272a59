//! Two nodes behind nginx on one PostgreSQL (V8, V10, V12, O4): a call's webhook and its
//! media socket land on different nodes and the watchdog still fires exactly once (and
//! never for a healthy split call), jobs enqueued on both nodes run exactly once, and the
//! documented nginx site is valid. Stopping a node mid-burst is in nodes_failover.rs.
//!
//! nginx comes from Debian (scripts/test.sh installs it); without it these tests print
//! SKIPPED and pass.

mod common;

use std::time::Duration;

use common::cluster::{CALLER, Cluster};
use common::twilio::{call_params, new_call_sid, params};
use sim::CallerScript;

fn assert_clean(report: &sim::CallReport) {
    assert!(
        report.is_clean(),
        "protocol errors: {:?}\n{}",
        report.protocol_errors,
        report.print_timeline()
    );
}

/// A caller who listens to the greeting, says one sentence, hears the reply, hangs up.
fn healthy_caller() -> CallerScript {
    CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, אני רוצה לקבוע תור לטיפול")
        .wait_for_agent(Duration::from_secs(20))
        .hang_up()
        .max_duration(Duration::from_secs(90))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_fires_once_across_nodes_and_never_for_a_split_call() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    // A call whose stream never starts: both nodes' watchdogs see it due; one fires.
    let silent = c
        .sim
        .start_call(
            c.spec(
                CallerScript::new()
                    .never_connect_socket()
                    .silence(Duration::from_secs(18))
                    .say("שלום, זו הודעה. תחזרו אליי בבקשה")
                    .silence(Duration::from_secs(2))
                    .hang_up()
                    .max_duration(Duration::from_secs(60)),
            ),
        )
        .await
        .unwrap();

    // Healthy calls until one has its webhook on one node and its socket on the other.
    // nginx alternates between the nodes, so whether a call splits depends on how many
    // other requests (status callbacks, the other call's) pass between its webhook and its
    // socket, which timing decides. From the second try on, other requests are sent
    // through nginx at random moments while the call sets up, so each try is a fresh draw.
    let mut split = 0;
    for attempt in 0..10 {
        let noise = (attempt > 0).then(|| {
            let (http, base) = (reqwest::Client::new(), c.nginx.base());
            tokio::spawn(async move {
                let until = tokio::time::Instant::now() + Duration::from_secs(3);
                while tokio::time::Instant::now() < until {
                    let _ = http.get(format!("{base}/healthz")).send().await;
                    let pause = rand::random::<u64>() % 7_000;
                    tokio::time::sleep(Duration::from_micros(pause)).await;
                }
            })
        });
        let report = c.sim.call(c.spec(healthy_caller())).await.unwrap();
        if let Some(noise) = noise {
            noise.abort();
        }
        assert_clean(&report);
        let sid = report.call_sid.clone();
        assert!(
            c.redirects(&sid).is_empty(),
            "a healthy call is never redirected:\n{}",
            report.print_timeline()
        );
        assert!(report.heard_duration() > Duration::from_secs(2));
        // The node holding the socket writes the stream's end as the socket closes, which
        // may be a moment after the caller hung up.
        let mut row = c.row(&sid).await;
        for _ in 0..50 {
            if row.stream_end_reason.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            row = c.row(&sid).await;
        }
        assert_eq!(row.fallback_reason, None, "{row:?}");
        assert!(row.stream_end_reason.is_some(), "{row:?}");
        let webhook = c.nodes_logging(&["TWIML_FULL", "/webhook/incoming_call", &sid]);
        let socket = c.nodes_logging(&["WS_START", &sid]);
        assert_eq!(webhook.len(), 1, "one node answered the webhook");
        assert_eq!(socket.len(), 1, "one node took the socket");
        if webhook != socket {
            split += 1;
            break;
        }
    }
    assert!(
        split > 0,
        "no call had its webhook and socket on different nodes\naccess log:\n{}\nerror log:\n{}",
        c.nginx.access_log(),
        c.nginx.error_log()
    );

    let report = silent.finish().await;
    let sid = &report.call_sid;
    let redirects = c.redirects(sid);
    assert_eq!(
        redirects.len(),
        1,
        "exactly one Calls update:\n{}",
        report.print_timeline()
    );
    let twiml =
        telephony::twiml::parse(redirects[0].param("Twiml").expect("inline TwiML")).unwrap();
    let record = twiml.verbs.iter().find_map(|v| match v {
        telephony::twiml::Verb::Record(r) => Some(r),
        _ => None,
    });
    assert_eq!(
        record.and_then(|r| r.action.as_deref()),
        Some(format!("{}/webhook/handle_recording", c.nginx.base()).as_str()),
        "the fallback records through the public URL"
    );
    assert_eq!(
        c.count_lines(&["\"WATCHDOG_REDIRECT\"", sid]),
        1,
        "one WATCHDOG_REDIRECT over both nodes"
    );
    let row = c.row(sid).await;
    assert_eq!(row.fallback_reason.as_deref(), Some("no_stream_start"));
    assert!(
        row.recording_url.is_some(),
        "the caller's message was recorded:\n{}",
        report.print_timeline()
    );
}

/// Twilio's `recordingStatusCallback` for a finished recording.
fn recording_done(call_sid: &str, rec: &sim::RecordingInfo) -> Vec<(String, String)> {
    let mut form = call_params(call_sid, CALLER, common::cluster::NUMBER);
    form.extend(params(&[
        ("RecordingSid", &rec.sid),
        ("RecordingUrl", &rec.url),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "1"),
    ]));
    form
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_enqueued_on_both_nodes_run_exactly_once() {
    let Some(c) = Cluster::start(&[]).await else {
        return;
    };
    // A slow Twilio, so both nodes' workers have jobs in hand at once.
    c.sim.set_recording_delay(Duration::from_millis(200));
    const N: usize = 24;
    let wav = common::node::tone_wav(1.0);
    let mut recs = Vec::new();
    for _ in 0..N {
        let sid = new_call_sid();
        let rec = c.sim.add_recording(&sid, wav.clone());
        let r = c
            .post_signed("/webhook/recording_status", &recording_done(&sid, &rec))
            .await;
        assert_eq!(r.status(), 204);
        recs.push(rec);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let jobs = loop {
        let jobs = mokdan::store::jobs::by_kind(&c.db, "fetch_recording")
            .await
            .unwrap();
        if jobs.len() == N && jobs.iter().all(|j| j.state == "done") {
            break jobs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs not done in 60 s: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(jobs.iter().all(|j| j.attempts == 1), "{jobs:?}");
    let log = c.sim.rest_log();
    for rec in &recs {
        let fetches = log
            .iter()
            .filter(|r| {
                r.method == "GET" && r.path.ends_with(&format!("/Recordings/{}.wav", rec.sid))
            })
            .count();
        assert_eq!(fetches, 1, "recording {} fetched {fetches} times", rec.sid);
    }
    let per_node: Vec<usize> = c
        .nodes
        .iter()
        .map(|n| n.lines_with(&["JOB_DONE", "fetch_recording"]).len())
        .collect();
    eprintln!("fetch_recording jobs run per node: {per_node:?}");
    assert_eq!(per_node.iter().sum::<usize>(), N, "{per_node:?}");
    assert!(
        per_node.iter().all(|&n| n > 0),
        "both nodes ran jobs: {per_node:?}"
    );
}

/// The documented site passes `nginx -t` as written, with a throwaway certificate in place
/// of the real one and the snippets read from deploy/.
#[test]
fn the_documented_nginx_site_passes_nginx_t() {
    let Some(bin) = common::nginx::binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=calls.example.co.il"])
        .args([
            "-keyout",
            &format!("{d}/privkey.pem"),
            "-out",
            &format!("{d}/fullchain.pem"),
        ])
        .output();
    if !matches!(&made, Ok(o) if o.status.success()) {
        eprintln!("SKIPPED: openssl cannot make a test certificate");
        return;
    }
    let deploy = common::nginx::deploy_dir().canonicalize().unwrap();
    let site = std::fs::read_to_string(deploy.join("nginx/mokdan-site.conf"))
        .unwrap()
        .replace(
            "/etc/nginx/snippets/",
            &format!("{}/nginx/", deploy.display()),
        )
        .replace(
            "/etc/letsencrypt/live/calls.example.co.il/",
            &format!("{d}/"),
        )
        .replace("/var/log/nginx/", &format!("{d}/"));
    assert!(site.contains("include") && site.contains("mokdan-proxy.conf"));
    std::fs::write(dir.path().join("site.conf"), site).unwrap();
    let conf = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n    include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let out = std::process::Command::new(bin)
        .args([
            "-t",
            "-p",
            &d,
            "-c",
            &format!("{d}/nginx.conf"),
            "-e",
            &format!("{d}/error.log"),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nginx -t refused the documented site:\n{said}"
    );
    assert!(said.contains("syntax is ok"), "{said}");
}

/// The documented systemd unit passes `systemd-analyze verify` (with this build's binary in
/// place of /usr/local/bin/mokdan), where systemd's tools are installed.
#[test]
fn the_documented_systemd_unit_verifies() {
    let Ok(which) = std::process::Command::new("which")
        .arg("systemd-analyze")
        .output()
    else {
        return;
    };
    if !which.status.success() {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(common::nginx::deploy_dir().join("mokdan.service"))
        .unwrap()
        .replace("/usr/local/bin/mokdan", common::node::BIN);
    for needed in [
        "EnvironmentFile=",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(needed), "the unit sets {needed}");
    }
    let path = dir.path().join("mokdan.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
}
