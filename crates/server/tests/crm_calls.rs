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

/// A day in a date filter is Israel's: from its midnight to the next, not UTC's.
async fn date_filters_cut_days_at_israels_midnight(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (bid, t) = setup(&app).await;
    // 15 January 2024 (UTC+2) and 15 July 2024 (UTC+3).
    let winter_late = 1_705_354_200_000; // 2024-01-15 23:30 in Israel = 21:30 UTC
    let winter_next = 1_705_357_800_000; // 2024-01-16 00:30 in Israel = 22:30 UTC on the 15th
    let summer_late = 1_721_075_400_000; // 2024-07-15 23:30 in Israel = 20:30 UTC
    let summer_next = 1_721_079_000_000; // 2024-07-16 00:30 in Israel = 21:30 UTC on the 15th
    insert_call(&app, bid, "CAW1", "completed", "inbound", winter_late).await;
    insert_call(&app, bid, "CAW2", "completed", "inbound", winter_next).await;
    insert_call(&app, bid, "CAS1", "completed", "inbound", summer_late).await;
    insert_call(&app, bid, "CAS2", "completed", "inbound", summer_next).await;
    for (q, expect) in [
        ("from=2024-01-15&to=2024-01-15", vec!["CAW1"]),
        ("from=2024-01-16&to=2024-01-16", vec!["CAW2"]),
        ("from=2024-07-15&to=2024-07-15", vec!["CAS1"]),
        ("from=2024-07-16&to=2024-07-16", vec!["CAS2"]),
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
}
dual_test!(date_filters_cut_days_at_israels_midnight);

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
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(body);
                    41 + log.len()
                };
                (
                    axum::http::StatusCode::CREATED,
                    axum::Json(json!({
                        "sid": format!("CA{n:032}"), "status": "queued",
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

/// Toll fraud (#16.2): a business calls Israel only, never premium or special-rate
/// numbers, and only so often, unless the operator allows more; the same policy holds for
/// the transfer number an owner sets. Refusals are 403 and 429 with `Retry-After`, and
/// reach no Twilio.
async fn outbound_calls_keep_to_the_calling_policy_and_quotas(backend: Backend) {
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
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    crm::add_user(&app, "ops@example.com", Role::Operator, None).await;
    let owner = crm::login(&app, "owner@example.com").await;
    let ops = crm::login(&app, "ops@example.com").await;
    let call = |who: &str, to: &str| {
        let (app, who, to) = (&app, who.to_string(), to.to_string());
        async move { crm::post(app, "/api/calls", &who, json!({ "to": to })).await }
    };
    let uk = "+44 20 7946 0958";
    let premium = "+972 1 900 123 456";

    // Abroad and premium: 403, nothing dialled.
    for to in [uk, premium, "+882 1234 5678"] {
        let (s, v) = call(&agent, to).await;
        assert_eq!(s, 403, "{to}: {v}");
        assert_eq!(crm::error_code(&v), "destination_not_allowed");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("מפעיל השירות")
        );
    }
    assert!(seen.lock().unwrap().is_empty(), "Twilio was never asked");
    // The transfer number follows the same policy.
    let path = format!("/api/businesses/{bid}");
    for to in [uk, premium] {
        let (s, v) = crm::patch(&app, &path, &owner, json!({ "transfer_number": to })).await;
        assert_eq!(s, 403, "{to}: {v}");
        assert_eq!(crm::error_code(&v), "destination_not_allowed");
    }
    let (s, v) = crm::patch(
        &app,
        &path,
        &owner,
        json!({ "transfer_number": "050-7654321" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // Only the operator widens the policy.
    let policy = format!("/api/businesses/{bid}/call-policy");
    let (s, v) = crm::get(&app, &policy, &owner).await;
    assert_eq!(s, 200);
    assert_eq!(v["countries"], json!(["972"]));
    assert_eq!(v["allow_premium"], false);
    let widen = json!({ "countries": ["972", "44"], "per_hour": 3, "per_credential_hour": 2 });
    let (s, _) = crm::call(
        &app,
        reqwest::Method::PUT,
        &policy,
        Some(&owner),
        Some(widen.clone()),
    )
    .await;
    assert_eq!(s, 403, "an owner cannot widen their own policy");
    let (s, v) = crm::call(&app, reqwest::Method::PUT, &policy, Some(&ops), Some(widen)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["countries"], json!(["972", "44"]));
    let (s, _) = crm::patch(&app, &path, &owner, json!({ "transfer_number": uk })).await;
    assert_eq!(s, 200, "now allowed as a transfer number");
    assert_eq!(call(&agent, premium).await.0, 403, "premium stays closed");

    // Quotas: two calls an hour for the agent, three for the business.
    assert_eq!(call(&agent, uk).await.0, 201);
    assert_eq!(call(&agent, "050-1234567").await.0, 201);
    let r = app
        .http
        .post(app.url("/api/calls"))
        .bearer_auth(&agent)
        .json(&json!({ "to": "050-1234567" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry: i64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(crm::error_code(&v), "call_quota_exceeded");
    // Another credential (an API token) has its own count, but the business's is shared.
    let (s, t) = crm::post(&app, "/api/tokens", &owner, json!({ "name": "dialler" })).await;
    assert_eq!(s, 201);
    let token = t["token"].as_str().unwrap().to_string();
    assert_eq!(call(&token, "050-1234567").await.0, 201);
    let (s, v) = call(&token, "050-1234567").await;
    assert_eq!(s, 429, "the business's three an hour are used: {v}");
    assert_eq!(seen.lock().unwrap().len(), 3, "three calls reached Twilio");
}
dual_test!(outbound_calls_keep_to_the_calling_policy_and_quotas);
