//! Secrets never reach a log line (S2).
//!
//! The real binary runs in production mode (JSON logs, debug level) on PostgreSQL with a
//! password in `DATABASE_URL`, and is given a known value for every secret the settings
//! hold. A representative day goes through it: the startup `CONFIG` line, signed and
//! unsigned Twilio webhooks, a media stream with its per-call token, logins that succeed
//! and fail, the session cookie and its CSRF token, the bearer JWT, an API token, a
//! WhatsApp send through Meta, Meta and Baileys webhooks with right and wrong secrets, and
//! an outbound call through Twilio's REST API. Upstreams are a local stand-in that checks
//! the secrets were really used. Then every line the process wrote, on stdout and stderr,
//! is searched for every secret, and for the forms they travel in (Basic auth).
//!
//! Every fixed secret contains `SECRET_MARK`, which scripts/test.sh also looks for in the
//! whole test log.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use base64::Engine;
use futures::SinkExt;
use serde_json::{Value, json};
use telephony::media::StreamEvent;
use tokio_tungstenite::tungstenite::Message;

use crate::common::ws;

const BIN: &str = env!("CARGO_BIN_EXE_mokdan");
/// In every fixed secret below, so a leak is easy to find in any log.
pub const SECRET_MARK: &str = "zqLEAKMARK";

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-zqLEAKMARK-9f1c2d3e4b5a";
const JWT_SECRET: &str = "jwt-zqLEAKMARK-0123456789abcdef0123";
const OPENAI_KEY: &str = "sk-zqLEAKMARK-openai-7a6b5c4d3e2f";
const DB_PASSWORD: &str = "pg-zqLEAKMARK-hunter2";
const META_TOKEN: &str = "EAAG-zqLEAKMARK-meta-access";
const META_APP_SECRET: &str = "meta-app-zqLEAKMARK-5e4d3c";
const META_VERIFY: &str = "meta-verify-zqLEAKMARK-77";
const BAILEYS_SECRET: &str = "bridge-zqLEAKMARK-4242";
const METRICS_TOKEN: &str = "metrics-zqLEAKMARK-scrape";
const PASSWORD: &str = "user-pw-zqLEAKMARK-correct";
const WRONG_PASSWORD: &str = "user-pw-zqLEAKMARK-wrong";
const BUSINESS: &str = "+97231234567";
const CUSTOMER: &str = "+972501234567";

