//! O1: liveness, readiness, version, metrics and the landing page, on both databases.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use serde_json::Value;

async fn health_endpoints(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let r = app.get("/health").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        serde_json::json!({"ok": true})
    );
    assert_eq!(app.get("/healthz").await.status(), 200);

    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["db"], "ok");
    assert_eq!(
        ready["db_backend"],
        if backend == Backend::Postgres {
            "postgres"
        } else {
            "sqlite"
        }
    );
    assert_eq!(ready["openai"], "disabled");
    for key in ["tts", "stt", "twilio", "google", "whatsapp"] {
        assert!(ready[key].is_string(), "readyz lacks {key}: {ready}");
    }
    assert_eq!(ready["agent"], "scripted", "no LLM: the scripted intake");
    assert_eq!(ready["agent_engine"], "scripted");

    let v: Value = app.get("/version").await.json().await.unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["git_commit"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(v["build_time"].as_str().is_some_and(|s| s.ends_with('Z')));

    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"lang="he""#) && html.contains(r#"dir="rtl""#));
    assert!(html.contains("מוקדן"));

    let r = app.get("/health").await;
    assert!(r.headers().contains_key("x-request-id"));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/health",status="200"}"#),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    app.shutdown().await.unwrap();
}
dual_test!(health_endpoints);

async fn configured_providers_show_in_readyz(backend: Backend) {
    let ai = common::ai::Ai::start().await;
    let app = TestApp::spawn_with(
        backend,
        &[
            ("OPENAI_API_KEY", common::ai::KEY),
            ("OPENAI_BASE_URL", ai.base.as_str()),
            ("TWILIO_ACCOUNT_SID", "AC1"),
            ("TWILIO_AUTH_TOKEN", "t"),
        ],
    )
    .await;
    let r = app.get("/readyz").await;
    let body = r.text().await.unwrap();
    assert!(!body.contains(common::ai::KEY), "a secret reached /readyz");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["openai"], "ok", "the server answered its model list");
    assert_eq!(ready["twilio"], "ok");
    assert_eq!(ready["tts"], "ok");
    assert_eq!(
        ready["tts_engine"], "openai",
        "a configured OpenAI key speaks with OpenAI"
    );
    assert_eq!(ready["stt"], "ok");
    assert_eq!(ready["stt_engine"], "openai");
    assert_eq!(ready["agent_engine"], "openai");
    assert_eq!(
        ready["agent"],
        voice::openai::OpenAiConfig::new("").chat_model,
        "the LLM's model"
    );
    app.shutdown().await.unwrap();
}
dual_test!(configured_providers_show_in_readyz);

fn ok_or_disabled(on: bool) -> &'static str {
    if on { "ok" } else { "disabled" }
}

/// What `/readyz` calls the local voice on this machine.
fn local_voice() -> &'static str {
    if mokdan::ops::on_path("espeak-ng") {
        "espeak-ng"
    } else {
        "none"
    }
}

/// `tts_engine` names the voice callers actually hear: `MOKDAN_TTS`, else OpenAI when its
/// key is set, else Google when configured, else espeak-ng.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_voice_that_actually_speaks() {
    // Nothing here may reach a real provider: both point at a closed local port.
    let google = serde_json::json!({
        "type": "service_account",
        "client_email": "voice@mokdan-test.iam.gserviceaccount.com",
        "private_key": include_str!("../../voice/tests/fixtures/google_test_key.pem"),
        "token_uri": "http://127.0.0.1:9/token",
    })
    .to_string();
    let key = ("OPENAI_API_KEY", "sk-test-key");
    let base = ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
    let gcp = ("GCP_CREDENTIALS_JSON", google.as_str());
    // (settings, `tts_engine`, the provider's own name)
    let cases = [
        (vec![key, base], "openai", "openai"),
        (
            vec![key, base, ("MOKDAN_TTS", "espeak")],
            local_voice(),
            "espeak",
        ),
        (vec![gcp], "google", "google"),
        (
            vec![key, base, ("MOKDAN_TTS", "openai")],
            "openai",
            "openai",
        ),
        (vec![key, base, gcp], "openai", "openai"),
        (
            vec![key, base, gcp, ("MOKDAN_TTS", "google")],
            "google",
            "google",
        ),
        (
            vec![key, base, gcp, ("MOKDAN_TTS", "espeak")],
            local_voice(),
            "espeak",
        ),
        (vec![gcp, ("MOKDAN_TTS", "google")], "google", "google"),
    ];
    for (vars, engine, provider) in cases {
        let app = TestApp::spawn_with(Backend::Sqlite, &vars).await;
        let ready: Value = app.get("/readyz").await.json().await.unwrap();
        assert_eq!(ready["tts_engine"], engine, "{vars:?}");
        assert_eq!(ready["tts"], ok_or_disabled(engine != "none"), "{vars:?}");
        assert_eq!(app.state.calls.voice.tts.name(), provider, "{vars:?}");
        app.shutdown().await.unwrap();
    }
}

