//! The Google providers against a stand-in OAuth token endpoint that verifies the
//! RS256-signed JWT assertion with the service account's public key, and stand-in
//! Text-to-Speech and Speech-to-Text APIs that check the bearer token and the published
//! request shapes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use futures::TryStreamExt;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use voice::google::{GoogleAuth, GoogleCredentials, GoogleStt, GoogleTts, SCOPE};
use voice::{ProviderError, SpeechToText, TextToSpeech};

const PRIVATE: &str = include_str!("fixtures/google_test_key.pem");
const PUBLIC: &str = include_str!("fixtures/google_test_key.pub.pem");
const EMAIL: &str = "mokdan-test@example-project.iam.gserviceaccount.com";
const TOKEN: &str = "ya29.test-access-token";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Default)]
struct Peer {
    base: Mutex<String>,
    token_requests: AtomicUsize,
    last_body: Mutex<Option<Value>>,
}

async fn token(State(p): State<Arc<Peer>>, Form(form): Form<Vec<(String, String)>>) -> Response {
    p.token_requests.fetch_add(1, Ordering::SeqCst);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if get("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return (StatusCode::BAD_REQUEST, "unsupported_grant_type").into_response();
    }
    let aud = format!("{}/token", p.base.lock().unwrap());
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[aud]);
    v.set_issuer(&[EMAIL]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
    let Some(assertion) = get("assertion") else {
        return (StatusCode::BAD_REQUEST, "no assertion").into_response();
    };
    match jsonwebtoken::decode::<Value>(&assertion, &key, &v) {
        Ok(data)
            if data.claims["scope"] == SCOPE && data.header.kid.as_deref() == Some("kid-1") =>
        {
            axum::Json(json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}))
                .into_response()
        }
        Ok(data) => (
            StatusCode::BAD_REQUEST,
            format!("bad claims {:?}", data.claims),
        )
            .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": e.to_string()})),
        )
            .into_response(),
    }
}

fn bearer_ok(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn synthesize(State(p): State<Arc<Peer>>, h: HeaderMap, body: axum::Json<Value>) -> Response {
    if !bearer_ok(&h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    *p.last_body.lock().unwrap() = Some(body.0);
    // LINEAR16 comes back as a WAV with header.
    let pcm: Vec<i16> = (0..1600).map(|i| ((i % 16) * 1000 - 8000) as i16).collect();
    let wav = audio::wav::write_pcm16(8000, &pcm);
    axum::Json(json!({"audioContent": B64.encode(wav)})).into_response()
}

async fn recognize(State(p): State<Arc<Peer>>, h: HeaderMap, body: axum::Json<Value>) -> Response {
    if !bearer_ok(&h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    *p.last_body.lock().unwrap() = Some(body.0);
    axum::Json(json!({
        "results": [
            {"alternatives": [{"transcript": "שלום קוראים לי", "confidence": 0.92}, {"transcript": "שלום קוראים לו"}], "resultEndTime": "1.2s", "languageCode": "iw-il"},
            {"alternatives": [{"transcript": " דנה ", "confidence": 0.8}], "languageCode": "iw-il"}
        ],
        "totalBilledTime": "2s"
    }))
    .into_response()
}

async fn peer() -> (Arc<Peer>, String) {
    let p = Arc::new(Peer::default());
    let app = Router::new()
        .route("/token", post(token))
        .route("/v1/text:synthesize", post(synthesize))
        .route("/v1/speech:recognize", post(recognize))
        .with_state(p.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    *p.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (p, base)
}

fn key_file(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "example-project",
        "private_key_id": "kid-1",
        "private_key": PRIVATE,
        "client_email": EMAIL,
        "client_id": "123",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

#[tokio::test]
async fn tts_mints_a_token_once_and_synthesizes_8k_linear16() {
    let (p, base) = peer().await;
    let creds = GoogleCredentials::from_json(&key_file(&format!("{base}/token"))).unwrap();
    assert!(!format!("{creds:?}").contains("BEGIN PRIVATE KEY"));
    let auth = GoogleAuth::new(creds);
    let tts = GoogleTts::new(auth.clone())
        .with_base_url(&base)
        .with_voice("he-IL-Standard-B");
    for _ in 0..2 {
        let chunks: Vec<_> = tts
            .synthesize("שלום")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(chunks.iter().all(|c| c.sample_rate == 8000));
        assert_eq!(chunks.iter().map(|c| c.pcm.len()).sum::<usize>(), 1600);
        assert_eq!(chunks[0].pcm[..3], [-8000, -7000, -6000]);
    }
    assert_eq!(
        p.token_requests.load(Ordering::SeqCst),
        1,
        "token is cached"
    );
    let body = p.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(
        body,
        json!({
            "input": {"text": "שלום"},
            "voice": {"languageCode": "he-IL", "name": "he-IL-Standard-B"},
            "audioConfig": {"audioEncoding": "LINEAR16", "sampleRateHertz": 8000},
        })
    );
}

#[tokio::test]
async fn stt_sends_base64_linear16_and_joins_best_alternatives() {
    let (p, base) = peer().await;
    let creds = GoogleCredentials::from_json(&key_file(&format!("{base}/token"))).unwrap();
    let stt = GoogleStt::new(GoogleAuth::new(creds)).with_base_url(&base);
    let pcm: Vec<i16> = vec![1, -1, 256, -32768, 32767];
    let t = stt.transcribe(&pcm, "he").await.unwrap();
    assert_eq!(t.text, "שלום קוראים לי דנה");
    assert_eq!(t.confidence, Some(0.92));
    let body = p.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(
        body["config"],
        json!({"encoding": "LINEAR16", "sampleRateHertz": 8000, "languageCode": "he-IL"})
    );
    let sent = B64
        .decode(body["audio"]["content"].as_str().unwrap())
        .unwrap();
    let expected: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused() {
    let (_p, base) = peer().await;
    // Same account name, but a key the token endpoint does not know.
    let other = include_str!("fixtures/google_other_key.pem");
    let mut file: Value = serde_json::from_str(&key_file(&format!("{base}/token"))).unwrap();
    file["private_key"] = Value::String(other.to_string());
    let creds = GoogleCredentials::from_json(&file.to_string()).unwrap();
    let err = GoogleAuth::new(creds).token().await.unwrap_err();
    match err {
        ProviderError::Http {
            status,
            body_excerpt,
        } => {
            assert_eq!(status, 400);
            assert!(body_excerpt.contains("invalid_grant"), "{body_excerpt}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_key_that_cannot_sign_is_refused_at_construction() {
    let mut file: Value = serde_json::from_str(&key_file("http://127.0.0.1:9/token")).unwrap();
    file["private_key"] = Value::String(include_str!("fixtures/rsa_1024_key.pem").to_string());
    let err = GoogleCredentials::from_json(&file.to_string()).unwrap_err();
    assert!(err.to_string().contains("private_key"), "{err}");
}
