//! Durable background jobs, black-box on both databases (V10, V11, O4): a call's recording
//! is fetched, transcribed, summarised and filed in the CRM; jobs survive killed workers,
//! never run twice at once, die visibly after repeated failures, wait visibly without a
//! speech-to-text provider, and old audio is cleaned up.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::twilio::{self, AUTH_TOKEN, call_params, new_call_sid, params};
use common::wait_for;
use common::{Backend, TestApp};
use mokdan::calls::post_call::{CALL_RECORDINGS, FETCH_RECORDING, SUMMARISE, TRANSCRIBE};
use mokdan::jobs::{JobError, Outcome, PoolConfig};
use mokdan::store::jobs::{self as jobstore, Job};
use mokdan::store::{calls, customers};
use tokio_util::sync::CancellationToken;

const BUSINESS_NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";
const OPENAI_KEY: &str = "sk-test-0123456789";
const SAID: &str = "שלום, שמי דני כהן ואני רוצה לקבוע תור לטיפול שיניים. \
    אפשר לחזור אליי למספר 050-1234567 מחר בשעה 10:30.";
const LLM_SUMMARY: &str = "דני כהן מבקש לקבוע תור לטיפול שיניים ומבקש שיחזרו אליו מחר.";

// ---------------------------------------------------------------- stand-ins

/// An OpenAI-compatible server: `audio/transcriptions` (multipart) and `chat/completions`.
#[derive(Clone)]
struct Ai {
    base: String,
    transcriptions: Arc<AtomicUsize>,
    chats: Arc<AtomicUsize>,
    bad: Arc<std::sync::Mutex<Vec<String>>>,
    /// While set, transcription requests are held open (a slow provider).
    hold: Arc<AtomicBool>,
    held: Arc<AtomicUsize>,
    /// The chat answer's `content`.
    chat_content: Arc<std::sync::Mutex<String>>,
}

impl Ai {
    async fn start() -> Ai {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ai = Ai {
            base: format!("http://{addr}/v1"),
            transcriptions: Default::default(),
            chats: Default::default(),
            bad: Default::default(),
            hold: Default::default(),
            held: Default::default(),
            chat_content: Arc::new(std::sync::Mutex::new(
                serde_json::json!({
                    "summary": LLM_SUMMARY,
                    "name": "דני כהן",
                    "reason": "קביעת תור",
                    "urgency": "normal",
                    "callback_time": "מחר 10:30",
                })
                .to_string(),
            )),
        };
        let app = Router::new()
            .route("/v1/audio/transcriptions", post(transcription))
            .route("/v1/chat/completions", post(chat))
            .with_state(ai.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        ai
    }

    fn complain(&self, what: String) -> Response {
        self.bad.lock().unwrap().push(what.clone());
        (
            StatusCode::BAD_REQUEST,
            axum::Json(
                serde_json::json!({"error": {"message": what, "type": "invalid_request_error"}}),
            ),
        )
            .into_response()
    }

    fn bad(&self) -> Vec<String> {
        self.bad.lock().unwrap().clone()
    }
}

fn bearer_ok(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(format!("Bearer {OPENAI_KEY}").as_str())
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn transcription(State(ai): State<Ai>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_ok(&headers) {
        return ai.complain("missing or wrong bearer key".into());
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !ct.starts_with("multipart/form-data; boundary=") {
        return ai.complain(format!("content type {ct}"));
    }
    for part in [
        "name=\"model\"\r\n\r\nwhisper-1\r\n",
        "name=\"language\"\r\n\r\nhe\r\n",
        "name=\"file\"; filename=",
        "RIFF",
        "WAVE",
    ] {
        if !contains(&body, part) {
            return ai.complain(format!("multipart body lacks {part:?}"));
        }
    }
    // whisper-1 does not stream: asking it to would be ignored at best.
    if contains(&body, "name=\"stream\"") {
        return ai.complain("whisper-1 was asked for a stream".into());
    }
    ai.transcriptions.fetch_add(1, Ordering::SeqCst);
    if ai.hold.load(Ordering::SeqCst) {
        ai.held.fetch_add(1, Ordering::SeqCst);
        while ai.hold.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    axum::Json(serde_json::json!({ "text": SAID })).into_response()
}

async fn chat(State(ai): State<Ai>, headers: HeaderMap, body: Bytes) -> Response {
    if !bearer_ok(&headers) {
        return ai.complain("chat: missing or wrong bearer key".into());
    }
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return ai.complain("chat: body is not JSON".into());
    };
    if req["response_format"]["type"] != "json_object" {
        return ai.complain("chat: response_format is not json_object".into());
    }
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    if messages.first().map(|m| &m["role"]) != Some(&"system".into()) || !user.contains("דני כהן")
    {
        return ai.complain(format!("chat: unexpected messages {messages:?}"));
    }
    ai.chats.fetch_add(1, Ordering::SeqCst);
    let content = ai.chat_content.lock().unwrap().clone();
    axum::Json(serde_json::json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": req["model"],
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop"
        }]
    }))
    .into_response()
}

/// Google Cloud as the service account meets it: an OAuth token endpoint (JWT-bearer
/// grant) and Speech-to-Text's `v1/speech:recognize`, following Google's published shapes:
/// the request's `config` and base64 `audio.content`, and `results[].alternatives[]` back.
#[derive(Clone)]
struct Google {
    base: String,
    recognized: Arc<AtomicUsize>,
    /// Requests that broke the published shape, with why.
    bad: Arc<std::sync::Mutex<Vec<String>>>,
}

const GOOGLE_TOKEN: &str = "ya29.jobs-test-token";

