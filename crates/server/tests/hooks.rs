//! Signed webhooks out (#22), over real HTTP on both databases: a local receiver gets
//! `call.completed` for a simulated call and `lead.created` for a new customer, signed so
//! that the specification's own library (PyPI `standardwebhooks`, through
//! scripts/verify_webhook.py) accepts them; a 500 is retried until delivered, a 410 is
//! final, a delivery can be resent; another business sees and resends nothing; the secret
//! is shown once; in production private, loopback and link-local endpoints are refused at
//! registration and again at delivery after DNS resolution.

mod common;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use common::crm;
use common::twilio::{self, AUTH_TOKEN, call_params, new_call_sid, params};
use common::{Backend, TestApp};
use mokdan::store::users::Role;
use serde_json::{Value, json};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local HTTP receiver on port 0: records every request; answers each path from its
/// script of status codes (then 200).
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<u16>>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let script: Arc<Mutex<HashMap<String, VecDeque<u16>>>> = Arc::default();
        let (h, s) = (hits.clone(), script.clone());
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (h, s) = (h.clone(), s.clone());
            async move {
                let path = uri.path().to_string();
                h.lock().unwrap().push(Hit {
                    path: path.clone(),
                    headers,
                    body,
                });
                let code = s
                    .lock()
                    .unwrap()
                    .get_mut(&path)
                    .and_then(VecDeque::pop_front)
                    .unwrap_or(200);
                let mut res = StatusCode::from_u16(code).unwrap().into_response();
                if code == 302 {
                    res.headers_mut().insert("location", "/ok".parse().unwrap());
                }
                res
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, hits, script }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer(&self, path: &str, codes: &[u16]) {
        self.script
            .lock()
            .unwrap()
            .insert(path.to_string(), codes.iter().copied().collect());
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` got `n` requests.
    async fn wait_for(&self, path: &str, n: usize, within: Duration) -> Vec<Hit> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.hits(path);
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path}: {} of {n} requests within {within:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct World {
    app: TestApp,
    business_id: i64,
    owner: String,
    agent: String,
    /// Another business's owner.
    other: String,
}

async fn world(backend: Backend, extra: &[(&str, &str)]) -> World {
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
        // Nothing here is meant to reach Twilio.
        ("TWILIO_API_BASE", "http://127.0.0.1:9"),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &vars).await;
    let business_id = crm::add_business(&app, "מספרת רחל", NUMBER).await;
    let other_id = crm::add_business(&app, "עסק אחר", "+97239999999").await;
    crm::add_user(&app, "owner@hooks.test", Role::Owner, Some(business_id)).await;
    crm::add_user(&app, "agent@hooks.test", Role::Agent, Some(business_id)).await;
    crm::add_user(&app, "other@hooks.test", Role::Owner, Some(other_id)).await;
    World {
        owner: crm::login(&app, "owner@hooks.test").await,
        agent: crm::login(&app, "agent@hooks.test").await,
        other: crm::login(&app, "other@hooks.test").await,
        app,
        business_id,
    }
}

/// Registers an endpoint; (its id, its secret).
async fn register(w: &World, url: &str, events: &[&str]) -> (i64, String) {
    let (s, v) = crm::post(
        &w.app,
        "/api/webhooks/endpoints",
        &w.owner,
        json!({ "url": url, "events": events }),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let secret = v["secret"].as_str().expect("the secret, once").to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (v["id"].as_i64().unwrap(), secret)
}

/// The business's deliveries, newest first.
async fn deliveries(w: &World, endpoint_id: i64) -> Vec<Value> {
    let (s, v) = crm::get(
        &w.app,
        &format!("/api/webhooks/deliveries?endpoint_id={endpoint_id}"),
        &w.owner,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["deliveries"].as_array().unwrap().clone()
}

/// Waits until the endpoint's newest delivery has `status` (and returns it).
async fn wait_status(w: &World, endpoint_id: i64, status: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let all = deliveries(w, endpoint_id).await;
        if let Some(d) = all.first()
            && d["status"] == status
        {
            return d.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {status} delivery within {within:?}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Python that has `standardwebhooks`, if any.
fn python() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("MOKDAN_WEBHOOKS_PYTHON") {
        return Some(p.into());
    }
    let home = std::env::var_os("HOME")?;
    let p = std::path::Path::new(&home).join(".cache/mokdan-hooks-venv/bin/python");
    let ok = std::process::Command::new(&p)
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(p)
}

/// Verifies a received request with PyPI `standardwebhooks`; the verified payload. `None`
/// when the library is not installed (the test says so).
fn verify_with_library(secret: &str, hit: &Hit) -> Option<Result<Value, String>> {
    use base64::Engine;
    use std::io::Write;
    let Some(python) = python() else {
        eprintln!(
            "skipped the standardwebhooks check: no Python with it (scripts/test.sh installs \
             it into ~/.cache/mokdan-hooks-venv)"
        );
        return None;
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/verify_webhook.py");
    let headers: HashMap<&str, &str> = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .into_iter()
        .map(|n| (n, hit.header(n)))
        .collect();
    let input = json!({
        "secret": secret,
        "headers": headers,
        "body_b64": base64::engine::general_purpose::STANDARD.encode(&hit.body),
    });
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Some(if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

/// Our own check of the signature (the same computation, independent of the library).
fn check_signature(secret: &str, hit: &Hit) {
    let id = hit.header("webhook-id");
    let ts: i64 = hit.header("webhook-timestamp").parse().unwrap();
    assert!(id.starts_with("msg_"), "{id}");
    assert!((mokdan::store::now_ms() / 1000 - ts).abs() < 300, "{ts}");
    let body = std::str::from_utf8(&hit.body).unwrap();
    let want = mokdan::hooks::sign::signature(secret, id, ts, body).unwrap();
    assert_eq!(hit.header("webhook-signature"), want);
    assert_eq!(hit.header("content-type"), "application/json");
}

async fn call_and_lead_are_delivered_signed(backend: Backend) {
    let w = world(backend, &[]).await;
    let rx = Receiver::start().await;
    let (endpoint, secret) = register(
        &w,
        &rx.url("/ok"),
        &["call.completed", "lead.created", "whatsapp.received"],
    )
    .await;

    // The secret is shown once: never in a listing, a read or a delivery.
    for path in [
        "/api/webhooks/endpoints".to_string(),
        format!("/api/webhooks/endpoints/{endpoint}"),
    ] {
        let (s, v) = crm::get(&w.app, &path, &w.owner).await;
        assert_eq!(s, 200, "{v}");
        assert!(!v.to_string().contains(&secret), "{path} shows the secret");
        assert!(!v.to_string().contains("whsec_"), "{path}: {v}");
    }

    // A simulated call: it rings, then Twilio says it completed.
    let sid = new_call_sid();
    let r = w
        .app
        .post_signed("/webhook/incoming_call", &call_params(&sid, CALLER, NUMBER))
        .await;
    assert_eq!(r.status(), 200);
    let done = params(&[
        ("AccountSid", twilio::ACCOUNT_SID),
        ("CallSid", &sid),
        ("CallStatus", "completed"),
        ("CallDuration", "42"),
        ("From", CALLER),
        ("To", NUMBER),
    ]);
    let r = w.app.post_signed("/webhook/call_status", &done).await;
    assert_eq!(r.status(), 204);
    let hit = rx
        .wait_for("/ok", 1, Duration::from_secs(15))
        .await
        .remove(0);
    check_signature(&secret, &hit);
    let body = hit.json();
    assert_eq!(body["type"], "call.completed", "{body}");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'), "{body}");
    assert_eq!(body["data"]["call_sid"], json!(sid));
    assert_eq!(body["data"]["from"], CALLER);
    assert_eq!(body["data"]["to"], NUMBER);
    assert_eq!(body["data"]["business_id"], w.business_id);
    assert_eq!(body["data"]["duration_secs"], 42);
    if let Some(verified) = verify_with_library(&secret, &hit) {
        let v = verified.expect("standardwebhooks accepts the delivery");
        assert_eq!(v["type"], "call.completed");
        // And rejects it with another secret, or a changed body.
        let other = mokdan::hooks::sign::new_secret();
        assert!(verify_with_library(&other, &hit).unwrap().is_err());
        let mut tampered = hit.clone();
        tampered.body = Bytes::from(String::from_utf8_lossy(&hit.body).replace("42", "43"));
        assert!(verify_with_library(&secret, &tampered).unwrap().is_err());
    }
    // Twilio repeats the status: one event only.
    let r = w.app.post_signed("/webhook/call_status", &done).await;
    assert_eq!(r.status(), 204);

    // A new customer through the API: lead.created.
    let (s, c) = crm::post(
        &w.app,
        "/api/customers",
        &w.owner,
        json!({ "name": "דנה כהן", "phone": "050-7654321" }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let hits = rx.wait_for("/ok", 2, Duration::from_secs(15)).await;
    let hit = &hits[1];
    check_signature(&secret, hit);
    let body = hit.json();
    assert_eq!(body["type"], "lead.created", "{body}");
    assert_eq!(body["data"]["lead_id"], c["id"]);
    assert_eq!(body["data"]["name"], "דנה כהן");
    assert_eq!(body["data"]["phone"], "+972507654321");
    if let Some(verified) = verify_with_library(&secret, hit) {
        assert_eq!(verified.expect("verified")["data"]["name"], "דנה כהן");
    }
    assert_ne!(hits[0].header("webhook-id"), hit.header("webhook-id"));

    // Both recorded as delivered, first time, with the status code.
    let all = wait_status(&w, endpoint, "delivered", Duration::from_secs(5)).await;
    assert_eq!(all["attempts"], 1);
    let list = deliveries(&w, endpoint).await;
    assert_eq!(list.len(), 2, "{list:?}");
    for d in &list {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["last_status_code"], 200);
        assert_eq!(d["attempts"], 1);
    }
    assert_eq!(list[1]["event"], "call.completed");
    assert_eq!(list[1]["msg_id"], json!(hits[0].header("webhook-id")));
    assert!(!json!(list).to_string().contains(&secret));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.hits("/ok").len(), 2, "the repeated status sent nothing");

    // A redirect is not followed.
    let (redirect, _) = register(&w, &rx.url("/moved"), &["lead.created"]).await;
    rx.answer("/moved", &[302]);
    let (s, _) = crm::post(
        &w.app,
        "/api/customers",
        &w.owner,
        json!({ "phone": "050-7654322" }),
    )
    .await;
    assert_eq!(s, 201);
    rx.wait_for("/moved", 1, Duration::from_secs(15)).await;
    rx.wait_for("/ok", 3, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = deliveries(&w, redirect).await.remove(0);
    assert_eq!(d["last_status_code"], 302, "{d}");
    assert_eq!(
        d["status"], "pending",
        "a redirect is a failed attempt: {d}"
    );
    assert_eq!(
        rx.hits("/ok").len(),
        3,
        "only /ok's own lead.created, not the redirect's target"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(call_and_lead_are_delivered_signed);

async fn retries_gives_up_and_resends(backend: Backend) {
    let w = world(backend, &[]).await;
    let rx = Receiver::start().await;
    rx.answer("/flaky", &[500]);
    rx.answer("/gone", &[410]);
    let (flaky, secret) = register(&w, &rx.url("/flaky"), &["lead.created"]).await;
    let (gone, _) = register(&w, &rx.url("/gone"), &["lead.created"]).await;
    let (s, _) = crm::post(
        &w.app,
        "/api/customers",
        &w.owner,
        json!({ "name": "יוסי", "phone": "050-1112233" }),
    )
    .await;
    assert_eq!(s, 201);

    // 500, then 200 after the first retry (5 s): delivered, two attempts, one webhook-id.
    let d = wait_status(&w, flaky, "delivered", Duration::from_secs(20)).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["last_status_code"], 200);
    let hits = rx.hits("/flaky");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    assert_eq!(
        hits[0].body, hits[1].body,
        "the same bytes on every attempt"
    );
    check_signature(&secret, &hits[1]);

    // 410: failed at once, never retried.
    let d = wait_status(&w, gone, "failed", Duration::from_secs(5)).await;
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(d["last_status_code"], 410);
    assert!(d["last_error"].as_str().unwrap().contains("410"), "{d}");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(rx.hits("/gone").len(), 1, "a 410 is not retried");
    let gone_delivery = d["id"].as_i64().unwrap();

    // Another business cannot see, read or resend any of it; an agent may not either.
    let (s, v) = crm::get(&w.app, "/api/webhooks/deliveries", &w.other).await;
    assert_eq!(s, 200);
    assert_eq!(v["deliveries"], json!([]), "{v}");
    let (s, v) = crm::get(&w.app, "/api/webhooks/endpoints", &w.other).await;
    assert_eq!((s, &v["endpoints"]), (200, &json!([])), "{v}");
    let resend = format!("/api/webhooks/deliveries/{gone_delivery}/resend");
    let (s, v) = crm::post(&w.app, &resend, &w.other, json!({})).await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = crm::get(&w.app, &format!("/api/webhooks/endpoints/{gone}"), &w.other).await;
    assert_eq!(s, 404);
    let (s, _) = crm::get(
        &w.app,
        &format!("/api/webhooks/deliveries?endpoint_id={gone}"),
        &w.other,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = crm::post(&w.app, &resend, &w.agent, json!({})).await;
    assert_eq!(s, 403);
    let (s, _) = crm::get(&w.app, "/api/webhooks/endpoints", &w.agent).await;
    assert_eq!(s, 403);
    assert_eq!(rx.hits("/gone").len(), 1, "nothing was resent");

    // The owner resends: the same message, delivered now.
    let (s, v) = crm::post(&w.app, &resend, &w.owner, json!({})).await;
    assert_eq!(s, 202, "{v}");
    let d = wait_status(&w, gone, "delivered", Duration::from_secs(10)).await;
    assert_eq!(d["attempts"], 2, "{d}");
    assert_eq!(d["last_status_code"], 200);
    let hits = rx.hits("/gone");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));

    // Disabled and deleted endpoints get nothing more.
    let (s, v) = crm::patch(
        &w.app,
        &format!("/api/webhooks/endpoints/{flaky}"),
        &w.owner,
        json!({ "enabled": false }),
    )
    .await;
    assert_eq!((s, &v["enabled"]), (200, &json!(false)), "{v}");
    let (s, _) = crm::delete(&w.app, &format!("/api/webhooks/endpoints/{gone}"), &w.owner).await;
    assert_eq!(s, 204);
    let (s, _) = crm::post(
        &w.app,
        "/api/customers",
        &w.owner,
        json!({ "phone": "050-1112234" }),
    )
    .await;
    assert_eq!(s, 201);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rx.hits("/flaky").len(), 2);
    assert_eq!(rx.hits("/gone").len(), 2);
    let (s, _) = crm::get(&w.app, &format!("/api/webhooks/endpoints/{gone}"), &w.owner).await;
    assert_eq!(s, 404);

    // Bad input is refused by field.
    for body in [
        json!({ "url": rx.url("/x"), "events": ["call.started"] }),
        json!({ "url": rx.url("/x"), "events": [] }),
        json!({ "url": "ftp://example.com/", "events": ["lead.created"] }),
        json!({ "url": "not a url", "events": ["lead.created"] }),
    ] {
        let (s, v) = crm::post(&w.app, "/api/webhooks/endpoints", &w.owner, body).await;
        assert_eq!(s, 422, "{v}");
        crm::error_code(&v);
    }
    w.app.shutdown().await.unwrap();
}
dual_test!(retries_gives_up_and_resends);

async fn production_refuses_private_endpoints(backend: Backend) {
    let w = world(
        backend,
        &[
            ("MOKDAN_ENV", "production"),
            ("JWT_SECRET", "hooks-test-jwt-secret-0123456789abcdef"),
            ("PUBLIC_BASE_URL", "https://calls.example.com"),
        ],
    )
    .await;
    let rx = Receiver::start().await;
    let port = rx.addr.port();
    for url in [
        "http://127.0.0.1/hook".to_string(),
        "https://10.0.0.1/hook".to_string(),
        format!("https://localhost:{port}/ok"),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://[::1]/hook".to_string(),
        "https://100.64.1.1/hook".to_string(),
        // Plain http is refused in production whatever the address.
        "http://example.com/hook".to_string(),
    ] {
        let (s, v) = crm::post(
            &w.app,
            "/api/webhooks/endpoints",
            &w.owner,
            json!({ "url": url, "events": ["lead.created"] }),
        )
        .await;
        assert_eq!(s, 422, "{url}: {v}");
        assert_eq!(crm::error_code(&v), "invalid");
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with("url:"),
            "{v}"
        );
    }
    let (_, v) = crm::get(&w.app, "/api/webhooks/endpoints", &w.owner).await;
    assert_eq!(v["endpoints"], json!([]), "nothing was registered");

    // A name that resolves inward after registration (stored directly, as DNS could change
    // under a registered name) is refused at delivery, after resolution: nothing is sent.
    let e = mokdan::store::hooks::create_endpoint(
        &w.app.state.db,
        w.business_id,
        &mokdan::store::hooks::NewEndpoint {
            url: &format!("https://localhost:{port}/ok"),
            description: None,
            secret: &mokdan::hooks::sign::new_secret(),
            events: "lead.created",
            enabled: true,
        },
    )
    .await
    .unwrap();
    let (s, _) = crm::post(
        &w.app,
        "/api/customers",
        &w.owner,
        json!({ "phone": "050-5556677" }),
    )
    .await;
    assert_eq!(s, 201);
    let d = wait_status(&w, e.id, "failed", Duration::from_secs(10)).await;
    assert!(
        d["last_error"].as_str().unwrap().contains("non-public"),
        "{d}"
    );
    assert_eq!(d["last_status_code"], Value::Null);
    assert!(
        rx.hits("/ok").is_empty(),
        "nothing reached the loopback receiver"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(production_refuses_private_endpoints);

async fn summary_new_caller_and_whatsapp_are_delivered(backend: Backend) {
    let w = world(backend, &[]).await;
    let rx = Receiver::start().await;
    let (_, secret) = register(
        &w,
        &rx.url("/all"),
        &["call.summarised", "lead.created", "whatsapp.received"],
    )
    .await;

    // A call whose caller said who they are; its summary job files a new lead.
    let sid = new_call_sid();
    let r = w
        .app
        .post_signed("/webhook/incoming_call", &call_params(&sid, CALLER, NUMBER))
        .await;
    assert_eq!(r.status(), 200);
    sqlx::query(
        "INSERT INTO call_turns (call_sid, turn_index, caller_text, agent_text, created_at) \
         VALUES ($1, 0, 'קוראים לי דנה ואני רוצה תור למחר', 'תודה דנה', 1)",
    )
    .bind(&sid)
    .execute(&w.app.state.db.pool)
    .await
    .unwrap();
    mokdan::jobs::enqueue(
        &w.app.state.db,
        "summarise",
        &json!({ "call_sid": sid }),
        None,
    )
    .await
    .unwrap();
    let hits = rx.wait_for("/all", 2, Duration::from_secs(20)).await;
    // Each delivery is its own job: they may arrive in either order.
    let of = |kind: &str| {
        hits.iter()
            .map(|h| h.json())
            .find(|j| j["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} among the deliveries"))
    };
    let lead = of("lead.created");
    assert_eq!(lead["data"]["phone"], CALLER);
    assert_eq!(lead["data"]["source"], "call");
    let summary = of("call.summarised");
    assert_eq!(summary["data"]["call_sid"], json!(sid));
    assert_eq!(summary["data"]["customer_id"], lead["data"]["lead_id"]);
    assert!(
        summary["data"]["summary"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{summary}"
    );
    for hit in &hits {
        check_signature(&secret, hit);
    }

    // A WhatsApp message from the customer, through the inbound path every provider takes.
    let received = mokdan::whatsapp::inbound::receive(
        &w.app.state.whatsapp,
        mokdan::whatsapp::inbound::Inbound {
            provider: "twilio",
            provider_message_id: format!("SM{}", uuid::Uuid::new_v4().simple()),
            from: mokdan::domain::Phone::parse(CALLER).unwrap(),
            to: Some(mokdan::domain::Phone::parse(NUMBER).unwrap()),
            body: Some("אפשר להקדים לעשר?".into()),
            media: Vec::new(),
            profile_name: Some("דנה".into()),
            reply_to: None,
        },
        None,
    )
    .await
    .unwrap();
    assert!(matches!(
        received,
        mokdan::whatsapp::inbound::Received::Stored { .. }
    ));
    let hits = rx.wait_for("/all", 3, Duration::from_secs(15)).await;
    let msg = hits[2].json();
    assert_eq!(msg["type"], "whatsapp.received", "{msg}");
    assert_eq!(msg["data"]["body"], "אפשר להקדים לעשר?");
    assert_eq!(msg["data"]["from"], CALLER);
    assert_eq!(msg["data"]["customer_id"], lead["data"]["lead_id"]);
    check_signature(&secret, &hits[2]);
    if let Some(verified) = verify_with_library(&secret, &hits[2]) {
        assert_eq!(verified.expect("verified")["data"]["profile_name"], "דנה");
    }
    w.app.shutdown().await.unwrap();
}
dual_test!(summary_new_caller_and_whatsapp_are_delivered);