/// What the stand-in upstream saw: each request's path and Authorization header.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Twilio's REST API, Meta's Graph API and OpenAI, as far as this flow needs them.
async fn upstream(
    State(seen): State<Seen>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let path = uri.path().to_string();
    seen.lock()
        .unwrap()
        .push((format!("{method} {path}"), auth));
    if path.starts_with("/2010-04-01/") {
        let sid = format!("CA{}", uuid::Uuid::new_v4().simple());
        let body = json!({"sid": sid, "status": "queued", "to": CUSTOMER, "from": BUSINESS, "direction": "outbound-api"});
        return (StatusCode::CREATED, axum::Json(body)).into_response();
    }
    if path.starts_with("/v21.0/") {
        let id = format!("wamid.{}", uuid::Uuid::new_v4().simple());
        return axum::Json(json!({"messaging_product": "whatsapp", "messages": [{"id": id}]}))
            .into_response();
    }
    // OpenAI says no the way it does: the key masked.
    let body = json!({"error": {"message": "Incorrect API key provided: sk-zq****2f2f.", "type": "invalid_request_error", "code": "invalid_api_key"}});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// Collects every line the child writes on stdout and stderr.
fn capture(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
    let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
    for pipe in [out, err] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap().push(line);
            }
        });
    }
    lines
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn mokdan(env: &HashMap<&str, String>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Fails with the offending lines if any line holds any of `secrets`.
fn assert_absent(lines: &[String], secrets: &[(&str, String)]) {
    let mut leaks = Vec::new();
    for (name, secret) in secrets {
        assert!(secret.len() >= 8, "{name} is too short to search for");
        for line in lines.iter().filter(|l| l.contains(secret.as_str())) {
            leaks.push(format!("{name} in: {line}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets in the logs:\n{}",
        leaks.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_log_line() {
    let _turn = super::exclusive().await;
    let seen: Seen = Arc::default();
    let fake = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_base = format!("http://{}", fake.local_addr().unwrap());
    let stand_in = Router::new().fallback(upstream).with_state(seen.clone());
    tokio::spawn(async move { axum::serve(fake, stand_in).await });

    let dir = tempfile::tempdir().unwrap();
    let db = crate::common::create_pg_database().await;
    let db_url = format!(
        "postgres://postgres:{DB_PASSWORD}@{}/{db}",
        crate::common::pg_host_port()
    );
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env: HashMap<&str, String> = [
        ("MOKDAN_ENV", "production".to_string()),
        ("RUST_LOG", "debug".into()),
        ("MOKDAN_LISTEN", format!("127.0.0.1:{port}")),
        ("PUBLIC_BASE_URL", base.clone()),
        ("DATABASE_URL", db_url.clone()),
        (
            "MOKDAN_DATA_DIR",
            dir.path().join("data").display().to_string(),
        ),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN.into()),
        ("TWILIO_API_BASE", fake_base.clone()),
        ("JWT_SECRET", JWT_SECRET.into()),
        ("OPENAI_API_KEY", OPENAI_KEY.into()),
        ("OPENAI_BASE_URL", format!("{fake_base}/v1")),
        ("MOKDAN_TTS", "espeak".into()),
        ("WHATSAPP_PROVIDER", "meta".into()),
        ("META_ACCESS_TOKEN", META_TOKEN.into()),
        ("META_PHONE_NUMBER_ID", "106540352242922".into()),
        ("META_APP_SECRET", META_APP_SECRET.into()),
        ("META_VERIFY_TOKEN", META_VERIFY.into()),
        ("META_API_BASE", format!("{fake_base}/v21.0")),
        ("BAILEYS_SHARED_SECRET", BAILEYS_SECRET.into()),
        ("MOKDAN_METRICS_TOKEN", METRICS_TOKEN.into()),
    ]
    .into();

    // Migrate with the binary, then add the business and its owner.
    let mut migrate = mokdan(&env).arg("migrate").spawn().unwrap();
    let migrate_lines = capture(&mut migrate);
    assert!(migrate.wait().unwrap().success());
    {
        let store = mokdan::store::Db::open(&db_url).await.unwrap();
        let phone = mokdan::domain::Phone::parse(BUSINESS).unwrap();
        let biz = mokdan::store::businesses::create(&store, "מוסך", &phone)
            .await
            .unwrap();
        let hash = mokdan::auth::hash_password(PASSWORD).unwrap();
        mokdan::store::users::create(
            &store,
            "owner@garage.test",
            &hash,
            mokdan::store::users::Role::Owner,
            Some(biz),
        )
        .await
        .unwrap();
        store.close().await;
    }

    let mut child = mokdan(&env).arg("serve").spawn().unwrap();
    let lines = capture(&mut child);
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{base}/health")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut derived = flow(&http, &base).await;

    // Stop it and gather everything it said.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let stopped = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            stopped.elapsed() < Duration::from_secs(15),
            "the server did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut all = migrate_lines.lock().unwrap().clone();
    all.extend(lines.lock().unwrap().iter().cloned());

    // The capture worked and the flow happened.
    for expected in [
        "CONFIG",
        "LOGIN",
        "LOGIN_FAILED",
        "TWIML_FULL",
        "WEBHOOK_SIGNATURE_INVALID",
        "WS_START",
        "WHATSAPP_INBOUND",
        "OUTBOUND_CALL",
    ] {
        assert!(
            all.iter().any(|l| l.contains(expected)),
            "no {expected} line in {} lines",
            all.len()
        );
    }
    // The upstreams really received the secrets.
    let seen = seen.lock().unwrap().clone();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{TWILIO_TOKEN}"))
    );
    for (what, auth) in [
        ("Twilio", basic.clone()),
        ("Meta", format!("Bearer {META_TOKEN}")),
    ] {
        assert!(
            seen.iter().any(|(_, a)| *a == auth),
            "{what} was never called with its secret: {seen:?}"
        );
    }
    println!(
        "{} log lines searched; upstream saw {:?}",
        all.len(),
        seen.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );

    let mut secrets: Vec<(&str, String)> = [
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("JWT_SECRET", JWT_SECRET),
        ("OPENAI_API_KEY", OPENAI_KEY),
        ("DATABASE_URL password", DB_PASSWORD),
        ("META_ACCESS_TOKEN", META_TOKEN),
        ("META_APP_SECRET", META_APP_SECRET),
        ("META_VERIFY_TOKEN", META_VERIFY),
        ("BAILEYS_SHARED_SECRET", BAILEYS_SECRET),
        ("MOKDAN_METRICS_TOKEN", METRICS_TOKEN),
        ("a user's password", PASSWORD),
        ("a mistyped password", WRONG_PASSWORD),
        ("the leak marker", SECRET_MARK),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    secrets.push((
        "Twilio Basic auth",
        basic.trim_start_matches("Basic ").to_string(),
    ));
    secrets.append(&mut derived);
    assert_absent(&all, &secrets);
}

/// The representative traffic; returns the secrets the server issued along the way.
async fn flow(http: &reqwest::Client, base: &str) -> Vec<(&'static str, String)> {
    let url = |p: &str| format!("{base}{p}");
    let mut issued = Vec::new();
    for p in ["/", "/health", "/readyz", "/version", "/app/login"] {
        assert!(
            http.get(url(p)).send().await.unwrap().status().is_success(),
            "{p}"
        );
    }
    let metrics = http
        .get(url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(metrics.status().is_success(), "/metrics with its token");

    // Twilio: a signed call, an unsigned one, a wrongly signed one, a status callback.
    let sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    let form: Vec<(String, String)> = [
        ("CallSid", sid.as_str()),
        ("AccountSid", ACCOUNT_SID),
        ("From", CUSTOMER),
        ("To", BUSINESS),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signed = |path: &str, form: &[(String, String)]| {
        let sig = telephony::signature::compute(TWILIO_TOKEN, &url(path), form);
        http.post(url(path))
            .header("x-twilio-signature", sig)
            .form(form)
            .send()
    };
    let r = signed("/webhook/incoming_call", &form).await.unwrap();
    assert_eq!(r.status(), 200);
    let twiml = telephony::twiml::parse(&r.text().await.unwrap()).unwrap();
    let Some(c) = twiml.stream_connect() else {
        panic!("{twiml:?}")
    };
    let stream_token = c
        .stream
        .parameters
        .iter()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .clone();
    issued.push(("the call's stream token", stream_token.clone()));
    assert_eq!(
        http.post(url("/webhook/incoming_call"))
            .form(&form)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let forged = http
        .post(url("/webhook/incoming_call"))
        .header("x-twilio-signature", "bm9wZQ==")
        .form(&form)
        .send();
    assert_eq!(forged.await.unwrap().status(), 403);

    // The media stream: a stranger's forged token, then the call itself, which speaks (so
    // speech goes to OpenAI, which refuses the key) and hangs up.
    let ws_url = format!("{}/ws/twilio-media", base.replace("http://", "ws://"));
    let (mut stranger, _) = ws::connect(&ws_url).await;
    ws::send(
        &mut stranger,
        &ws::start(
            "MZ1",
            &sid,
            &[("call_id", &sid), ("token", "forged-token-0123456789")],
        ),
    )
    .await;
    let _ = ws::next(&mut stranger, Duration::from_secs(2)).await;
    let (mut socket, _) = ws::connect(&ws_url).await;
    let stream = "MZ00000000000000000000000000000002";
    ws::send(
        &mut socket,
        &ws::start(stream, &sid, &[("call_id", &sid), ("token", &stream_token)]),
    )
    .await;
    let tone: Vec<i16> = (0..8000 * 2)
        .map(|i| ((i as f64 * 0.12).sin() * 12000.0 * ((i / 800) % 2) as f64) as i16)
        .collect();
    let speech = audio::mulaw::encode(&tone);
    let silence = vec![0xFFu8; 8000 * 2];
    for (i, frame) in speech.chunks(160).chain(silence.chunks(160)).enumerate() {
        let ev = StreamEvent::media(stream, i as u64 + 2, i as u64 + 1, i as u64 * 20, frame);
        if socket
            .send(Message::Text(ev.to_json().into()))
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = socket
        .send(Message::Text(
            StreamEvent::stop(stream, 9999, ACCOUNT_SID, &sid)
                .to_json()
                .into(),
        ))
        .await;
    let mut status_form = form.clone();
    status_form.push(("CallStatus".into(), "completed".into()));
    assert!(
        signed("/webhook/call_status", &status_form)
            .await
            .unwrap()
            .status()
            .is_success()
    );

    // Logins: wrong, malformed, right.
    let login = |body: Value| http.post(url("/api/auth/login")).json(&body).send();
    assert_eq!(
        login(json!({"email": "owner@garage.test", "password": WRONG_PASSWORD}))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        login(json!({"email": "nobody@garage.test", "password": PASSWORD}))
            .await
            .unwrap()
            .status(),
        401
    );
    let r = http
        .post(url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(format!("{{\"email\": 7, \"password\": \"{PASSWORD}\""))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let r = login(json!({"email": "owner@garage.test", "password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let body: Value = r.json().await.unwrap();
    let jwt = body["token"].as_str().unwrap().to_string();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let session = cookies
        .iter()
        .find_map(|c| c.strip_prefix("mokdan_session="))
        .unwrap()
        .to_string();
    issued.extend([
        ("the bearer JWT", jwt.clone()),
        ("the CSRF token", csrf.clone()),
        ("the session cookie", session.clone()),
    ]);
    let cookie = cookies.join("; ");

    // The cookie: a page, a read, a write without CSRF proof, a write with it.
    assert!(
        http.get(url("/app/biz"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let customer = json!({"phone": "050-2222222", "name": "דנה"});
    let r = http
        .post(url("/api/customers"))
        .header("cookie", &cookie)
        .json(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(url("/api/customers"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // An API token: made with the JWT, used, and a forged one refused.
    let r = http
        .post(url("/api/tokens"))
        .bearer_auth(&jwt)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let api_token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    issued.push(("an API token", api_token.clone()));
    assert_eq!(
        http.get(url("/api/customers"))
            .bearer_auth(&api_token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(url("/api/customers"))
            .bearer_auth("mk_0123456789abcdef0123456789abcdef")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(url("/api/auth/me"))
            .bearer_auth(format!("{jwt}x"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // WhatsApp: Meta's handshake (right and wrong token), signed and unsigned notifications,
    // the bridge with right and wrong secrets, and a send through Meta.
    let verify = |token: &str| {
        http.get(url(&format!("/webhook/whatsapp/meta?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"))).send()
    };
    assert_eq!(verify(META_VERIFY).await.unwrap().status(), 200);
    assert_eq!(verify("not-the-token").await.unwrap().status(), 403);
    let note = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "97231234567", "phone_number_id": "106540352242922"},
        "contacts": [{"wa_id": "972501234567", "profile": {"name": "דנה"}}],
        "messages": [{"id": "wamid.zz1", "from": "972501234567", "timestamp": "1700000000", "type": "text", "text": {"body": "שלום"}}]}}]}]})
    .to_string();
    let meta = |sig: String| {
        http.post(url("/webhook/whatsapp/meta"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(note.clone())
            .send()
    };
    assert_eq!(
        meta(mokdan::whatsapp::meta::sign(
            META_APP_SECRET,
            note.as_bytes()
        ))
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(meta("sha256=00".into()).await.unwrap().status(), 403);
    let event = json!({"event": "message", "id": "3EB0ZZ1", "from": "972501234567@s.whatsapp.net", "to": BUSINESS, "text": "היי"});
    let bridge = |secret: &str| {
        http.post(url("/webhook/whatsapp/baileys"))
            .header("x-bridge-secret", secret)
            .json(&event)
            .send()
    };
    assert_eq!(bridge(BAILEYS_SECRET).await.unwrap().status(), 200);
    assert_eq!(bridge("wrong-bridge-secret").await.unwrap().status(), 403);
    let r = http
        .post(url("/api/whatsapp/send"))
        .bearer_auth(&jwt)
        .json(&json!({"to": CUSTOMER, "body": "שלום, חזרנו אליך"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    // An outbound call through Twilio's REST API.
    let r = http
        .post(url("/api/calls"))
        .bearer_auth(&jwt)
        .json(&json!({"to": "050-3333333"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Logout with the cookie (and its CSRF token).
    let r = http
        .post(url("/api/auth/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Let background work (WhatsApp delivery, the stream's end) finish logging.
    tokio::time::sleep(Duration::from_secs(2)).await;
    issued
}

/// Unusable Google credentials are refused by name, without quoting their private key.
#[test]
fn bad_credentials_are_refused_without_quoting_them() {
    let dir = tempfile::tempdir().unwrap();
    let key = format!(
        "-----BEGIN PRIVATE KEY-----\\nMIIE{SECRET_MARK}private\\n-----END PRIVATE KEY-----\\n"
    );
    let env: HashMap<&str, String> = [
        ("MOKDAN_LISTEN", "127.0.0.1:0".to_string()),
        ("MOKDAN_DATA_DIR", dir.path().display().to_string()),
        (
            "GCP_CREDENTIALS_JSON",
            format!(
                r#"{{"type":"service_account","client_email":"x@y.iam","private_key":"{key}"}}"#
            ),
        ),
    ]
    .into();
    let mut child = mokdan(&env).arg("serve").spawn().unwrap();
    let lines = capture(&mut child);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(100));
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("GCP_CREDENTIALS_JSON")),
        "{lines:?}"
    );
    assert_absent(&lines, &[("the private key", format!("MIIE{SECRET_MARK}"))]);
}
