//! The web app over HTTP on both databases (C5, C4, C2): every page renders in Hebrew and
//! right-to-left, unknown sub-paths fall back to the app's own page, roles and tenants are
//! enforced, forms validate and write, the live view streams, optional sections follow
//! their tables, "try a call" runs the sim, and every response carries the security headers.
//!
//! Signing in: through `POST /api/auth/login` (session cookie) when the server has it,
//! else HTTP Basic, which is what `crate::auth::Caller` accepts before the CRM API lands.

mod common;

use std::time::Duration;

use common::Backend;
use common::web::{get, world};
use mokdan::domain::{CallDirection, CallStatus};
use mokdan::store::{Db, businesses, calls, now_ms};
use reqwest::header::{self, HeaderMap};
use reqwest::{Client, StatusCode};

fn assert_app_page(path: &str, body: &str) {
    assert!(
        body.contains(r#"<html lang="he" dir="rtl">"#),
        "{path}: not a Hebrew RTL page:\n{}",
        &body[..body.len().min(400)]
    );
    assert!(body.contains("/app/static/app.css"), "{path}: layout");
}

fn assert_security_headers(path: &str, h: &HeaderMap) {
    let csp = h
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("{path}: no CSP"))
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{path}: {csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY", "{path}");
    assert_eq!(
        h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
        "nosniff",
        "{path}"
    );
    assert!(
        h.get(header::REFERRER_POLICY).is_some(),
        "{path}: referrer policy"
    );
}

async fn every_page_renders_in_hebrew_rtl(backend: Backend) {
    let w = world(backend).await;
    let lead = w.lead(w.biz_a, "דנה כהן", "050-1234567").await;
    let call = w
        .call(
            w.biz_a,
            "CA00000000000000000000000000000001",
            "+972501234567",
            "completed",
        )
        .await;
    let owner = w.client("owner@a.test").await;
    let pages = [
        "/app/biz".to_string(),
        "/app/biz/leads".into(),
        "/app/biz/leads?q=%D7%93%D7%A0%D7%94&status=new&page=1".into(),
        "/app/biz/leads/new".into(),
        format!("/app/biz/leads/{lead}"),
        format!("/app/biz/leads/{lead}/edit"),
        "/app/biz/leads/import".into(),
        "/app/biz/calls".into(),
        "/app/biz/calls?fallback=1".into(),
        "/app/biz/calls/live".into(),
        format!("/app/biz/calls/{call}"),
        "/app/biz/whatsapp".into(),
        "/app/biz/settings".into(),
        "/app/biz/settings/webhooks".into(),
        "/app/biz/settings/appointments".into(),
        "/app/biz/try".into(),
    ];
    for path in &pages {
        let (status, h, body) = get(&owner, &w.app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_app_page(path, &body);
        assert_security_headers(path, &h);
        assert!(
            body.contains("owner@a.test"),
            "{path}: navigation names the user"
        );
    }
    let ops = w.client("ops@mokdan.test").await;
    for path in ["/app/admin", "/app/admin/users", "/app/admin/health"] {
        let (status, h, body) = get(&ops, &w.app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_app_page(path, &body);
        assert_security_headers(path, &h);
    }
    let (status, _, body) = get(&w.app.http, &w.app, "/app/login").await;
    assert_eq!(status, StatusCode::OK);
    assert_app_page("/app/login", &body);
    assert!(body.contains(r#"id="login-form""#));

    // What the pages say: local phone forms, Israeli dates, the turns and their latency.
    let (_, _, body) = get(&owner, &w.app, &format!("/app/biz/calls/{call}")).await;
    assert!(body.contains("050-123-4567"), "local phone form");
    assert!(!body.contains("+972501234567\n"), "no raw E.164 shown");
    assert!(body.contains("קוראים לי דנה") && body.contains("תודה דנה, במה אפשר לעזור?"));
    assert!(
        body.contains("1875 ms") && body.contains("310 ms"),
        "latency per turn"
    );
    assert!(body.contains("דנה רוצה תור לבדיקה מחר בבוקר"), "summary");
    assert!(
        body.contains(r#"data-api="/api/calls""#),
        "call back posts to the calls API"
    );
    let date = regex_like_date(&body);
    assert!(date, "a dd.mm.yyyy hh:mm date");
    let (_, _, body) = get(&owner, &w.app, "/app/biz").await;
    assert!(
        body.contains("<svg") && body.matches("<rect").count() == 30,
        "30-day chart"
    );
    let (_, _, body) = get(&owner, &w.app, &format!("/app/biz/leads/{lead}")).await;
    assert!(
        body.contains("דנה רוצה תור"),
        "the lead's timeline has its call"
    );
    let (_, _, body) = get(&ops, &w.app, "/app/admin").await;
    assert!(
        body.contains("03-1234567") && body.contains("04-7654321"),
        "numbers, local form"
    );
    let (_, _, body) = get(&ops, &w.app, "/app/admin/health").await;
    assert!(body.contains("db_backend"), "the /readyz details");
    w.app.shutdown().await.unwrap();
}
dual_test!(every_page_renders_in_hebrew_rtl);

/// `21.11.2026 14:05` somewhere in the page.
fn regex_like_date(body: &str) -> bool {
    body.as_bytes().windows(16).any(|w| {
        let s = std::str::from_utf8(w).unwrap_or("");
        let b = s.as_bytes();
        s.len() == 16
            && b[2] == b'.'
            && b[5] == b'.'
            && b[10] == b' '
            && b[13] == b':'
            && [0, 1, 3, 4, 6, 7, 8, 9, 11, 12, 14, 15]
                .iter()
                .all(|&i| b[i].is_ascii_digit())
    })
}

async fn signed_out_visitors_go_to_login(backend: Backend) {
    let w = world(backend).await;
    let anon = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/app",
        "/app/biz",
        "/app/biz/leads?q=x",
        "/app/admin",
        "/app/biz/settings",
    ] {
        let res = anon.get(w.app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        let to = res.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_string();
        let expected: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(to, format!("/app/login?next={expected}"), "{path}");
        assert_security_headers(path, res.headers());
    }
    // Wrong credentials are not a way in either.
    use base64::Engine;
    let bad = base64::engine::general_purpose::STANDARD.encode("owner@a.test:wrong");
    let res = anon
        .get(w.app.url("/app/biz"))
        .header(header::AUTHORIZATION, format!("Basic {bad}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The assets are public, typed, and embedded.
    for (file, ctype, needle) in [
        ("app.css", "text/css", "direction"),
        ("app.js", "text/javascript", "/api/auth/login"),
        ("htmx.min.js", "text/javascript", "htmx"),
        ("favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let res = anon
            .get(w.app.url(&format!("/app/static/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert!(
            res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(ctype)
        );
        assert_security_headers(file, res.headers());
        assert!(res.text().await.unwrap().contains(needle), "{file}");
    }
    let res = anon
        .get(w.app.url("/app/static/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The login page keeps only an in-app destination.
    let (_, _, body) = get(&anon, &w.app, "/app/login?next=https://evil.example/").await;
    assert!(
        body.contains(r#"data-next="/app""#),
        "open redirect refused"
    );
    let (_, _, body) = get(&anon, &w.app, "/app/login?next=/app/biz/calls").await;
    assert!(body.contains(r#"data-next="/app/biz/calls""#));
    w.app.shutdown().await.unwrap();
}
dual_test!(signed_out_visitors_go_to_login);

async fn unknown_sub_paths_fall_back_to_the_app(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    for path in [
        "/app/biz/nothing-here",
        "/app/biz/leads/abc",
        "/app/biz/leads/999999",
        "/app/biz/calls/999999",
        "/app/admin/x/y/z",
        "/app/whatever",
        "/app/biz/whatsapp/notanumber",
    ] {
        let (status, h, body) = get(&owner, &w.app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_app_page(path, &body);
        assert_security_headers(path, &h);
        assert!(
            body.contains("הדף לא נמצא"),
            "{path}: the app's own not-found page"
        );
        assert!(
            body.contains("owner@a.test"),
            "{path}: with the viewer's navigation"
        );
    }
    // Signed out, an unknown path is still the app's page, not a bare 404.
    let (status, _, body) = get(&w.app.http, &w.app, "/app/zzz/qqq").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_app_page("/app/zzz/qqq", &body);
    // A trailing slash is the same page.
    let res = owner
        .get(w.app.url("/app/biz/leads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()[header::LOCATION], "/app/biz/leads");
    w.app.shutdown().await.unwrap();
}
dual_test!(unknown_sub_paths_fall_back_to_the_app);

async fn an_agent_cannot_open_settings(backend: Backend) {
    let w = world(backend).await;
    let agent = w.client("agent@a.test").await;
    let (status, h, body) = get(&agent, &w.app, "/app/biz/settings").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_app_page("settings", &body);
    assert_security_headers("settings", &h);
    assert!(body.contains("אין לך הרשאה"), "the no-permission page");
    let res = agent
        .post(w.app.url("/app/biz/settings"))
        .form(&[("greeting", "נפרצתם")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let b = businesses::get(w.db(), w.biz_a).await.unwrap().unwrap();
    assert_eq!(b.greeting, None, "an agent's post changed nothing");
    let (status, _, _) = get(&agent, &w.app, "/app/biz/settings/listen?text=x").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Agents work with leads and calls, and see no settings link.
    let (status, _, body) = get(&agent, &w.app, "/app/biz/leads").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains(r#"href="/app/biz/settings""#));
    // Business users are not operators, and operators have no business pages.
    let (status, _, _) = get(&agent, &w.app, "/app/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let ops = w.client("ops@mokdan.test").await;
    let (status, _, body) = get(&ops, &w.app, "/app/biz/leads").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("/app/admin"), "sent back to the admin area");
    // The owner may.
    let owner = w.client("owner@a.test").await;
    let (status, _, body) = get(&owner, &w.app, "/app/biz/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("agent@a.test") && !body.contains("owner@b.test"),
        "own users only"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(an_agent_cannot_open_settings);

async fn tenants_never_see_each_other(backend: Backend) {
    let w = world(backend).await;
    let lead_a = w.lead(w.biz_a, "סוד של עסק א", "050-1111111").await;
    let call_a = w
        .call(
            w.biz_a,
            "CA000000000000000000000000000000a1",
            "+972501111111",
            "completed",
        )
        .await;
    w.lead(w.biz_b, "לקוח של עסק ב", "050-2222222").await;
    let b = w.client("owner@b.test").await;
    for path in [
        format!("/app/biz/leads/{lead_a}"),
        format!("/app/biz/leads/{lead_a}/edit"),
        format!("/app/biz/calls/{call_a}"),
        format!("/app/biz/whatsapp/{lead_a}"),
    ] {
        let (status, _, body) = get(&b, &w.app, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body.contains("הדף לא נמצא"), "{path}");
        assert!(!body.contains("סוד של עסק א"), "{path}: nothing of A leaks");
    }
    let res = b
        .post(w.app.url(&format!("/app/biz/leads/{lead_a}/edit")))
        .form(&[
            ("name", "נגנב"),
            ("phone", "050-1111111"),
            ("status", "lost"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let a = mokdan::store::customers::get(w.db(), w.biz_a, lead_a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a.name.as_deref(),
        Some("סוד של עסק א"),
        "B could not edit A's lead"
    );
    for path in [
        "/app/biz/leads",
        "/app/biz/calls",
        "/app/biz",
        "/app/biz/leads?q=050-111",
    ] {
        let (status, _, body) = get(&b, &w.app, path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !body.contains("סוד של עסק א") && !body.contains("דנה כהן"),
            "{path}"
        );
    }
    let (_, _, body) = get(&b, &w.app, "/app/biz/leads").await;
    assert!(body.contains("לקוח של עסק ב"), "B sees its own");
    w.app.shutdown().await.unwrap();
}
dual_test!(tenants_never_see_each_other);

async fn leads_are_created_edited_and_found(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let res = owner
        .post(w.app.url("/app/biz/leads/new"))
        .form(&[
            ("name", "יוסי לוי"),
            ("phone", "054-765-4321"),
            ("status", "new"),
            ("email", "yossi@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let id: i64 = to.trim_start_matches("/app/biz/leads/").parse().unwrap();
    let row = mokdan::store::customers::get(w.db(), w.biz_a, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.phone, "+972547654321", "stored in E.164");
    assert_eq!(row.source.as_deref(), Some("crm"));
    // The same phone again, a bad phone, a cross-site post.
    let res = owner
        .post(w.app.url("/app/biz/leads/new"))
        .form(&[("name", "כפול"), ("phone", "+972547654321")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains(&format!("/app/biz/leads/{id}")),
        "links the existing lead"
    );
    let res = owner
        .post(w.app.url("/app/biz/leads/new"))
        .form(&[("name", "x"), ("phone", "not a phone")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("מספר הטלפון אינו תקין"));
    let res = owner
        .post(w.app.url("/app/biz/leads/new"))
        .header(header::ORIGIN, "http://evil.example")
        .form(&[("name", "x"), ("phone", "050-9999999")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "cross-origin form posts are refused"
    );
    // Edit.
    let res = owner
        .post(w.app.url(&format!("/app/biz/leads/{id}/edit")))
        .form(&[
            ("name", "יוסי לוי"),
            ("phone", "054-765-4321"),
            ("status", "qualified"),
            ("notes", "רוצה הצעת מחיר"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, _, body) = get(&owner, &w.app, &format!("/app/biz/leads/{id}")).await;
    assert!(
        body.contains("מתעניין")
            && body.contains("רוצה הצעת מחיר")
            && body.contains("054-765-4321")
    );
    // Search by name, by phone in any form, and by status; paging.
    for i in 0..30 {
        w.lead(
            w.biz_a,
            &format!("לקוח {i:02}"),
            &format!("052-00000{i:02}"),
        )
        .await;
    }
    for (q, found) in [
        ("/app/biz/leads?q=%D7%99%D7%95%D7%A1%D7%99", true),
        ("/app/biz/leads?q=054-7654321", true),
        ("/app/biz/leads?q=%2B972547654321", true),
        ("/app/biz/leads?q=7654", true),
        ("/app/biz/leads?status=qualified", true),
        ("/app/biz/leads?status=won", false),
        ("/app/biz/leads?q=%25", false),
    ] {
        let (status, _, body) = get(&owner, &w.app, q).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert_eq!(body.contains("יוסי לוי"), found, "{q}");
    }
    let (_, _, page1) = get(&owner, &w.app, "/app/biz/leads").await;
    assert!(page1.contains("31 לידים") && page1.contains("עמוד 1 מתוך 2"));
    let (_, _, page2) = get(&owner, &w.app, "/app/biz/leads?page=2").await;
    assert_eq!(
        page2.matches("<td data-label=\"שם\">").count(),
        6,
        "25 on page 1, 6 on page 2"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(leads_are_created_edited_and_found);

async fn settings_are_saved_and_spoken(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let res = owner
        .post(w.app.url("/app/biz/settings"))
        .form(&[
            ("greeting", "שלום, הגעתם למרפאת כהן"),
            ("agent_prompt", "שאל שם, סיבה ומתי לחזור"),
            ("hours", "א׳–ה׳ 9:00–17:00"),
            ("transfer", "050-1234567"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let b = businesses::get(w.db(), w.biz_a).await.unwrap().unwrap();
    assert_eq!(b.greeting.as_deref(), Some("שלום, הגעתם למרפאת כהן"));
    assert_eq!(b.transfer_number.as_deref(), Some("+972501234567"));
    assert_eq!(b.auto_reply, 0, "unchecked box turns auto-reply off");
    let (_, _, body) = get(&owner, &w.app, "/app/biz/settings?saved=1").await;
    assert!(body.contains("ההגדרות נשמרו") && body.contains("050-123-4567"));
    let expected = w
        .app
        .state
        .calls
        .prompts
        .name_for(Some(w.biz_a), "שלום, הגעתם למרפאת כהן");
    assert!(
        body.contains(&format!("/static/tts/{expected}")),
        "the greeting's audio"
    );
    let res = owner
        .get(
            w.app
                .url("/app/biz/settings/listen?text=%D7%A9%D7%9C%D7%95%D7%9D"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        to,
        format!(
            "/static/tts/{}",
            w.app.state.calls.prompts.name_for(Some(w.biz_a), "שלום")
        )
    );
    let res = owner
        .post(w.app.url("/app/biz/settings"))
        .form(&[("transfer", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b = businesses::get(w.db(), w.biz_a).await.unwrap().unwrap();
    assert_eq!(
        b.transfer_number.as_deref(),
        Some("+972501234567"),
        "a refused form changes nothing"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(settings_are_saved_and_spoken);

async fn intake_questions_are_edited_in_settings(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let (_, _, body) = get(&owner, &w.app, "/app/biz/settings").await;
    assert!(body.contains(r#"name="questions""#), "the questions field");
    let res = owner
        .post(w.app.url("/app/biz/settings"))
        .form(&[("questions", "איך קוראים לך?\r\n\r\n  מה דגם הרכב?  \r\n")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let b = businesses::get(w.db(), w.biz_a).await.unwrap().unwrap();
    assert_eq!(b.questions(), ["איך קוראים לך?", "מה דגם הרכב?"]);
    let (_, _, body) = get(&owner, &w.app, "/app/biz/settings").await;
    assert!(
        body.contains("איך קוראים לך?\nמה דגם הרכב?"),
        "shown one per line"
    );

    // Eleven questions are refused, shown back as typed, and change nothing.
    let eleven: Vec<String> = (1..=11).map(|i| format!("שאלה {i}?")).collect();
    let res = owner
        .post(w.app.url("/app/biz/settings"))
        .form(&[("questions", eleven.join("\n"))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = res.text().await.unwrap();
    assert!(body.contains("שאלה 11?"), "kept in the form");
    let b = businesses::get(w.db(), w.biz_a).await.unwrap().unwrap();
    assert_eq!(b.questions().len(), 2);

    // An empty field goes back to the agent's default questions.
    let res = owner
        .post(w.app.url("/app/biz/settings"))
        .form(&[("questions", "  ")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let b = businesses::get(w.db(), w.biz_a).await.unwrap().unwrap();
    assert!(b.questions().is_empty() && b.intake_questions.is_none());
    w.app.shutdown().await.unwrap();
}
dual_test!(intake_questions_are_edited_in_settings);

/// Reads server-sent events until one carries `needle` (bounded, so a bug cannot hang).
async fn read_until(res: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = res.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(needle) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "no event with {needle:?} in:\n{seen}");
    seen
}

async fn live_calls_stream_over_sse(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    calls::insert(
        w.db(),
        &calls::NewCall {
            call_sid: "CA00000000000000000000000000000live",
            business_id: Some(w.biz_a),
            from: Some("+972529876543"),
            to: Some("+97231234567"),
            direction: CallDirection::Inbound,
            status: CallStatus::Ringing,
        },
    )
    .await
    .unwrap();
    // Another business's live call never reaches this stream.
    calls::insert(
        w.db(),
        &calls::NewCall {
            call_sid: "CA0000000000000000000000000000other",
            business_id: Some(w.biz_b),
            from: Some("+972531112233"),
            to: Some("+97247654321"),
            direction: CallDirection::Inbound,
            status: CallStatus::Ringing,
        },
    )
    .await
    .unwrap();
    let mut res = owner
        .get(w.app.url("/app/biz/calls/live/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_security_headers("events", res.headers());
    let first = read_until(&mut res, "052-987-6543").await;
    assert!(first.contains("event: calls"), "{first}");
    assert!(
        !first.contains("053-111-2233"),
        "only this business's calls"
    );
    calls::advance_status(
        w.db(),
        "CA00000000000000000000000000000live",
        &CallStatus::Completed,
        Some(10),
    )
    .await
    .unwrap();
    read_until(&mut res, "אין כרגע שיחות פעילות").await;
    drop(res);
    w.app.shutdown().await.unwrap();
}
dual_test!(live_calls_stream_over_sse);

/// The WhatsApp branch's table, created here when absent so the inbox can be tested alone.
async fn ensure_whatsapp_table(db: &Db) {
    let id = match db.backend {
        mokdan::store::Backend::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        mokdan::store::Backend::Postgres => {
            "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        }
    };
    // Safe: `id` is one of the two column definitions above.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS whatsapp_messages ({id}, business_id BIGINT, customer_id BIGINT, \
         provider TEXT NOT NULL, provider_message_id TEXT, direction TEXT NOT NULL, from_number TEXT, \
         to_number TEXT, body TEXT, media TEXT, template TEXT, status TEXT NOT NULL, \
         status_rank BIGINT NOT NULL DEFAULT 0, error_code TEXT, error_message TEXT, \
         created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn message(
    db: &Db,
    business: i64,
    customer: i64,
    direction: &str,
    body: &str,
    status: &str,
    at: i64,
) {
    sqlx::query(
        "INSERT INTO whatsapp_messages (business_id, customer_id, provider, direction, body, status, \
         created_at, updated_at) VALUES ($1, $2, 'twilio', $3, $4, $5, $6, $6)",
    )
    .bind(business)
    .bind(customer)
    .bind(direction)
    .bind(body)
    .bind(status)
    .bind(at)
    .execute(&db.pool)
    .await
    .unwrap();
}

async fn whatsapp_inbox_follows_its_table(backend: Backend) {
    let w = world(backend).await;
    ensure_whatsapp_table(w.db()).await;
    let now = now_ms();
    let open = w.lead(w.biz_a, "רותי", "050-3333333").await;
    let closed = w.lead(w.biz_a, "משה", "050-4444444").await;
    let other = w.lead(w.biz_b, "זר", "050-5555555").await;
    sqlx::query("UPDATE customers SET last_inbound_at = $2 WHERE id = $1")
        .bind(open)
        .bind(now - 3_600_000)
        .execute(&w.db().pool)
        .await
        .unwrap();
    sqlx::query("UPDATE customers SET last_inbound_at = $2 WHERE id = $1")
        .bind(closed)
        .bind(now - 30 * 3_600_000)
        .execute(&w.db().pool)
        .await
        .unwrap();
    message(
        w.db(),
        w.biz_a,
        open,
        "out",
        "שלום רותי",
        "read",
        now - 7_200_000,
    )
    .await;
    message(
        w.db(),
        w.biz_a,
        open,
        "in",
        "יש תור מחר?",
        "received",
        now - 3_600_000,
    )
    .await;
    message(
        w.db(),
        w.biz_a,
        closed,
        "in",
        "תודה",
        "received",
        now - 31 * 3_600_000,
    )
    .await;
    message(
        w.db(),
        w.biz_a,
        closed,
        "out",
        "בשמחה",
        "delivered",
        now - 30 * 3_600_000,
    )
    .await;
    message(
        w.db(),
        w.biz_b,
        other,
        "in",
        "הודעה של עסק ב",
        "received",
        now,
    )
    .await;
    let owner = w.client("owner@a.test").await;
    let (_, _, body) = get(&owner, &w.app, "/app/biz/whatsapp").await;
    assert!(body.contains("רותי") && body.contains("משה") && !body.contains("הודעה של עסק ב"));
    assert_eq!(
        body.matches("ממתין למענה").count(),
        1,
        "only Ruti's last message is hers"
    );
    let (_, _, dash) = get(&owner, &w.app, "/app/biz").await;
    assert!(dash.contains("יש תור מחר?") && !dash.contains(r#"data-unavailable="whatsapp""#));
    let (_, _, body) = get(&owner, &w.app, &format!("/app/biz/whatsapp/{open}")).await;
    assert!(body.contains(r#"id="wa-send""#), "window open: free text");
    assert!(
        body.contains(r#"data-status="read""#) && body.contains("✓✓"),
        "read ticks"
    );
    let (_, _, body) = get(&owner, &w.app, &format!("/app/biz/whatsapp/{closed}")).await;
    assert!(body.contains(r#"id="wa-window-closed""#) && body.contains(r#"id="wa-template""#));
    assert!(
        !body.contains(r#"id="wa-send""#),
        "window closed: template only"
    );
    let (status, _, frag) = get(
        &owner,
        &w.app,
        &format!("/app/biz/whatsapp/{closed}/messages"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        frag.contains("בשמחה") && !frag.contains("<html"),
        "a fragment for refreshing"
    );
    let (status, _, _) = get(&owner, &w.app, &format!("/app/biz/whatsapp/{other}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another business's thread");
    let (_, _, body) = get(&owner, &w.app, &format!("/app/biz/leads/{open}")).await;
    assert!(
        body.contains("יש תור מחר?"),
        "the lead's timeline has its messages"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(whatsapp_inbox_follows_its_table);

async fn table_exists(db: &Db, table: &str) -> bool {
    // Safe: `table` is a name written in the test.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM {table} WHERE 1 = 0"
    )))
    .fetch_optional(&db.pool)
    .await
    .is_ok()
}

async fn missing_optional_tables_say_unavailable(backend: Backend) {
    let w = world(backend).await;
    let has_wa = table_exists(w.db(), "whatsapp_messages").await;
    let has_jobs = table_exists(w.db(), "jobs").await;
    let owner = w.client("owner@a.test").await;
    let (status, _, dash) = get(&owner, &w.app, "/app/biz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(dash.contains(r#"data-unavailable="whatsapp""#), !has_wa);
    let (status, _, inbox) = get(&owner, &w.app, "/app/biz/whatsapp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(inbox.contains("לא זמין"), !has_wa);
    let ops = w.client("ops@mokdan.test").await;
    let (_, _, health) = get(&ops, &w.app, "/app/admin/health").await;
    assert_eq!(health.contains(r#"data-unavailable="jobs""#), !has_jobs);
    w.app.shutdown().await.unwrap();
}
dual_test!(missing_optional_tables_say_unavailable);

async fn dead_jobs_are_listed_with_retry(backend: Backend) {
    let w = world(backend).await;
    let id = match w.db().backend {
        mokdan::store::Backend::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        mokdan::store::Backend::Postgres => {
            "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        }
    };
    // Safe: `id` is one of the two column definitions above.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS jobs ({id}, kind TEXT NOT NULL, payload TEXT NOT NULL, \
         state TEXT NOT NULL DEFAULT 'queued', attempts BIGINT NOT NULL DEFAULT 0, \
         max_attempts BIGINT NOT NULL DEFAULT 5, run_after BIGINT NOT NULL, last_error TEXT, \
         lease_until BIGINT, locked_by TEXT, idempotency_key TEXT UNIQUE, \
         created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)"
    )))
    .execute(&w.db().pool)
    .await
    .unwrap();
    let (job,): (i64,) = sqlx::query_as(
        "INSERT INTO jobs (kind, payload, state, attempts, run_after, last_error, created_at, \
         updated_at) VALUES ('transcribe', '{}', 'dead', 5, $1, 'stt: 503 from provider', $1, $1) \
         RETURNING id",
    )
    .bind(now_ms())
    .fetch_one(&w.db().pool)
    .await
    .unwrap();
    let ops = w.client("ops@mokdan.test").await;
    let (_, _, body) = get(&ops, &w.app, "/app/admin/health").await;
    assert!(body.contains("stt: 503 from provider"));
    assert!(
        body.contains(&format!(r#"data-api="/api/jobs/{job}/retry""#)),
        "a retry button"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(dead_jobs_are_listed_with_retry);

async fn try_a_call_runs_the_sim(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let res = owner.post(w.app.url("/app/biz/try")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let run = res.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(run.starts_with("/app/biz/try/"), "{run}");
    // Another business cannot look at this run.
    let b = w.client("owner@b.test").await;
    let (status, _, _) = get(&b, &w.app, &run).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut body = String::new();
    for _ in 0..240 {
        body = get(&owner, &w.app, &run).await.2;
        if !body.contains(r#"data-state="running""#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(body.contains(r#"data-state="done""#), "{body}");
    assert!(body.contains("try-call-link"), "the call is in the log");
    let res = owner
        .get(w.app.url(&format!("{run}/audio.wav")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "audio/wav");
    let wav = res.bytes().await.unwrap();
    assert!(
        wav.starts_with(b"RIFF") && wav.len() > 8000,
        "a real WAV ({} bytes)",
        wav.len()
    );
    let (status, _, _) = get(&b, &w.app, &format!("{run}/audio.wav")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, calls) = get(&owner, &w.app, "/app/biz/calls").await;
    assert!(
        calls.contains("054-111-2222"),
        "the simulated caller, in local form"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(try_a_call_runs_the_sim);

/// The webhooks page (#22): owners only; it lists the business's endpoints (never the
/// secret) and its deliveries with their status code and a resend button — and nothing of
/// another business's.
async fn the_webhooks_page_lists_endpoints_and_deliveries(backend: Backend) {
    use mokdan::store::hooks as store;
    let w = world(backend).await;
    let secret = mokdan::hooks::sign::new_secret();
    let mut ids = Vec::new();
    for (biz, url) in [
        (w.biz_a, "http://127.0.0.1:9/hooks/clinic-endpoint"),
        (w.biz_b, "http://127.0.0.1:9/hooks/garage-endpoint"),
    ] {
        let e = store::create_endpoint(
            w.db(),
            biz,
            &store::NewEndpoint {
                url,
                description: None,
                secret: &secret,
                events: "lead.created,call.completed",
                enabled: true,
            },
        )
        .await
        .unwrap();
        let payload = r#"{"type":"lead.created","timestamp":"2026-11-21T12:00:00.000Z","data":{}}"#;
        let made = store::insert_deliveries(
            w.db(),
            biz,
            &[store::NewDelivery {
                endpoint_id: e.id,
                event: "lead.created",
                msg_id: "msg_ui",
                payload,
                job_kind: "ui_probe",
                max_attempts: 1,
            }],
        )
        .await
        .unwrap();
        store::record_attempt(w.db(), made[0], store::FAILED, Some(410), Some("HTTP 410"))
            .await
            .unwrap();
        ids.push(made[0]);
    }
    let owner = w.client("owner@a.test").await;
    let (status, h, body) = get(&owner, &w.app, "/app/biz/settings/webhooks").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_app_page("webhooks", &body);
    assert_security_headers("webhooks", &h);
    assert!(body.contains("clinic-endpoint") && !body.contains("garage-endpoint"));
    assert!(
        !body.contains(&secret) && !body.contains("whsec_"),
        "no secret"
    );
    assert!(
        body.contains("ליד חדש") && body.contains("שיחה הסתיימה"),
        "events in Hebrew"
    );
    assert!(
        body.contains("410") && body.contains("נכשל"),
        "the status code and state"
    );
    assert!(body.contains("שליחה חוזרת"), "resend");
    assert!(body.contains(&format!(
        r#"data-api="/api/webhooks/deliveries/{}/resend""#,
        ids[0]
    )));
    assert!(!body.contains(&format!("/api/webhooks/deliveries/{}/resend", ids[1])));
    assert!(
        body.contains(r#"data-api="/api/webhooks/endpoints""#),
        "the add form"
    );
    let (_, _, settings) = get(&owner, &w.app, "/app/biz/settings").await;
    assert!(settings.contains(r#"href="/app/biz/settings/webhooks""#));
    let agent = w.client("agent@a.test").await;
    let (status, _, _) = get(&agent, &w.app, "/app/biz/settings/webhooks").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    w.app.shutdown().await.unwrap();
}
dual_test!(the_webhooks_page_lists_endpoints_and_deliveries);
