//! The web app against a hostile browser: security headers on every page (and HSTS in
//! production), no inline script or style for the CSP to have to allow, cross-site form
//! posts refused (and changing nothing), and password guessing throttled even when the
//! guesses arrive all at once.

use futures::future::join_all;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::json;

use super::spawn;
use crate::common::crm::{PASSWORD, add_business, add_user};
use crate::common::{Backend, TestApp};
use mokdan::store::users::Role;

fn assert_security_headers(what: &str, h: &HeaderMap) {
    let csp = h
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"))
        .to_str()
        .unwrap();
    for needed in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(needed), "{what}: CSP lacks {needed}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-"),
        "{what}: CSP allows unsafe code: {csp}"
    );
    assert!(!csp.contains(" *"), "{what}: CSP allows any origin: {csp}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{what}");
    let referrer = h[header::REFERRER_POLICY].to_str().unwrap();
    assert!(
        [
            "same-origin",
            "no-referrer",
            "strict-origin-when-cross-origin"
        ]
        .contains(&referrer),
        "{what}: {referrer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_app_response_carries_the_security_headers() {
    let app = spawn(&[]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/app/login",
        "/app/login?next=https://evil.example/",
        "/app/biz",
        "/app/admin",
        "/app/static/app.js",
        "/app/static/app.css",
        "/app/no/such/page",
    ] {
        let r = http.get(app.url(path)).send().await.unwrap();
        assert_security_headers(path, r.headers());
        assert!(
            r.headers().get(header::STRICT_TRANSPORT_SECURITY).is_none(),
            "{path}: no HSTS over plain http in development"
        );
    }
    // The login page itself has no inline script for the CSP to block.
    let body = app.get("/app/login").await.text().await.unwrap();
    assert_no_inline_code("/app/login", &body);
    app.shutdown().await.unwrap();
}

/// The CSP allows no inline script or style, so no template may rely on one.
#[test]
fn templates_have_no_inline_script_or_style() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui/templates");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let html = std::fs::read_to_string(&path).unwrap();
        assert_no_inline_code(&path.display().to_string(), &html);
        n += 1;
    }
    assert!(n > 5, "templates found in {}", dir.display());
}