impl Google {
    async fn start() -> Google {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let google = Google {
            base: format!("http://{}", listener.local_addr().unwrap()),
            recognized: Default::default(),
            bad: Default::default(),
        };
        let app = Router::new()
            .route("/token", post(google_token))
            .route("/v1/speech:recognize", post(google_recognize))
            .with_state(google.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        google
    }

    /// A service-account key file whose token endpoint is this stand-in.
    fn credentials(&self) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": "example-project",
            "private_key_id": "kid-1",
            "private_key": include_str!("../../voice/tests/fixtures/google_test_key.pem"),
            "client_email": "mokdan-test@example-project.iam.gserviceaccount.com",
            "token_uri": format!("{}/token", self.base),
        })
        .to_string()
    }
}

async fn google_token(
    State(g): State<Google>,
    axum::extract::Form(form): axum::extract::Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        || get("assertion").is_none_or(|a| a.split('.').count() != 3)
    {
        g.bad
            .lock()
            .unwrap()
            .push(format!("token request {form:?}"));
        return (StatusCode::BAD_REQUEST, "invalid_grant").into_response();
    }
    axum::Json(
        serde_json::json!({"access_token": GOOGLE_TOKEN, "expires_in": 3599,
        "token_type": "Bearer"}),
    )
    .into_response()
}

async fn google_recognize(State(g): State<Google>, headers: HeaderMap, body: Bytes) -> Response {
    use base64::Engine;
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(format!("Bearer {GOOGLE_TOKEN}").as_str()) {
        return (StatusCode::UNAUTHORIZED, "no token").into_response();
    }
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let audio = req["audio"]["content"]
        .as_str()
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .unwrap_or_default();
    let config = &req["config"];
    if config["encoding"] != "LINEAR16"
        || config["sampleRateHertz"] != 8000
        || config["languageCode"] != "he-IL"
        || audio.is_empty()
        || !audio.len().is_multiple_of(2)
        // Google's synchronous limit: a minute of audio.
        || audio.len() > 2 * 8000 * 60
    {
        g.bad
            .lock()
            .unwrap()
            .push(format!("recognize {config}, {} bytes", audio.len()));
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": {"code": 400, "status": "INVALID_ARGUMENT"}})),
        )
            .into_response();
    }
    g.recognized.fetch_add(1, Ordering::SeqCst);
    axum::Json(serde_json::json!({
        "results": [{"alternatives": [{"transcript": SAID, "confidence": 0.91}],
                     "resultEndTime": "4.2s", "languageCode": "iw-il"}],
        "totalBilledTime": "5s",
    }))
    .into_response()
}

/// Twilio's recording media endpoint: Basic auth required, WAV at `<RecordingUrl>.wav`.
#[derive(Clone)]
struct TwilioMedia {
    base: String,
    wav: Arc<Vec<u8>>,
    hits: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl TwilioMedia {
    async fn start() -> TwilioMedia {
        let mulaw = sim::speak_hebrew("שלום, שמי דני כהן ואני רוצה לקבוע תור")
            .await
            .expect("espeak-ng speaks Hebrew");
        let pcm = audio::mulaw::decode(&mulaw);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let media = TwilioMedia {
            base: format!("http://{addr}"),
            wav: Arc::new(audio::wav::write_pcm16(8000, &pcm)),
            hits: Default::default(),
            refused: Default::default(),
        };
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Recordings/{file}",
                get(recording_media),
            )
            .with_state(media.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        media
    }

    fn recording_url(&self, recording_sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Recordings/{recording_sid}",
            self.base,
            twilio::ACCOUNT_SID
        )
    }
}

async fn recording_media(
    State(m): State<TwilioMedia>,
    axum::extract::Path((account, file)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            twilio::ACCOUNT_SID,
            AUTH_TOKEN
        ))
    );
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(expected.as_str()) || account != twilio::ACCOUNT_SID {
        m.refused.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                serde_json::json!({"code": 20003, "message": "Authenticate", "status": 401}),
            ),
        )
            .into_response();
    }
    if !file.ends_with(".wav") {
        return StatusCode::NOT_FOUND.into_response();
    }
    m.hits.fetch_add(1, Ordering::SeqCst);
    (
        [(header::CONTENT_TYPE, "audio/x-wav")],
        m.wav.as_ref().clone(),
    )
        .into_response()
}

// ---------------------------------------------------------------- helpers

async fn app_with(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, i64) {
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
    ];
    vars.extend_from_slice(extra);
    let app = TestApp::spawn_with(backend, &vars).await;
    let business = create_business(&app).await;
    (app, business)
}

async fn create_business(app: &TestApp) -> i64 {
    let phone = mokdan::domain::Phone::parse(BUSINESS_NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, "מרפאת שיניים כהן", &phone)
        .await
        .unwrap()
}

async fn wait_for_status(app: &TestApp, sid: &str, status: &str, secs: u64) -> calls::CallRow {
    wait_for(&format!("call {sid} to be {status}"), secs, || async {
        calls::by_sid(&app.state.db, sid)
            .await
            .unwrap()
            .filter(|r| r.status == status)
    })
    .await
}

async fn wait_for_job_state(app: &TestApp, id: i64, state: &str, secs: u64) -> Job {
    wait_for(&format!("job {id} to be {state}"), secs, || async {
        jobstore::get(&app.state.db, id)
            .await
            .unwrap()
            .filter(|j| j.state == state)
    })
    .await
}

async fn jobs_of(app: &TestApp, kind: &str) -> Vec<Job> {
    jobstore::by_kind(&app.state.db, kind).await.unwrap()
}

/// Twilio's `<Record action>` request after the caller left a message.
fn recording_params(sid: &str, recording_sid: &str, url: &str) -> Vec<(String, String)> {
    let mut form = call_params(sid, CALLER, BUSINESS_NUMBER);
    form.extend(params(&[
        ("RecordingUrl", url),
        ("RecordingSid", recording_sid),
        ("RecordingDuration", "4"),
        ("Digits", "hangup"),
    ]));
    form
}

fn new_recording_sid() -> String {
    format!("RE{}", uuid::Uuid::new_v4().simple())
}

