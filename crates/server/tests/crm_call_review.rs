//! Staff review a call (#22, V10, C2): they correct its summary and mark what came of it;
//! the post-call job never overwrites a corrected summary; each change is audited; another
//! business's call is 404; the list finds calls by name, number, subject and disposition.

mod common;

use common::crm;
use common::{Backend, TestApp};
use mokdan::store::post_call::{self, Extraction};
use mokdan::store::users::Role;
use serde_json::json;

async fn insert_call(app: &TestApp, bid: i64, sid: &str, from: &str, reason: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO call_logs (call_sid, business_id, from_number, to_number, direction, status, \
         created_at, updated_at, call_summary, caller_name, caller_reason) \
         VALUES ($1, $2, $3, '+97231234567', 'inbound', 'completed', 1, 1, 'סיכום אוטומטי', \
         'דנה כהן', $4) RETURNING id",
    )
    .bind(sid)
    .bind(bid)
    .bind(from)
    .bind(reason)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    id
}

async fn staff_correct_the_summary_and_mark_the_outcome(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bid = crm::add_business(&app, "מספרה", "+97231234567").await;
    crm::add_user(&app, "agent@example.com", Role::Agent, Some(bid)).await;
    let t = crm::login(&app, "agent@example.com").await;
    let id = insert_call(&app, bid, "CAreview1", "+972501234567", "תור לתספורת").await;
    let path = format!("/api/calls/{id}");

    let (s, call) = crm::patch(
        &app,
        &path,
        &t,
        json!({ "summary": "  ביקשה תור ליום שלישי, חזרנו אליה  ", "disposition": "handled" }),
    )
    .await;
    assert_eq!(s, 200, "{call}");
    assert_eq!(call["call_summary"], "ביקשה תור ליום שלישי, חזרנו אליה");
    assert_eq!(call["disposition"], "handled");
    assert!(call["summary_edited_at"].is_i64());

    // The summary job, running late or again, keeps the staff's words (but fills details).
    let x = Extraction {
        summary: "סיכום חדש של המודל".into(),
        urgency: Some("גבוהה".into()),
        ..Extraction::default()
    };
    post_call::set_extraction(&app.state.db, "CAreview1", &x, None)
        .await
        .unwrap();
    assert!(
        !post_call::clear_summary(&app.state.db, "CAreview1")
            .await
            .unwrap(),
        "a corrected summary is not dropped to be made again"
    );
    let (_, call) = crm::get(&app, &path, &t).await;
    assert_eq!(call["summary"], "ביקשה תור ליום שלישי, חזרנו אליה");
    assert_eq!(call["urgency"], "גבוהה");

    // A field left out is kept; null clears; an unknown disposition is refused.
    let (s, call) = crm::patch(&app, &path, &t, json!({ "disposition": "spam" })).await;
    assert_eq!(s, 200);
    assert_eq!(call["disposition"], "spam");
    assert_eq!(call["call_summary"], "ביקשה תור ליום שלישי, חזרנו אליה");
    let (s, body) = crm::patch(&app, &path, &t, json!({ "disposition": "done" })).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(crm::error_code(&body), "invalid");
    let (s, _) = crm::patch(&app, &path, &t, json!({ "summary": "א".repeat(4001) })).await;
    assert_eq!(s, 422);
    let (s, _) = crm::patch(&app, &path, &t, json!({ "colour": "red" })).await;
    assert_eq!(s, 422, "unknown fields are refused");
    let (s, call) = crm::patch(&app, &path, &t, json!({ "disposition": null })).await;
    assert_eq!(s, 200);
    assert!(call["disposition"].is_null());

    // Each change is in the audit log, by the agent.
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_log WHERE entity = 'call' AND entity_id = $1 \
         AND action = 'review' AND actor_user_id IS NOT NULL",
    )
    .bind(id)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(n, 3, "summary+disposition, spam, cleared");

    // Another business's staff find no such call, and change nothing.
    let other = crm::add_business(&app, "אחר", "+97239999999").await;
    crm::add_user(&app, "b@example.com", Role::Owner, Some(other)).await;
    let tb = crm::login(&app, "b@example.com").await;
    let (s, _) = crm::patch(&app, &path, &tb, json!({ "disposition": "spam" })).await;
    assert_eq!(s, 404);
    let (_, call) = crm::get(&app, &path, &t).await;
    assert!(call["disposition"].is_null());
    app.shutdown().await.unwrap();
}
dual_test!(staff_correct_the_summary_and_mark_the_outcome);

async fn the_list_finds_calls_by_name_number_subject_and_outcome(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bid = crm::add_business(&app, "מוסך", "+97231234567").await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    let t = crm::login(&app, "owner@example.com").await;
    let a = insert_call(&app, bid, "CAlist1", "+972501111111", "החלפת שמן").await;
    let b = insert_call(&app, bid, "CAlist2", "+972522222222", "בלמים חורקים").await;
    let (s, _) = crm::patch(
        &app,
        &format!("/api/calls/{b}"),
        &t,
        json!({ "disposition": "callback" }),
    )
    .await;
    assert_eq!(s, 200);
    // A lead's name finds its calls even when the caller said another name.
    let (s, lead) = crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "יוסי לוי", "phone": "052-2222222" }),
    )
    .await;
    assert_eq!(s, 201, "{lead}");
    sqlx::query("UPDATE call_logs SET customer_id = $1 WHERE id = $2")
        .bind(lead["id"].as_i64().unwrap())
        .bind(b)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    for (q, expect) in [
        ("q=%D7%A9%D7%9E%D7%9F", vec![a]),       // שמן: the reason
        ("q=%D7%99%D7%95%D7%A1%D7%99", vec![b]), // יוסי: the lead's name
        ("q=050-1111", vec![a]),                 // local digits of the number
        ("q=100%25", vec![]),                    // a wildcard is a character
        ("disposition=callback", vec![b]),
        ("disposition=none", vec![a]),
    ] {
        let (s, page) = crm::get(&app, &format!("/api/calls?{q}"), &t).await;
        assert_eq!(s, 200, "{q}: {page}");
        assert_eq!(ids(&page), expect, "{q}");
    }
    let (s, _) = crm::get(&app, "/api/calls?disposition=maybe", &t).await;
    assert_eq!(s, 422);
    app.shutdown().await.unwrap();
}
dual_test!(the_list_finds_calls_by_name_number_subject_and_outcome);