fn assert_no_inline_code(what: &str, html: &str) {
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
        assert!(tag.contains(" src="), "{what}: inline <script>: {tag}");
    }
    assert!(!lower.contains("<style"), "{what}: inline <style>");
    assert!(!lower.contains(" style=\""), "{what}: style attribute");
    assert!(!lower.contains("javascript:"), "{what}: javascript: URL");
    for attr in [
        "onclick=",
        "onload=",
        "onerror=",
        "onsubmit=",
        "onchange=",
        "oninput=",
    ] {
        assert!(!lower.contains(attr), "{what}: inline handler {attr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_adds_strict_transport_security() {
    let app = spawn(&[
        ("MOKDAN_ENV", "production"),
        ("TWILIO_ACCOUNT_SID", crate::common::twilio::ACCOUNT_SID),
        ("JWT_SECRET", "a-production-jwt-secret-0123456789"),
        ("PUBLIC_BASE_URL", "https://calls.example.com"),
    ])
    .await;
    for path in ["/app/login", "/app/biz", "/api/auth/me", "/health"] {
        let r = app.get(path).await;
        let hsts = r
            .headers()
            .get(header::STRICT_TRANSPORT_SECURITY)
            .unwrap_or_else(|| panic!("{path}: no HSTS in production"))
            .to_str()
            .unwrap();
        let max_age: u64 = hsts
            .split(';')
            .find_map(|p| p.trim().strip_prefix("max-age="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(max_age >= 180 * 24 * 3600, "{path}: {hsts}");
    }
    assert_security_headers("/app/login", app.get("/app/login").await.headers());
    app.shutdown().await.unwrap();
}

/// Signs in through the API; the `Cookie` header value a browser would then send.
async fn session_cookies(app: &TestApp, email: &str) -> String {
    let r = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

async fn lead_count(app: &TestApp, business_id: i64) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers WHERE business_id = $1")
        .bind(business_id)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_form_posts_are_refused_and_change_nothing() {
    let _turn = super::exclusive().await;
    let app = spawn(&[]).await;
    let biz = add_business(&app, "מרפאה", "03-7654321").await;
    add_user(&app, "owner@clinic.test", Role::Owner, Some(biz)).await;
    let cookies = session_cookies(&app, "owner@clinic.test").await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let lead = [("name", "דנה"), ("phone", "050-7777777")];
    let forms: [(&str, &[(&str, &str)]); 4] = [
        ("/app/biz/leads/new", &lead),
        ("/app/biz/settings", &[("greeting", "הונאה"), ("hours", "")]),
        ("/app/biz/try", &[]),
        ("/app/logout", &[]),
    ];
    // What a forged form on another site can make a browser send: a foreign Origin, a
    // foreign Referer without Origin, `Origin: null` (sandboxed frames, data: URLs), or
    // (older browsers, stripped referrers) neither. None carries the CSRF token.
    let forged: [&[(&str, &str)]; 4] = [
        &[("origin", "https://evil.example")],
        &[("referer", "https://evil.example/page.html")],
        &[("origin", "null")],
        &[],
    ];
    for (path, form) in forms {
        for headers in forged {
            if path == "/app/logout" && headers.is_empty() {
                // Logging out needs no proof; a browser never sends this cross-site anyway.
                continue;
            }
            let mut req = http
                .post(app.url(path))
                .header(header::COOKIE, &cookies)
                .form(form);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let status = req.send().await.unwrap().status();
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} with {headers:?}");
        }
    }
    assert_eq!(lead_count(&app, biz).await, 0, "no forged lead was stored");
    // The session survived every forged logout, and the app's own form still works.
    let r = http
        .post(app.url("/app/biz/leads/new"))
        .header(header::COOKIE, &cookies)
        .header(header::ORIGIN, &app.base)
        .form(&lead)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "same-origin form post");
    assert_eq!(lead_count(&app, biz).await, 1);
    app.shutdown().await.unwrap();
}

/// Guesses sent all at once (from many addresses behind the local proxy) are limited like
/// guesses sent one by one: five failures per account a minute, ten attempts per address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_password_guessing_is_throttled() {
    let _turn = super::exclusive().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let biz = add_business(&app, "מרפאה", "03-7654321").await;
    add_user(&app, "owner@clinic.test", Role::Owner, Some(biz)).await;
    let guess = |i: usize, email: String, password: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/api/auth/login"))
                .header("x-forwarded-for", format!("198.51.100.{}", i % 250 + 1))
                .json(&json!({ "email": email, "password": password }))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let statuses =
        join_all((0..30).map(|i| guess(i, "owner@clinic.test".into(), format!("guess-{i}")))).await;
    let tried = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    println!("30 parallel guesses at one account: {tried} checked, {limited} refused");
    assert_eq!(tried + limited, 30, "{statuses:?}");
    assert!(
        tried <= 5,
        "{tried} passwords were checked for one account in a minute"
    );
    // The right password now waits too (nothing tells the guesser it was right).
    assert_eq!(
        guess(200, "owner@clinic.test".into(), PASSWORD.into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // One address, many accounts, all at once: ten attempts, then 429.
    let statuses =
        join_all((0..25).map(|j| guess(240, format!("user{j}@clinic.test"), "x-x-x-x".into())))
            .await;
    let tried = statuses
        .iter()
        .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(tried <= 10, "{tried} attempts from one address");
    app.shutdown().await.unwrap();
}

/// Forty logins at once, each from its own address and for its own account (so no rate
/// limit applies): argon2 needs 19 MiB per check, so at most a few run at a time and
/// memory stays bounded instead of growing with the crowd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_crowd_has_bounded_memory() {
    let _turn = super::exclusive().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    // The first check makes the dummy hash for unknown accounts; take it out of the count.
    let _ = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": "warm@up.test", "password": "x-x-x-x" }))
        .send()
        .await
        .unwrap();
    let crowd = join_all((0..40).map(|i| {
        app.http
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.{}", i + 1))
            .json(&json!({ "email": format!("visitor{i}@crowd.test"), "password": "x-x-x-x" }))
            .send()
    }));
    let (answers, grown) = super::peak_rss_growth(crowd).await;
    for a in answers {
        assert_eq!(a.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    println!("40 logins at once: peak RSS +{} MB", grown >> 20);
    assert!(
        grown < 300 << 20,
        "memory grew {} MB for 40 logins: password checks are not bounded",
        grown >> 20
    );
    app.shutdown().await.unwrap();
}