async fn customer_id_of_call(app: &TestApp, sid: &str) -> Option<i64> {
    let (id,): (Option<i64>,) =
        sqlx::query_as("SELECT customer_id FROM call_logs WHERE call_sid = $1")
            .bind(sid)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    id
}

async fn caller_details(
    app: &TestApp,
    sid: &str,
) -> (Option<String>, Option<String>, Option<String>) {
    sqlx::query_as("SELECT caller_name, urgency, callback_time FROM call_logs WHERE call_sid = $1")
        .bind(sid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn customer_count(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    n
}

/// An operator signed in through the real login route; their bearer token.
async fn operator(app: &TestApp) -> String {
    common::crm::add_user(
        app,
        "ops@example.com",
        mokdan::store::users::Role::Operator,
        None,
    )
    .await;
    common::crm::login(app, "ops@example.com").await
}

fn test_pool(lease_ms: u64) -> PoolConfig {
    PoolConfig {
        concurrency: 4,
        lease: Duration::from_millis(lease_ms),
        poll: Duration::from_millis(50),
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(100),
        grace: Duration::from_secs(1),
        ..PoolConfig::default()
    }
}

// ---------------------------------------------------------------- the pipeline

/// The seeds' check, end to end through the sim: the stream never connects, the caller
/// falls back to `<Record>` and leaves a message, and the recording ends up fetched from
/// the sim's REST API, transcribed, summarised by the LLM and filed as a customer.
async fn sim_call_is_recorded_transcribed_summarised_and_filed(backend: Backend) {
    let ai = Ai::start().await;
    let sim = sim::Sim::start(sim::SimConfig::new(twilio::ACCOUNT_SID, AUTH_TOKEN).speed(8.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let (app, business_id) = app_with(
        backend,
        &[
            ("TWILIO_API_BASE", &api),
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("OPENAI_BASE_URL", &ai.base),
            // The prompt in espeak-ng's voice: the caller waits for its end, which the
            // stand-in's tones would blur.
            ("MOKDAN_TTS", "espeak"),
        ],
    )
    .await;
    // The fallback's own `<Record>` is the recording under test: no whole-call recording
    // beside it (that path is calls_recording.rs's).
    mokdan::store::businesses::set_record_calls(&app.state.db, business_id, false)
        .await
        .unwrap();
    let script = sim::CallerScript::new()
        .never_connect_socket()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, שמי דני כהן ואני רוצה לקבוע תור")
        .silence(Duration::from_millis(300))
        .hang_up()
        .max_duration(Duration::from_secs(120));
    let spec = sim::CallSpec::new(app.base.clone(), BUSINESS_NUMBER, CALLER, script);
    let report = sim.call(spec).await.unwrap();
    let sid = report.call_sid.clone();
    assert_eq!(sim.recordings().len(), 1, "{}", report.print_timeline());

    let row = wait_for_status(&app, &sid, "transcribed", 60).await;
    assert_eq!(ai.bad(), Vec::<String>::new());
    let recording = &sim.recordings()[0];
    assert_eq!(row.recording_sid.as_deref(), Some(recording.sid.as_str()));
    assert!(row.recording_url.as_deref().unwrap().starts_with(&api));
    assert_eq!(row.transcription.as_deref(), Some(SAID));
    assert_eq!(row.call_summary.as_deref(), Some(LLM_SUMMARY));
    let phone = mokdan::domain::Phone::parse(CALLER).unwrap();
    let customer = customers::by_phone(&app.state.db, business_id, &phone)
        .await
        .unwrap()
        .expect("the caller is a customer");
    assert_eq!(customer.name.as_deref(), Some("דני כהן"));
    assert_eq!(customer.source.as_deref(), Some("call"));
    assert_eq!(customer_id_of_call(&app, &sid).await, Some(customer.id));
    let (name, urgency, callback) = caller_details(&app, &sid).await;
    assert_eq!(name.as_deref(), Some("דני כהן"));
    assert_eq!(urgency.as_deref(), Some("normal"));
    assert_eq!(callback.as_deref(), Some("מחר 10:30"));

    // The audio came from the sim with the account's Basic auth, once.
    let downloads: Vec<_> = sim
        .rest_log()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("{}.wav", recording.sid)))
        .collect();
    assert_eq!(downloads.len(), 1, "{:?}", sim.rest_log());
    assert!(downloads[0].basic_auth_ok);
    let file = app
        .dir
        .path()
        .join("data/recordings")
        .join(format!("{sid}-{}.wav", recording.sid));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        sim.recording_wav(&recording.sid).unwrap()
    );
    // handle_recording and recording_status both reported it: still one job per step.
    // (A job's success is recorded just after its work, in a batch.)
    for kind in [FETCH_RECORDING, TRANSCRIBE, SUMMARISE] {
        let jobs = jobs_of(&app, kind).await;
        assert_eq!(jobs.len(), 1, "{kind}");
        wait_for_job_state(&app, jobs[0].id, "done", 10).await;
    }
    assert_eq!(ai.transcriptions.load(Ordering::SeqCst), 1);
    assert_eq!(ai.chats.load(Ordering::SeqCst), 1);
    app.shutdown().await.unwrap();
}
dual_test!(sim_call_is_recorded_transcribed_summarised_and_filed);

/// V11 without its callback: an outbound call placed with `Record=true` whose recording
/// callback never reaches us. When `call_status` says `completed`, a job lists the call's
/// recordings through the REST API and fetches each from the sim; a repeated `completed`
/// adds nothing.
async fn a_natively_recorded_call_is_fetched_after_it_completes(backend: Backend) {
    let sim = sim::Sim::start(sim::SimConfig::new(twilio::ACCOUNT_SID, AUTH_TOKEN).speed(8.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let (app, _business_id) = app_with(backend, &[("TWILIO_API_BASE", &api)]).await;
    sim.set_callee_script(
        sim::CallerScript::new()
            .wait_for_agent(Duration::from_secs(20))
            .say("הלו, מי זה?")
            .silence(Duration::from_millis(300))
            .hang_up()
            .max_duration(Duration::from_secs(60)),
    );
    let created = app
        .state
        .calls
        .twilio
        .as_ref()
        .unwrap()
        .create_call(&telephony::rest::CreateCall {
            to: CALLER.into(),
            from: BUSINESS_NUMBER.into(),
            url: app.url("/webhook/outbound_call"),
            status_callback: Some(app.url("/webhook/call_status")),
            status_callback_events: vec!["completed".into()],
            record: true,
            record_dual: false,
            // The recording callback is lost: only the listing can find the recording.
            recording_status_callback: None,
        })
        .await
        .unwrap();
    let sid = created.sid;
    let report = sim
        .wait_for_call(&sid, Duration::from_secs(60))
        .await
        .expect("the call ran");
    assert_eq!(
        report.final_status,
        "completed",
        "{}",
        report.print_timeline()
    );
    let recording = sim.recordings().into_iter().find(|r| r.call_sid == sid);
    let recording = recording.expect("the sim recorded the call");

    let listing = wait_for("the listing job", 30, || async {
        jobs_of(&app, CALL_RECORDINGS)
            .await
            .into_iter()
            .find(|j| j.state == "done")
    })
    .await;
    assert_eq!(listing.payload_json()["call_sid"], sid.as_str());
    let fetch = wait_for("the download", 30, || async {
        jobs_of(&app, FETCH_RECORDING)
            .await
            .into_iter()
            .find(|j| j.state == "done")
    })
    .await;
    assert_eq!(
        fetch.payload_json()["recording_sid"],
        recording.sid.as_str()
    );
    let file = app
        .dir
        .path()
        .join("data/recordings")
        .join(format!("{sid}-{}.wav", recording.sid));
    assert_eq!(
        std::fs::read(&file).unwrap(),
        sim.recording_wav(&recording.sid).unwrap()
    );
    let row = calls::by_sid(&app.state.db, &sid).await.unwrap().unwrap();
    assert_eq!(row.direction, "outbound-api");
    assert_eq!(row.recording_sid.as_deref(), Some(recording.sid.as_str()));
    assert_eq!(row.recording_url.as_deref(), Some(recording.url.as_str()));
    // No speech-to-text here: the transcript waits visibly for one.
    let transcribe = wait_for("the transcription to wait", 30, || async {
        jobs_of(&app, TRANSCRIBE)
            .await
            .into_iter()
            .find(|j| j.state == "waiting")
    })
    .await;
    assert_eq!(transcribe.payload_json()["call_sid"], sid.as_str());

    // Twilio repeats `completed`: no second listing, no second download.
    let form = params(&[
        ("CallSid", sid.as_str()),
        ("AccountSid", twilio::ACCOUNT_SID),
        ("CallStatus", "completed"),
        ("Direction", "outbound-api"),
        ("CallDuration", "3"),
    ]);
    let r = app.post_signed("/webhook/call_status", &form).await;
    assert_eq!(r.status(), 204);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(jobs_of(&app, CALL_RECORDINGS).await.len(), 1);
    assert_eq!(jobs_of(&app, FETCH_RECORDING).await.len(), 1);
    let log = sim.rest_log();
    let listed = log
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/Calls/{sid}/Recordings.json")))
        .count();
    let downloads = log
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("{}.wav", recording.sid)))
        .count();
    assert_eq!((listed, downloads), (1, 1), "{log:?}");
    app.shutdown().await.unwrap();
    sim.shutdown().await;
}
dual_test!(a_natively_recorded_call_is_fetched_after_it_completes);

/// A signed `handle_recording` webhook: the media is fetched with Basic auth from a Twilio
/// stand-in (espeak-ng Hebrew), transcribed, and, the LLM answering nonsense twice,
/// summarised by the extractive rules. Retried webhooks add nothing; a forged
/// RecordingUrl on another host is refused and never fetched.
async fn recording_webhook_runs_the_pipeline_and_falls_back_to_extractive(backend: Backend) {
    let ai = Ai::start().await;
    *ai.chat_content.lock().unwrap() = "{\"summary\": 42".into();
    let media = TwilioMedia::start().await;
    let (app, business_id) = app_with(
        backend,
        &[
            ("TWILIO_API_BASE", &media.base),
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("OPENAI_BASE_URL", &ai.base),
        ],
    )
    .await;
    let sid = new_call_sid();
    app.twiml(
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, BUSINESS_NUMBER),
    )
    .await;
    let rec = new_recording_sid();
    let form = recording_params(&sid, &rec, &media.recording_url(&rec));
    let started = std::time::Instant::now();
    app.twiml("/webhook/handle_recording", &form).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    // Twilio retries, and the status callback reports the same recording.
    app.twiml("/webhook/handle_recording", &form).await;
    let mut status_form = form.clone();
    status_form.push(("RecordingStatus".into(), "completed".into()));
    let r = app
        .post_signed("/webhook/recording_status", &status_form)
        .await;
    assert_eq!(r.status(), 204);

    let row = wait_for_status(&app, &sid, "transcribed", 60).await;
    assert_eq!(ai.bad(), Vec::<String>::new());
    assert_eq!(row.transcription.as_deref(), Some(SAID));
    let summary = row.call_summary.unwrap();
    assert!(summary.starts_with("סיכום אוטומטי:"), "{summary}");
    assert!(
        summary.contains("0501234567") && summary.contains("10:30"),
        "{summary}"
    );
    assert_eq!(
        ai.chats.load(Ordering::SeqCst),
        2,
        "an invalid answer is asked again once"
    );
    assert_eq!(media.hits.load(Ordering::SeqCst), 1);
    assert_eq!(media.refused.load(Ordering::SeqCst), 0);
    let phone = mokdan::domain::Phone::parse(CALLER).unwrap();
    let customer = customers::by_phone(&app.state.db, business_id, &phone)
        .await
        .unwrap()
        .expect("customer filed");
    assert_eq!(customer.name.as_deref(), Some("דני כהן"));
    assert_eq!(customer_id_of_call(&app, &sid).await, Some(customer.id));
    assert_eq!(jobs_of(&app, FETCH_RECORDING).await.len(), 1);

    // A forged RecordingUrl pointing elsewhere: refused for good, never fetched.
    let sid2 = new_call_sid();
    let rec2 = new_recording_sid();
    let forged = format!("http://169.254.169.254/2010-04-01/Accounts/x/Recordings/{rec2}");
    app.twiml(
        "/webhook/handle_recording",
        &recording_params(&sid2, &rec2, &forged),
    )
    .await;
    let job = wait_for("the forged fetch to die", 30, || async {
        jobs_of(&app, FETCH_RECORDING)
            .await
            .into_iter()
            .find(|j| j.payload.contains(&rec2) && j.state == "dead")
    })
    .await;
    assert!(job.last_error.unwrap().contains("refused"));
    assert_eq!(job.attempts, 1, "a forged URL is not retried");
    assert_eq!(media.hits.load(Ordering::SeqCst), 1);
    app.shutdown().await.unwrap();
}
dual_test!(recording_webhook_runs_the_pipeline_and_falls_back_to_extractive);

