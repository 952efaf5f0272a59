//! Calls over the API (V3, V4, V10, C4): filtered lists, detail with turns, recordings
//! streamed through auth (never Twilio's URL), and outbound calls for the caller's business.

mod common;

use axum::routing::post;
use common::crm;
use common::{Backend, TestApp};
use mokdan::store::users::Role;
use serde_json::json;

async fn insert_call(
    app: &TestApp,
    bid: i64,
    sid: &str,
    status: &str,
    direction: &str,
    at: i64,
) -> i64 {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO call_logs (call_sid, business_id, from_number, to_number, direction, status, \
         created_at, updated_at, recording_url, transcription, call_summary) \
         VALUES ($1, $2, '+972501234567', '+97231234567', $3, $4, $5, $5, \
         'https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1', 'תמלול', 'סיכום') RETURNING id",
    )
    .bind(sid).bind(bid).bind(direction).bind(status).bind(at)
    .fetch_one(&app.state.db.pool).await.unwrap();
    id
}

async fn setup(app: &TestApp) -> (i64, String) {
    let bid = crm::add_business(app, "קפה", "+97231234567").await;
    crm::add_user(app, "agent@example.com", Role::Agent, Some(bid)).await;
    (bid, crm::login(app, "agent@example.com").await)
}

async fn calls_list_filters_and_detail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (bid, t) = setup(&app).await;
    let day = 86_400_000i64;
    let base = 1_709_251_200_000i64; // 2024-03-01T00:00:00Z
    insert_call(&app, bid, "CA0001", "completed", "inbound", base + 10).await;
    insert_call(
        &app,
        bid,
        "CA0002",
        "transcribed",
        "inbound",
        base + day + 10,
    )
    .await;
    let out = insert_call(
        &app,
        bid,
        "CA0003",
        "completed",
        "outbound-api",
        base + 2 * day + 10,
    )
    .await;
    let (_, all) = crm::get(&app, "/api/calls", &t).await;
    assert_eq!(all["total"], 3);
    let sids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["CA0003", "CA0002", "CA0001"], "newest first");
    assert!(
        !all.to_string().contains("api.twilio.com"),
        "the raw recording URL is never shown"
    );
    assert_eq!(all["items"][0]["has_recording"], 1);
    for (q, expect) in [
        ("status=completed", vec!["CA0003", "CA0001"]),
        ("direction=outbound-api", vec!["CA0003"]),
        ("from=2024-03-02", vec!["CA0003", "CA0002"]),
        ("to=2024-03-02", vec!["CA0002", "CA0001"]),
        ("from=2024-03-02&to=2024-03-02", vec!["CA0002"]),
        (
            "from=2024-03-02T00:00:00%2B02:00&to=2024-03-02T23:00:00Z",
            vec!["CA0002"],
        ),
        ("status=completed&per_page=1&page=2", vec!["CA0001"]),
    ] {
        let (s, v) = crm::get(&app, &format!("/api/calls?{q}"), &t).await;
        assert_eq!(s, 200, "{q}: {v}");
        let got: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["call_sid"].as_str().unwrap())
            .collect();
        assert_eq!(got, expect, "{q}");
    }
    let (s, _) = crm::get(&app, "/api/calls?from=yesterday", &t).await;
    assert_eq!(s, 422);

    sqlx::query("INSERT INTO call_turns (call_sid, turn_index, caller_text, agent_text, stt_ms, created_at) VALUES ('CA0003', 1, 'תודה', 'בבקשה', 120, 2), ('CA0003', 0, 'שלום', 'היי', 100, 1)")
        .execute(&app.state.db.pool).await.unwrap();
    let (s, d) = crm::get(&app, &format!("/api/calls/{out}"), &t).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["transcript"], "תמלול");
    assert_eq!(d["summary"], "סיכום");
    assert_eq!(d["turns"].as_array().unwrap().len(), 2);
    assert_eq!(d["turns"][0]["caller_text"], "שלום");
    assert_eq!(d["turns"][0]["stt_ms"], 100);
    assert_eq!(d["timings"]["turns"], 2);
    assert_eq!(d["recording_available"], false);
    assert!(!d.to_string().contains("api.twilio.com"));
}
dual_test!(calls_list_filters_and_detail);

