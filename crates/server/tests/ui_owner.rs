//! The owner's side of the web app (#22, V10, X5, C2): the call list names people and is
//! searched and filtered; a call is reviewed from its page; the dashboard's set-up
//! checklist says honestly what is missing and disappears when nothing is; a button that
//! cannot work is disabled with its reason in Hebrew; "try a call" takes the caller's lines.

mod common;

use common::Backend;
use common::web::{World, get, world, world_with};
use reqwest::StatusCode;

async fn calls_page(w: &World, c: &reqwest::Client, query: &str) -> String {
    let (status, _, body) = get(c, &w.app, &format!("/app/biz/calls{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}");
    body
}

/// The rows of the calls table, as the names they show.
fn rows(body: &str) -> usize {
    body.matches(r#"<td data-label="מי">"#).count()
}

async fn the_call_list_shows_people_and_filters(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let lead = w.lead(w.biz_a, "רונית אברהם", "052-7777777").await;
    let known = w
        .call(w.biz_a, "CAknown", "+972527777777", "completed")
        .await;
    sqlx::query("UPDATE call_logs SET customer_id = $1, caller_reason = 'החלפת כתר' WHERE id = $2")
        .bind(lead)
        .bind(known)
        .execute(&w.db().pool)
        .await
        .unwrap();
    w.call(w.biz_a, "CAother", "+972501112233", "completed")
        .await;
    let all = calls_page(&w, &owner, "").await;
    assert_eq!(rows(&all), 2);
    assert!(
        all.contains("רונית אברהם"),
        "the lead's name, not the name said"
    );
    assert!(all.contains("החלפת כתר"), "what the caller wanted");
    assert!(all.contains(r#"id="calls-filters""#));
    // By the lead's name, by local digits, by the lead, and by outcome.
    assert_eq!(
        rows(&calls_page(&w, &owner, "?q=%D7%A8%D7%95%D7%A0%D7%99%D7%AA").await),
        1
    );
    assert_eq!(rows(&calls_page(&w, &owner, "?q=050-111").await), 1);
    let by_lead = calls_page(&w, &owner, &format!("?lead={lead}")).await;
    assert_eq!(rows(&by_lead), 1);
    assert!(by_lead.contains("השיחות של רונית אברהם"));
    sqlx::query("UPDATE call_logs SET disposition = 'spam' WHERE id = $1")
        .bind(known)
        .execute(&w.db().pool)
        .await
        .unwrap();
    let spam = calls_page(&w, &owner, "?outcome=spam").await;
    assert_eq!(rows(&spam), 1);
    assert!(spam.contains("ספאם"), "the disposition in Hebrew");
    assert_eq!(rows(&calls_page(&w, &owner, "?outcome=none").await), 1);
    // Days are Israel's; a day with no calls finds none; a bad date says so in Hebrew.
    assert_eq!(
        rows(&calls_page(&w, &owner, "?from=2001-01-01&to=2001-01-02").await),
        0
    );
    let bad = calls_page(&w, &owner, "?from=31.12.2026").await;
    assert!(bad.contains("תאריך ההתחלה אינו תאריך תקין"), "{bad}");
    // Another business's lead id shows none of its calls (nor the name).
    let theirs = w.lead(w.biz_b, "שם של עסק אחר", "052-8888888").await;
    let other = calls_page(&w, &owner, &format!("?lead={theirs}")).await;
    assert_eq!(rows(&other), 0);
    assert!(!other.contains("שם של עסק אחר"));
    w.app.shutdown().await.unwrap();
}
dual_test!(the_call_list_shows_people_and_filters);

async fn a_call_is_reviewed_from_its_page(backend: Backend) {
    let w = world(backend).await;
    let agent = w.client("agent@a.test").await;
    let id = w
        .call(w.biz_a, "CAreview", "+972501234567", "completed")
        .await;
    let (_, _, page) = get(&agent, &w.app, &format!("/app/biz/calls/{id}")).await;
    assert!(
        page.contains(r#"id="review-form""#),
        "agents review calls too"
    );
    assert!(page.contains(&format!(
        r#"data-api="/api/calls/{id}" data-method="PATCH""#
    )));
    // The form posts JSON as the app's script does, with the session and its CSRF token.
    let res = agent
        .patch(w.app.url(&format!("/api/calls/{id}")))
        .json(&serde_json::json!({ "summary": "חזרנו אליה, נקבע תור", "disposition": "handled" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, _, page) = get(&agent, &w.app, &format!("/app/biz/calls/{id}")).await;
    assert!(page.contains("חזרנו אליה, נקבע תור"));
    assert!(page.contains("נערך בידי הצוות"));
    assert!(page.contains(r#"id="disposition-badge">טופלה"#));
    w.app.shutdown().await.unwrap();
}
dual_test!(a_call_is_reviewed_from_its_page);

/// Whether the dashboard's checklist marks a step done.
fn step(body: &str, id: &str) -> Option<bool> {
    let at = body.find(&format!(r#"data-step="{id}""#))?;
    Some(body[at..].starts_with(&format!(r#"data-step="{id}" data-done="true""#)))
}

async fn the_checklist_is_honest_and_goes_away(backend: Backend) {
    // A service with nothing configured: every service-wide step is missing.
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let (_, _, dash) = get(&owner, &w.app, "/app/biz").await;
    assert!(dash.contains(r#"id="setup""#), "{dash}");
    for id in [
        "number",
        "webhooks",
        "stt",
        "model",
        "whatsapp",
        "greeting",
        "test-call",
    ] {
        assert_eq!(step(&dash, id), Some(false), "{id} is not done");
    }
    assert!(
        dash.contains("/app/biz/try"),
        "each step links to where it is done"
    );
    assert!(
        dash.contains("בלעדיו התשובות נשמרות כהקלטה בלבד"),
        "what it enables"
    );
    // A button that cannot work says why, beside it.
    let id = w
        .call(w.biz_a, "CAfirst", "+972501234567", "completed")
        .await;
    let (_, _, call) = get(&owner, &w.app, &format!("/app/biz/calls/{id}")).await;
    assert!(
        call.contains(r#"disabled aria-describedby="call-back-why""#),
        "{call}"
    );
    assert!(call.contains("חשבון הטלפוניה (טוויליו) לא חובר לשירות"));
    w.app.shutdown().await.unwrap();

    // Everything configured, a greeting written and a call received: no checklist.
    let w = world_with(
        backend,
        &[
            ("TWILIO_ACCOUNT_SID", &format!("AC{}", "1".repeat(32))),
            ("TWILIO_AUTH_TOKEN", "token-for-tests"),
            ("OPENAI_API_KEY", "sk-test"),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
            ("WHATSAPP_PROVIDER", "twilio"),
            ("TWILIO_WHATSAPP_FROM", "whatsapp:+14155238886"),
        ],
    )
    .await;
    let owner = w.client("owner@a.test").await;
    let (_, _, dash) = get(&owner, &w.app, "/app/biz").await;
    for id in ["number", "stt", "model"] {
        assert_eq!(step(&dash, id), Some(true), "{id} is done");
    }
    assert_eq!(step(&dash, "greeting"), Some(false));
    sqlx::query(
        "UPDATE businesses SET greeting = 'שלום', whatsapp_number = '+97231234567' WHERE id = $1",
    )
    .bind(w.biz_a)
    .execute(&w.db().pool)
    .await
    .unwrap();
    let id = w
        .call(w.biz_a, "CAfirst", "+972501234567", "completed")
        .await;
    let (_, _, dash) = get(&owner, &w.app, "/app/biz").await;
    assert!(
        !dash.contains(r#"id="setup""#),
        "nothing is missing: {dash}"
    );
    let (_, _, call) = get(&owner, &w.app, &format!("/app/biz/calls/{id}")).await;
    assert!(!call.contains("call-back-why"), "calling back works now");
    w.app.shutdown().await.unwrap();
}
dual_test!(the_checklist_is_honest_and_goes_away);

async fn try_a_call_refuses_bad_lines_in_hebrew(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let (_, _, page) = get(&owner, &w.app, "/app/biz/try").await;
    assert!(page.contains(r#"id="try-lines""#));
    let res = owner
        .post(w.app.url("/app/biz/try"))
        .form(&[("lines", "שורה\n".repeat(7))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("אפשר עד 6 שורות"), "{body}");
    assert!(body.contains("שורה"), "what was typed is kept");
    w.app.shutdown().await.unwrap();
}
dual_test!(try_a_call_refuses_bad_lines_in_hebrew);

async fn leads_export_as_a_hebrew_spreadsheet(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    w.lead(w.biz_a, "=HYPERLINK(\"x\")", "052-7777777").await;
    w.lead(w.biz_a, "רונית אברהם", "050-1234567").await;
    w.lead(w.biz_b, "של העסק השני", "053-1111111").await;
    let res = owner
        .get(w.app.url("/app/biz/leads/export.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = res.text().await.unwrap();
    assert!(body.starts_with('\u{feff}'), "a byte-order mark for Excel");
    assert!(
        body.ends_with("\r\n") && body.matches('\n').count() == body.matches("\r\n").count(),
        "CRLF line ends, as Excel writes them"
    );
    let mut lines = body.trim_start_matches('\u{feff}').lines();
    assert_eq!(
        lines.next(),
        Some("שם,טלפון,אימייל,סטטוס,מקור,תגיות,הערות,נוצר")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "this business's leads only: {rows:?}");
    let dana = rows.iter().find(|r| r.contains("רונית אברהם")).unwrap();
    assert!(
        dana.contains("050-123-4567"),
        "the phone in local form: {dana}"
    );
    assert!(
        dana.contains(",חדש,") || dana.contains(",ליד חדש,"),
        "the status in Hebrew: {dana}"
    );
    let date = dana.rsplit(',').next().unwrap();
    assert!(
        date.len() == 16 && date.as_bytes()[2] == b'.' && date.as_bytes()[5] == b'.',
        "dd.mm.yyyy HH:MM: {date}"
    );
    assert!(
        !body.contains("\n=HYPERLINK"),
        "a formula is never a live cell"
    );
    assert!(!body.contains("העסק השני"));
    w.app.shutdown().await.unwrap();
}
dual_test!(leads_export_as_a_hebrew_spreadsheet);
