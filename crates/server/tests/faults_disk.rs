//! A full disk under the data dir (V10, V12, O1): the binary runs on SQLite with its data
//! dir on a small tmpfs. Nearly full, a recording download fails cleanly (no partial file
//! left) and the job retries; quite full, Twilio's webhooks still answer (TwiML or 204,
//! never 500), `/readyz` answers 503 with `"disk":"full"`, and the log says why. Once space
//! is freed the job finishes, `/readyz` recovers, and SQLite's integrity check passes.
//!
//! Needs root to mount the tmpfs; elsewhere it prints SKIPPED and passes.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::node::Node;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN, call_params, new_call_sid, params};
use mokdan::store::{Db, jobs};
use sim::{Sim, SimConfig};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

/// A tmpfs mounted for the test, unmounted (lazily) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Appends to `filler` until the disk is full, then gives back `leave` bytes.
fn fill(filler: &Path, leave: u64) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(filler)
        .unwrap();
    let chunk = vec![7u8; 16 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_data()).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
}

async fn signed(node: &Node, path: &str, form: &[(String, String)]) -> reqwest::Response {
    let url = format!("{}{path}", node.base());
    let sig = telephony::signature::compute(AUTH_TOKEN, &url, form);
    reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", sig)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_cleanly_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(_mount) = Tmpfs::mount(&data, "4m") else {
        return;
    };
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let db_url = format!("sqlite://{}/mokdan.db", data.display());
    let db = Db::open(&db_url).await.unwrap();
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&db, "חנות פרחים", &phone)
        .await
        .unwrap();
    let api = sim.api_base();
    let port = common::node::free_port();
    let public = format!("http://127.0.0.1:{port}");
    let vars = [
        ("MOKDAN_ENV", "production"),
        ("DATABASE_URL", db_url.as_str()),
        ("PUBLIC_BASE_URL", public.as_str()),
        ("JWT_SECRET", "disk-test-jwt-secret-0123456789"),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_API_BASE", api.as_str()),
        ("MOKDAN_JOB_LEASE_SECS", "2"),
    ];
    // The node's log lives outside the tmpfs so it can always be written.
    let mut node = Node::start_on("node", port, &data, &vars).await;
    let http = reqwest::Client::new();

    // Nearly full: the database still takes small writes, a 640 KB recording does not.
    let filler = data.join("filler");
    fill(&filler, 256 * 1024);
    let sid = new_call_sid();
    let r = signed(
        &node,
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, NUMBER),
    )
    .await;
    assert_eq!(r.status(), 200);
    let rec = sim.add_recording(&sid, common::node::tone_wav(40.0));
    let mut form = call_params(&sid, CALLER, NUMBER);
    form.extend(params(&[
        ("RecordingSid", &rec.sid),
        ("RecordingUrl", &rec.url),
        ("RecordingStatus", "completed"),
    ]));
    assert_eq!(
        signed(&node, "/webhook/recording_status", &form)
            .await
            .status(),
        204
    );
    wait_until("the download to fail for want of space", 30, || {
        !node.lines_with(&["JOB_RETRY", "No space left"]).is_empty()
    })
    .await;
    let leftovers: Vec<_> = std::fs::read_dir(data.join("recordings"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "no partial recording left: {leftovers:?}"
    );

    // Quite full: the webhooks still answer, readiness says why.
    fill(&filler, 0);
    let sid2 = new_call_sid();
    let r = signed(
        &node,
        "/webhook/incoming_call",
        &call_params(&sid2, CALLER, NUMBER),
    )
    .await;
    assert_eq!(r.status(), 200, "incoming_call answers on a full disk");
    let twiml = r.text().await.unwrap();
    assert!(telephony::twiml::parse(&twiml).is_ok(), "{twiml}");
    let status = params(&[("CallSid", &sid2), ("CallStatus", "completed")]);
    assert_eq!(
        signed(&node, "/webhook/call_status", &status)
            .await
            .status(),
        204
    );
    let r = signed(
        &node,
        "/webhook/stream_ended",
        &call_params(&sid2, CALLER, NUMBER),
    )
    .await;
    assert_eq!(r.status(), 200, "stream_ended answers TwiML");
    let ready = http
        .get(format!("{}/readyz", node.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["disk"], "full", "{body}");
    assert!(
        !node.lines_with(&["DISK_ERROR"]).is_empty(),
        "{}",
        node.log()
    );
    // The recording fallback's prompt is still served (from the bundled audio).
    let prompt = mokdan::prompts::name_of(
        &voice::TextToSpeech::voice_id(&voice::tts::espeak::EspeakTts::default()),
        None,
        mokdan::prompts::text::FALLBACK,
    );
    let r = http
        .get(format!("{}/static/tts/{prompt}", node.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Space comes back: the job retries and finishes; readiness recovers.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let js = jobs::by_kind(&db, "fetch_recording").await.unwrap();
        if js.len() == 1 && js[0].state == "done" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the download never finished: {js:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kept = std::fs::read_dir(data.join("recordings")).unwrap().count();
    assert_eq!(kept, 1, "the recording is on disk");
    let ready = http
        .get(format!("{}/readyz", node.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(node.terminate().await, "clean exit");
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(check, "ok", "SQLite is not corrupted");
    db.close().await;
}