/// No LLM: the summary is extractive, marked automatic, and the customer is still filed.
async fn without_an_llm_the_summary_is_extractive(backend: Backend) {
    let (app, business_id) = app_with(backend, &[]).await;
    let sid = new_call_sid();
    app.twiml(
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, BUSINESS_NUMBER),
    )
    .await;
    mokdan::store::post_call::set_transcription(&app.state.db, &sid, SAID)
        .await
        .unwrap();
    mokdan::calls::post_call::transcribe::enqueue_summary(&app.state.db, &sid)
        .await
        .unwrap();
    let row = wait_for_status(&app, &sid, "transcribed", 30).await;
    let summary = row.call_summary.unwrap();
    assert!(
        summary.starts_with("סיכום אוטומטי: שלום, שמי דני כהן"),
        "{summary}"
    );
    assert!(summary.contains("טלפון: 0501234567"), "{summary}");
    assert!(
        summary.contains("מחר") && summary.contains("10:30"),
        "{summary}"
    );
    let (name, _, callback) = caller_details(&app, &sid).await;
    assert_eq!(name.as_deref(), Some("דני כהן"));
    assert_eq!(callback.as_deref(), Some("מחר 10:30"));
    let phone = mokdan::domain::Phone::parse(CALLER).unwrap();
    let customer = customers::by_phone(&app.state.db, business_id, &phone)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer_id_of_call(&app, &sid).await, Some(customer.id));
    // Enqueued again (a repeat): the key keeps it to one job, one customer.
    mokdan::calls::post_call::transcribe::enqueue_summary(&app.state.db, &sid)
        .await
        .unwrap();
    assert_eq!(jobs_of(&app, SUMMARISE).await.len(), 1);
    assert_eq!(customer_count(&app).await, 1);
    app.shutdown().await.unwrap();
}
dual_test!(without_an_llm_the_summary_is_extractive);