/// `openai` in `/readyz` says whether the server answers, not merely that a key is set: a
/// refused key and a server that does not answer are told apart from a working one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_asks_openai_rather_than_assuming() {
    let ai = common::ai::Ai::start().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    let cases = [
        (common::ai::KEY, ai.base.clone(), "ok"),
        ("sk-revoked-key-0000", ai.base.clone(), "unauthorized"),
        (common::ai::KEY, closed, "error"),
    ];
    for (key, base, expected) in cases {
        let app = TestApp::spawn_with(
            Backend::Sqlite,
            &[("OPENAI_API_KEY", key), ("OPENAI_BASE_URL", base.as_str())],
        )
        .await;
        let r = app.get("/readyz").await;
        assert_eq!(r.status(), 200, "OpenAI does not make the service unready");
        let ready: Value = r.json().await.unwrap();
        assert_eq!(ready["openai"], expected, "{base}");
        app.shutdown().await.unwrap();
    }
}

/// A speech-to-text server of its own (e.g. a local Whisper) needs no key and leaves the
/// agent scripted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speech_to_text_server_alone_shows_in_readyz() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("OPENAI_STT_BASE_URL", "http://127.0.0.1:9/v1")],
    )
    .await;
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["stt"], "ok");
    assert_eq!(ready["stt_engine"], "openai");
    assert_eq!(ready["openai"], "disabled", "no key: no LLM");
    assert_eq!(app.state.calls.voice.agent.name(), "scripted");
    assert_eq!(
        app.state.calls.voice.stt.as_ref().map(|s| s.name()),
        Some("openai")
    );
    let none = TestApp::spawn(Backend::Sqlite).await;
    let ready: Value = none.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["stt"], "disabled");
    assert_eq!(ready["stt_engine"], "none");
    none.shutdown().await.unwrap();
    app.shutdown().await.unwrap();
}

/// `/readyz` goes 503 while PostgreSQL is unreachable and recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_database_down_and_back() {
    let db = common::create_pg_database().await;
    let proxy = common::proxy::Proxy::start(&common::pg_host_port()).await;
    let url = common::pg_url(&proxy.addr.to_string(), &db);
    let app = TestApp::spawn_on(url, tempfile::tempdir().unwrap(), &[]).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    proxy.cut().await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["db"], "error");
    assert_eq!(body["status"], "not_ready");
    // Liveness does not depend on the database.
    assert_eq!(app.get("/health").await.status(), 200);

    proxy.restore().await;
    let mut recovered = false;
    for _ in 0..50 {
        if app.get("/readyz").await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "/readyz did not recover after the database returned"
    );
    app.shutdown().await.unwrap();
}

/// `/metrics` wants `MOKDAN_METRICS_TOKEN` as a bearer token when it is set, and is closed
/// in production when it is not (development stays open, as the test above shows) (#16.9).
async fn metrics_need_their_token(backend: Backend) {
    let production = [
        ("MOKDAN_ENV", "production"),
        ("JWT_SECRET", "a-jwt-secret-of-enough-length"),
        ("TWILIO_ACCOUNT_SID", "AC1"),
        ("TWILIO_AUTH_TOKEN", "tok"),
        ("PUBLIC_BASE_URL", "https://calls.example.com"),
    ];
    let app = TestApp::spawn_with(backend, &production).await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MOKDAN_METRICS_TOKEN")
    );
    app.shutdown().await.unwrap();

    let mut vars = production.to_vec();
    vars.push(("MOKDAN_METRICS_TOKEN", "scrape-me-0123456789"));
    let app = TestApp::spawn_with(backend, &vars).await;
    assert_eq!(app.get("/metrics").await.status(), 401);
    for (auth, status) in [
        ("Bearer wrong-token", 401),
        ("Basic c2NyYXBlLW1lLTAxMjM0NTY3ODk=", 401),
        ("Bearer scrape-me-0123456789", 200),
    ] {
        let r = app
            .http
            .get(app.url("/metrics"))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{auth}");
        if status == 200 {
            assert!(r.text().await.unwrap().contains("http_requests_total"));
        }
    }
    app.shutdown().await.unwrap();
}
dual_test!(metrics_need_their_token);