async fn recordings_stream_through_auth(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (bid, t) = setup(&app).await;
    let id = insert_call(&app, bid, "CAabc123", "completed", "inbound", 1).await;
    let path = format!("/api/calls/{id}/recording");
    // Not downloaded yet: 404, not a redirect to Twilio.
    let r = app
        .http
        .get(app.url(&path))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let dir = app.state.settings.data_dir.join("recordings");
    std::fs::create_dir_all(&dir).unwrap();
    let wav: Vec<u8> = b"RIFF\x24\x00\x00\x00WAVEfmt "
        .iter()
        .copied()
        .chain((0..200_000u32).map(|i| (i % 251) as u8))
        .collect();
    std::fs::write(dir.join("CAabc123-RE0001.wav"), &wav).unwrap();
    std::fs::write(dir.join("CAabc1234-RE0002.wav"), b"another call").unwrap();
    let r = app
        .http
        .get(app.url(&path))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    assert_eq!(r.bytes().await.unwrap().to_vec(), wav);
    let r = app.http.get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 401, "no credential, no audio");
    let (_, d) = crm::get(&app, &format!("/api/calls/{id}"), &t).await;
    assert_eq!(d["recording_available"], true);
}
dual_test!(recordings_stream_through_auth);

/// A stand-in for Twilio's Calls API that records what it was asked.
async fn fake_twilio() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/2010-04-01/Accounts/{account}/Calls.json",
        post(move |body: String| {
            let log = log.clone();
            async move {
                log.lock().unwrap().push(body);
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({
                        "sid": "CA00000000000000000000000000000042", "status": "queued",
                        "to": "+972501234567", "from": "+97231234567", "direction": "outbound-api",
                    })),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

async fn outbound_calls_are_per_business(backend: Backend) {
    let (base, seen) = fake_twilio().await;
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_API_BASE", &base),
            ("TWILIO_ACCOUNT_SID", common::twilio::ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", common::twilio::AUTH_TOKEN),
        ],
    )
    .await;
    let (bid, agent) = setup(&app).await;
    let other = crm::add_business(&app, "אחר", "+97232222222").await;
    crm::add_user(&app, "ops@example.com", Role::Operator, None).await;
    let ops = crm::login(&app, "ops@example.com").await;

    // An agent places a call for its own business; no business_id needed.
    let (s, v) = crm::post(&app, "/api/calls", &agent, json!({ "to": "050-1234567" })).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        v,
        json!({ "call_sid": "CA00000000000000000000000000000042", "status": "queued" })
    );
    let row = mokdan::store::calls::by_sid(&app.state.db, "CA00000000000000000000000000000042")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.business_id, Some(bid));
    assert_eq!(row.to_number.as_deref(), Some("+972501234567"));
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].contains("From=%2B97231234567"),
        "from the business's number: {}",
        sent[0]
    );
    // Naming its own business is fine; another business is 404 and places nothing.
    let (s, v) = crm::post(
        &app,
        "/api/calls",
        &agent,
        json!({ "to": "050-1234567", "business_id": other }),
    )
    .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(seen.lock().unwrap().len(), 1);
    // An operator must name the business.
    let (s, _) = crm::post(&app, "/api/calls", &ops, json!({ "to": "050-1234567" })).await;
    assert_eq!(s, 422);
    let (s, _) = crm::post(
        &app,
        "/api/calls",
        &ops,
        json!({ "to": "050-1234567", "business_id": 999 }),
    )
    .await;
    assert_eq!(s, 404);
    let (s, v) = crm::post(
        &app,
        "/api/calls",
        &ops,
        json!({ "to": "nope", "business_id": bid }),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, _) = crm::call(
        &app,
        reqwest::Method::POST,
        "/api/calls",
        None,
        Some(json!({ "to": "050-1234567" })),
    )
    .await;
    assert_eq!(s, 401);
}
dual_test!(outbound_calls_are_per_business);
