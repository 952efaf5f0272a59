//! The call page shows what the agent did (#18.3, C5): each function the model called in a
//! turn, stored with it, reads as one Hebrew line, "הפעולה: … → תוצאה: …", a failure
//! marked as such, and the raw call and result folded in the turn's technical details.
//! What the model and the caller wrote is shown escaped, never as markup.

mod common;

use common::{Backend, TestApp};
use mokdan::domain::{CallDirection, CallStatus, Phone};
use mokdan::store::users::{self, Role};
use mokdan::store::{businesses, calls, now_ms};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderValue};

const PASSWORD: &str = "a-good-password-1";
const SID: &str = "CA00000000000000000000000000007001";

async fn owner_client(app: &TestApp) -> reqwest::Client {
    let res = app
        .http
        .post(app.url("/api/auth/login"))
        .header(header::ORIGIN, &app.base)
        .json(&serde_json::json!({ "email": "owner@tools.test", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "login");
    let cookies: Vec<String> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::COOKIE,
        HeaderValue::from_str(&cookies.join("; ")).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn the_call_page_shows_each_action_and_its_result(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let db = &app.state.db;
    let biz = businesses::create(db, "מוסך הצפון", &Phone::parse("04-7654321").unwrap())
        .await
        .unwrap();
    let hash = mokdan::auth::hash_password(PASSWORD).unwrap();
    users::create(db, "owner@tools.test", &hash, Role::Owner, Some(biz))
        .await
        .unwrap();
    calls::insert(
        db,
        &calls::NewCall {
            call_sid: SID,
            business_id: Some(biz),
            from: Some("+972501234567"),
            to: Some("+97247654321"),
            direction: CallDirection::Inbound,
            status: CallStatus::Ringing,
        },
    )
    .await
    .unwrap();
    calls::advance_status(db, SID, &CallStatus::parse("completed"), Some(40))
        .await
        .unwrap();
    let tools = serde_json::json!([
        {"name": "request_callback", "arguments": "{\"when\":\"מחר בעשר\"}",
         "output": "{\"ok\":true,\"result\":\"call-back requested for מחר בעשר\"}", "ok": true},
        {"name": "save_caller_details", "arguments": "{\"name\":\"<script>alert(1)</script>\"}",
         "output": "{\"ok\":false,\"error\":\"the database is away\"}", "ok": false},
    ])
    .to_string();
    for (i, caller, agent, tools) in [
        (0i64, None, "שלום, הגעתם למוסך הצפון. במה אפשר לעזור?", None),
        (
            1,
            Some("תחזרו אליי מחר בעשר"),
            "רשמתי, נחזור אלייך מחר בעשר.",
            Some(tools),
        ),
    ] {
        sqlx::query(
            "INSERT INTO call_turns (call_sid, turn_index, caller_text, agent_text, created_at, \
             tool_calls) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(SID)
        .bind(i)
        .bind(caller)
        .bind(agent)
        .bind(now_ms())
        .bind(tools)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM call_logs WHERE call_sid = $1")
        .bind(SID)
        .fetch_one(&db.pool)
        .await
        .unwrap();

    let owner = owner_client(&app).await;
    let res = owner
        .get(app.url(&format!("/app/biz/calls/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body
        .split(r#"<p class="tool" "#)
        .skip(1)
        .map(|rest| rest.split("</p>").next().unwrap_or_default())
        .collect();
    assert_eq!(lines.len(), 2, "one line per action:\n{body}");
    assert!(
        lines[0].contains("הפעולה: בקשה לשיחה חוזרת")
            && lines[0].contains("מחר בעשר")
            && lines[0].contains("→ תוצאה: בוצע"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("הפעולה: שמירת פרטי המתקשר/ת")
            && lines[1].contains("badge warn")
            && lines[1].contains("נכשל (the database is away)"),
        "{}",
        lines[1]
    );
    // Hostile text is escaped, in the line and in the folded details.
    assert!(!body.contains("<script>alert(1)</script>"), "{body}");
    assert!(
        body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;"),
        "escaped"
    );
    assert!(
        body.contains(r#"class="tool-raw""#) && body.contains("request_callback("),
        "the raw call in the technical details"
    );
    // The greeting turn, with no action, has no action line.
    let greeting = body
        .split("<li>")
        .find(|li| li.contains("במה אפשר לעזור?"))
        .expect("the greeting turn");
    assert!(!greeting.contains(r#"class="tool""#));
    app.shutdown().await.unwrap();
}
dual_test!(the_call_page_shows_each_action_and_its_result);