/// Without speech-to-text the transcription waits, visibly, and resumes when the service
/// restarts with a provider configured.
async fn without_speech_to_text_the_job_waits_then_resumes(backend: Backend) {
    let ai = Ai::start().await;
    let media = TwilioMedia::start().await;
    let (mut app, _) = app_with(backend, &[("TWILIO_API_BASE", &media.base)]).await;
    let token = operator(&app).await;
    let sid = new_call_sid();
    app.twiml(
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, BUSINESS_NUMBER),
    )
    .await;
    let rec = new_recording_sid();
    app.twiml(
        "/webhook/handle_recording",
        &recording_params(&sid, &rec, &media.recording_url(&rec)),
    )
    .await;
    let job = wait_for("the transcription to wait", 30, || async {
        jobs_of(&app, TRANSCRIBE)
            .await
            .into_iter()
            .find(|j| j.state == "waiting")
    })
    .await;
    assert!(
        job.last_error
            .as_deref()
            .unwrap()
            .contains("OPENAI_API_KEY")
    );
    assert_eq!(job.attempts, 0, "waiting is not a failure");
    let listed: serde_json::Value = app
        .http
        .get(app.url("/api/jobs?state=waiting"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["jobs"][0]["id"], job.id);
    assert_eq!(listed["jobs"][0]["payload"]["call_sid"], sid.as_str());
    let row = calls::by_sid(&app.state.db, &sid).await.unwrap().unwrap();
    assert_eq!(row.status, "recorded");
    assert!(row.transcription.is_none());

    // Restart on the same database and data dir, now with speech-to-text.
    let dir = std::mem::replace(&mut app.dir, tempfile::tempdir().unwrap());
    let db_url = app.db_url.clone();
    app.shutdown().await.unwrap();
    let app = TestApp::spawn_on(
        db_url,
        dir,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
            ("TWILIO_API_BASE", &media.base),
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("OPENAI_BASE_URL", &ai.base),
        ],
    )
    .await;
    let row = wait_for_status(&app, &sid, "transcribed", 60).await;
    assert_eq!(row.transcription.as_deref(), Some(SAID));
    assert_eq!(row.call_summary.as_deref(), Some(LLM_SUMMARY));
    let job = wait_for_job_state(&app, job.id, "done", 10).await;
    assert_eq!(job.attempts, 1);
    assert_eq!(
        media.hits.load(Ordering::SeqCst),
        1,
        "the file was kept, not fetched again"
    );
    app.shutdown().await.unwrap();
}
dual_test!(without_speech_to_text_the_job_waits_then_resumes);

// ---------------------------------------------------------------- crash safety

/// A worker dies mid-transcription (its task is aborted, as by kill -9): the job's lease
/// expires, another worker runs it again, and nothing is duplicated.
async fn a_worker_killed_mid_job_is_rerun_without_duplicates(backend: Backend) {
    let ai = Ai::start().await;
    let media = TwilioMedia::start().await;
    let (app, business_id) = app_with(
        backend,
        &[
            ("MOKDAN_JOB_WORKERS", "0"),
            ("TWILIO_API_BASE", &media.base),
            ("OPENAI_API_KEY", OPENAI_KEY),
            ("OPENAI_BASE_URL", &ai.base),
        ],
    )
    .await;
    let sid = new_call_sid();
    app.twiml(
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, BUSINESS_NUMBER),
    )
    .await;
    let rec = new_recording_sid();
    app.twiml(
        "/webhook/handle_recording",
        &recording_params(&sid, &rec, &media.recording_url(&rec)),
    )
    .await;

    ai.hold.store(true, Ordering::SeqCst);
    let first = PoolConfig {
        worker_id: "doomed-worker".into(),
        ..test_pool(1000)
    };
    let doomed = tokio::spawn(mokdan::jobs::run_pool(
        app.state.db.clone(),
        app.state.job_handler(),
        first,
        CancellationToken::new(),
    ));
    wait_for("the transcription to be in flight", 30, || async {
        (ai.held.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    doomed.abort();
    let _ = doomed.await;
    let job = jobs_of(&app, TRANSCRIBE).await.remove(0);
    assert_eq!(job.state, "running");
    assert_eq!(job.locked_by.as_deref(), Some("doomed-worker"));
    ai.hold.store(false, Ordering::SeqCst);

    let stop = CancellationToken::new();
    let survivor = tokio::spawn(mokdan::jobs::run_pool(
        app.state.db.clone(),
        app.state.job_handler(),
        PoolConfig {
            worker_id: "survivor".into(),
            ..test_pool(1000)
        },
        stop.clone(),
    ));
    let row = wait_for_status(&app, &sid, "transcribed", 60).await;
    assert_eq!(row.transcription.as_deref(), Some(SAID), "not doubled");
    let job = wait_for_job_state(&app, job.id, "done", 10).await;
    assert_eq!(job.attempts, 2);
    assert_eq!(ai.transcriptions.load(Ordering::SeqCst), 2);
    for kind in [FETCH_RECORDING, TRANSCRIBE, SUMMARISE] {
        assert_eq!(jobs_of(&app, kind).await.len(), 1, "{kind}");
    }
    assert_eq!(customer_count(&app).await, 1);
    let phone = mokdan::domain::Phone::parse(CALLER).unwrap();
    assert!(
        customers::by_phone(&app.state.db, business_id, &phone)
            .await
            .unwrap()
            .is_some()
    );
    stop.cancel();
    survivor.await.unwrap();
    app.shutdown().await.unwrap();
}
dual_test!(a_worker_killed_mid_job_is_rerun_without_duplicates);

/// Four claimers racing over 500 jobs: every job is claimed exactly once.
async fn concurrent_claimers_never_share_a_job(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("MOKDAN_JOB_WORKERS", "0")]).await;
    let db = app.state.db.clone();
    let mut ids = Vec::new();
    for i in 0..500 {
        let payload = serde_json::json!({ "n": i });
        ids.push(
            mokdan::jobs::enqueue(&db, "noop", &payload, None)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    let mut claimers = Vec::new();
    for c in 0..4 {
        let db = db.clone();
        claimers.push(tokio::spawn(async move {
            let worker = format!("claimer-{c}");
            let mut got = Vec::new();
            loop {
                let batch = jobstore::claim(&db, &worker, 7, 60_000).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                got.extend(batch.iter().map(|j| j.id));
                // Half the claimers complete one by one, half a batch at a time.
                if c % 2 == 0 {
                    for job in &batch {
                        assert!(jobstore::complete(&db, job, &worker).await.unwrap());
                    }
                } else {
                    let n = jobstore::complete_many(&db, &batch, &worker).await.unwrap();
                    assert_eq!(n, batch.len() as u64);
                }
            }
            got
        }));
    }
    let mut claimed = Vec::new();
    for c in claimers {
        claimed.extend(c.await.unwrap());
    }
    claimed.sort_unstable();
    assert_eq!(claimed, ids, "every job claimed exactly once");
    assert!(
        jobstore::claim(&db, "late", 10, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    app.shutdown().await.unwrap();
}
dual_test!(concurrent_claimers_never_share_a_job);

/// Two pools (two nodes) racing over 600 short jobs, each claiming ahead of its free slots:
/// every job runs exactly once and ends `done`; a pool stopped with claimed jobs it never
/// started hands them back at once.
async fn two_pools_never_run_one_job_twice(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("MOKDAN_JOB_WORKERS", "0")]).await;
    let db = app.state.db.clone();
    let n = 600usize;
    for i in 0..n {
        let payload = serde_json::json!({ "n": i });
        mokdan::jobs::enqueue(&db, "noop", &payload, None)
            .await
            .unwrap();
    }
    let runs = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let stop = CancellationToken::new();
    let mut pools = Vec::new();
    for p in 0..2 {
        let runs = runs.clone();
        let handler = move |job: Job| {
            let runs = runs.clone();
            async move {
                runs.lock().unwrap().push(job.id);
                tokio::task::yield_now().await;
                Ok::<_, JobError>(Outcome::Done)
            }
        };
        pools.push(tokio::spawn(mokdan::jobs::run_pool(
            db.clone(),
            Arc::new(handler),
            PoolConfig {
                worker_id: format!("node-{p}"),
                ..test_pool(60_000)
            },
            stop.clone(),
        )));
    }
    wait_for("every job to be done", 60, || async {
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE state <> 'done'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        (left == 0).then_some(())
    })
    .await;
    stop.cancel();
    for p in pools {
        p.await.unwrap();
    }
    let mut ran = runs.lock().unwrap().clone();
    assert_eq!(ran.len(), n, "each job ran once");
    ran.sort_unstable();
    ran.dedup();
    assert_eq!(ran.len(), n, "no job ran twice");
    let (attempts,): (i64,) = sqlx::query_as("SELECT MAX(attempts) FROM jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1);

    // A pool that is stopped while it holds claimed, unstarted jobs hands them back: ten
    // quick jobs teach it that jobs are short (so it claims ahead), then two hang.
    for i in 0..40 {
        let payload = serde_json::json!({ "later": i });
        mokdan::jobs::enqueue(&db, "noop", &payload, None)
            .await
            .unwrap();
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let handler = {
        let (gate, started) = (gate.clone(), started.clone());
        move |_job: Job| {
            let (gate, started) = (gate.clone(), started.clone());
            async move {
                if started.fetch_add(1, Ordering::SeqCst) >= 10 {
                    let _ = gate.acquire().await;
                }
                Ok::<_, JobError>(Outcome::Done)
            }
        }
    };
    let pool = tokio::spawn(mokdan::jobs::run_pool(
        db.clone(),
        Arc::new(handler),
        PoolConfig {
            worker_id: "stopping".into(),
            concurrency: 2,
            ..test_pool(60_000)
        },
        stop.clone(),
    ));
    wait_for("two jobs to hang", 30, || async {
        (started.load(Ordering::SeqCst) == 12).then_some(())
    })
    .await;
    let (held,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE state = 'running'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(held > 2, "claimed ahead of its two slots: {held}");
    stop.cancel();
    gate.add_permits(1000);
    pool.await.unwrap();
    assert_eq!(
        started.load(Ordering::SeqCst),
        12,
        "nothing started after the stop"
    );
    let count = |state: &'static str| {
        let db = db.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE state = $1")
                .bind(state)
                .fetch_one(&db.pool)
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(count("running").await, 0, "nothing left to a lease");
    assert_eq!(count("done").await, (n + 12) as i64);
    assert_eq!(count("queued").await, 28, "unstarted jobs are queued again");
    let (max_attempts,): (i64,) =
        sqlx::query_as("SELECT MAX(attempts) FROM jobs WHERE state = 'queued'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(max_attempts, 0, "a handed-back claim is not an attempt");
    app.shutdown().await.unwrap();
}
dual_test!(two_pools_never_run_one_job_twice);

/// A job that panics every time goes `dead` after its attempts, shows in the API, and the
/// operator's retry runs it again.
async fn a_poisoned_job_goes_dead_and_the_operator_revives_it(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("MOKDAN_JOB_WORKERS", "0")]).await;
    let token = operator(&app).await;
    let payload = serde_json::json!({ "poison": true });
    let id = mokdan::jobs::enqueue_with(
        &app.state.db,
        &jobstore::NewJob {
            kind: "poison",
            payload: &payload,
            idempotency_key: Some("poison:1"),
            run_after: mokdan::store::now_ms(),
            max_attempts: 3,
        },
    )
    .await
    .unwrap()
    .unwrap();
    let healthy = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(AtomicUsize::new(0));
    let handler = {
        let (healthy, runs) = (healthy.clone(), runs.clone());
        move |_job: Job| {
            let (healthy, runs) = (healthy.clone(), runs.clone());
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                if !healthy.load(Ordering::SeqCst) {
                    panic!("poisoned payload");
                }
                Ok::<_, JobError>(Outcome::Done)
            }
        }
    };
    let stop = CancellationToken::new();
    let pool = tokio::spawn(mokdan::jobs::run_pool(
        app.state.db.clone(),
        Arc::new(handler),
        test_pool(5000),
        stop.clone(),
    ));
    let job = wait_for_job_state(&app, id, "dead", 30).await;
    assert_eq!(job.attempts, 3);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    let err = job.last_error.unwrap();
    assert!(err.contains("panic: poisoned payload"), "{err}");

    let r = app.get("/api/jobs?state=dead").await;
    assert_eq!(r.status(), 401, "operator only");
    let listed: serde_json::Value = app
        .http
        .get(app.url("/api/jobs?state=dead&limit=10"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["jobs"][0]["id"], id);
    assert_eq!(listed["jobs"][0]["state"], "dead");
    let r = app
        .http
        .get(app.url("/api/jobs?state=bogus"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    healthy.store(true, Ordering::SeqCst);
    let r = app
        .http
        .post(app.url(&format!("/api/jobs/{id}/retry")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["attempts"], 0);
    let job = wait_for_job_state(&app, id, "done", 30).await;
    assert_eq!(job.attempts, 1);
    let again = app
        .http
        .post(app.url(&format!("/api/jobs/{id}/retry")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "only a dead job can be retried");
    let missing = app
        .http
        .post(app.url("/api/jobs/999999/retry"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    stop.cancel();
    pool.await.unwrap();
    app.shutdown().await.unwrap();
}
dual_test!(a_poisoned_job_goes_dead_and_the_operator_revives_it);

// ---------------------------------------------------------------- clean-up

fn file_aged(path: &std::path::Path, age: Duration) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"RIFF....WAVE").unwrap();
    let when = SystemTime::now() - age;
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// Old recordings and turn audio are deleted (sooner for a business that asks for less),
/// recent ones kept; old finished jobs are purged, recent ones kept.
async fn cleanup_removes_old_audio_and_old_jobs(backend: Backend) {
    let (app, business_id) = app_with(backend, &[]).await;
    let db = &app.state.db;
    sqlx::query("UPDATE businesses SET recording_retention_days = 1 WHERE id = $1")
        .bind(business_id)
        .execute(&db.pool)
        .await
        .unwrap();
    let strict_call = new_call_sid();
    calls::insert(
        db,
        &calls::NewCall {
            call_sid: &strict_call,
            business_id: Some(business_id),
            from: Some(CALLER),
            to: Some(BUSINESS_NUMBER),
            direction: mokdan::domain::CallDirection::Inbound,
            status: mokdan::domain::CallStatus::Completed,
        },
    )
    .await
    .unwrap();
    let data = app.dir.path().join("data");
    let day = Duration::from_secs(86_400);
    let old_rec = data.join("recordings/CAold-RE1.wav");
    let new_rec = data.join("recordings/CAnew-RE2.wav");
    let strict_rec = data.join(format!("recordings/{strict_call}-RE3.wav"));
    let other_rec = data.join("recordings/CAunknown-RE4.wav");
    let old_turn = data.join("turns/CAold-1.wav");
    let new_turn = data.join("turns/CAold-2.wav");
    file_aged(&old_rec, day * 40);
    file_aged(&new_rec, Duration::from_secs(60));
    file_aged(&strict_rec, day * 2);
    file_aged(&other_rec, day * 2);
    file_aged(&old_turn, day * 31);
    file_aged(&new_turn, Duration::from_secs(3600));

    let now = mokdan::store::now_ms();
    let mut done_ids = Vec::new();
    for (n, age_days) in [(1, 8), (2, 1)] {
        let payload = serde_json::json!({ "n": n });
        // Not due for a day, so the running workers leave it alone until it is marked done.
        let id = mokdan::jobs::enqueue_at(db, "finished", &payload, None, now + 86_400_000)
            .await
            .unwrap()
            .unwrap();
        sqlx::query("UPDATE jobs SET state = 'done', updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now - age_days * 86_400_000)
            .execute(&db.pool)
            .await
            .unwrap();
        done_ids.push(id);
    }
    // Dead jobs stay 30 days for the operator (MOKDAN_DEAD_JOB_RETENTION_DAYS), then go.
    let mut dead_ids = Vec::new();
    for (n, age_days) in [(1, 31), (2, 29)] {
        let payload = serde_json::json!({ "dead": n });
        let id = mokdan::jobs::enqueue_at(db, "failed", &payload, None, now + 86_400_000)
            .await
            .unwrap()
            .unwrap();
        sqlx::query("UPDATE jobs SET state = 'dead', updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now - age_days * 86_400_000)
            .execute(&db.pool)
            .await
            .unwrap();
        dead_ids.push(id);
    }
    let id = mokdan::jobs::enqueue(db, "cleanup", &serde_json::json!({}), None)
        .await
        .unwrap()
        .unwrap();
    wait_for_job_state(&app, id, "done", 30).await;
    assert!(
        jobstore::get(db, dead_ids[0]).await.unwrap().is_none(),
        "a dead job past its retention is purged"
    );
    assert!(
        jobstore::get(db, dead_ids[1]).await.unwrap().is_some(),
        "a recent dead job is kept for the operator"
    );
    assert!(!old_rec.exists(), "past the service's retention");
    assert!(new_rec.exists());
    assert!(
        !strict_rec.exists(),
        "past its business's shorter retention"
    );
    assert!(
        other_rec.exists(),
        "no business: the service's 30 days apply"
    );
    assert!(!old_turn.exists());
    assert!(new_turn.exists());
    assert!(
        jobstore::get(db, done_ids[0]).await.unwrap().is_none(),
        "old done job purged"
    );
    assert!(
        jobstore::get(db, done_ids[1]).await.unwrap().is_some(),
        "recent done job kept"
    );
    app.shutdown().await.unwrap();
}
dual_test!(cleanup_removes_old_audio_and_old_jobs);

/// With Google the only speech-to-text (`/readyz` says `stt_engine: google`), a recording is
/// transcribed by Google like a live turn would be, summarised (extractively, no LLM) and
/// filed; the job never parks waiting for an OpenAI-compatible server (V10).
async fn google_alone_transcribes_recordings(backend: Backend) {
    let google = Google::start().await;
    let media = TwilioMedia::start().await;
    let credentials = google.credentials();
    let (app, business_id) = app_with(
        backend,
        &[
            ("TWILIO_API_BASE", &media.base),
            ("GCP_CREDENTIALS_JSON", &credentials),
            ("GOOGLE_STT_BASE_URL", &google.base),
            ("MOKDAN_TTS", "espeak"),
        ],
    )
    .await;
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["stt_engine"], "google", "{ready}");
    let sid = new_call_sid();
    app.twiml(
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, BUSINESS_NUMBER),
    )
    .await;
    let rec = new_recording_sid();
    app.twiml(
        "/webhook/handle_recording",
        &recording_params(&sid, &rec, &media.recording_url(&rec)),
    )
    .await;

    let row = wait_for_status(&app, &sid, "transcribed", 60).await;
    assert_eq!(*google.bad.lock().unwrap(), Vec::<String>::new());
    assert_eq!(row.transcription.as_deref(), Some(SAID));
    assert_eq!(google.recognized.load(Ordering::SeqCst), 1);
    let summary = row.call_summary.unwrap();
    assert!(summary.starts_with("סיכום אוטומטי:"), "{summary}");
    let phone = mokdan::domain::Phone::parse(CALLER).unwrap();
    assert!(
        customers::by_phone(&app.state.db, business_id, &phone)
            .await
            .unwrap()
            .is_some(),
        "the caller is a customer"
    );
    let jobs = jobs_of(&app, TRANSCRIBE).await;
    assert_eq!(jobs.len(), 1);
    wait_for_job_state(&app, jobs[0].id, "done", 10).await;
    app.shutdown().await.unwrap();
}
dual_test!(google_alone_transcribes_recordings);
