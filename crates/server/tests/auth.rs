//! Authentication and roles over real HTTP (C3, S2): credentials of every kind, their
//! expiry, forgery and revocation, CSRF on cookie requests, roles, login rate limits, and
//! login failures that never tell whether the account exists.

mod common;

use common::crm::{self, PASSWORD};
use common::{Backend, TestApp};
use mokdan::auth::jwt;
use mokdan::store::users::Role;
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "test-jwt-secret-0123456789";

async fn app_with_owner(backend: Backend) -> (TestApp, i64, i64) {
    let app = TestApp::spawn_with(backend, &[("JWT_SECRET", SECRET)]).await;
    let bid = crm::add_business(&app, "מספרה", "+97231234567").await;
    let uid = crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    (app, bid, uid)
}

async fn login_raw(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

/// The `name=value` of a Set-Cookie header, and the whole header.
fn set_cookie(r: &reqwest::Response, name: &str) -> (String, String) {
    let header = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie"));
    let pair = header.split(';').next().unwrap().to_string();
    (pair, header)
}

async fn no_token_is_401(backend: Backend) {
    let (app, _, _) = app_with_owner(backend).await;
    for path in ["/api/customers", "/api/auth/me", "/api/calls", "/api/users"] {
        let (s, v) = crm::call(&app, Method::GET, path, None, None).await;
        assert_eq!(s, 401, "{path}");
        assert_eq!(crm::error_code(&v), "unauthorized");
    }
    let (s, _) = crm::call(&app, Method::GET, "/api/customers", Some("garbage"), None).await;
    assert_eq!(s, 401);
    let (s, _) = crm::call(&app, Method::GET, "/api/customers", Some("mk_nope"), None).await;
    assert_eq!(s, 401);
}
dual_test!(no_token_is_401);

async fn login_issues_cookie_and_jwt(backend: Backend) {
    let (app, bid, uid) = app_with_owner(backend).await;
    let r = login_raw(&app, "Owner@Example.com ", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let (session, header) = set_cookie(&r, "mokdan_session");
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Lax"),
        "{header}"
    );
    assert!(
        !header.contains("Secure"),
        "no Secure flag in development: {header}"
    );
    let (csrf, csrf_header) = set_cookie(&r, "mokdan_csrf");
    assert!(
        !csrf_header.contains("HttpOnly"),
        "the app must read the CSRF cookie"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["user"],
        json!({ "id": uid, "email": "owner@example.com", "role": "owner", "business_id": bid })
    );
    assert_eq!(body["expires_in"], 900);
    assert_eq!(
        csrf,
        format!("mokdan_csrf={}", body["csrf_token"].as_str().unwrap())
    );
    // The session token is stored hashed, never as sent.
    let raw = session.trim_start_matches("mokdan_session=");
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM sessions")
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].0, raw);
    assert_eq!(stored[0].0, mokdan::auth::token_digest(raw));

    // The JWT works as a bearer token and names the caller.
    let token = body["token"].as_str().unwrap();
    let claims = jwt::decode(SECRET, token, mokdan::store::now_ms() / 1000).unwrap();
    assert!(claims.exp - claims.iat <= 15 * 60);
    let (s, me) = crm::get(&app, "/api/auth/me", token).await;
    assert_eq!(s, 200);
    assert_eq!(me["auth"], "jwt");
    assert_eq!(me["user"]["email"], "owner@example.com");
    assert!(!me.to_string().contains("argon2"), "no hash in answers");

    // The cookie works for reads.
    let r = app
        .http
        .get(app.url("/api/auth/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["auth"], "session");
}
dual_test!(login_issues_cookie_and_jwt);

async fn production_cookies_are_secure(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("MOKDAN_ENV", "production"),
            ("JWT_SECRET", SECRET),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_ACCOUNT_SID", common::twilio::ACCOUNT_SID),
            ("PUBLIC_BASE_URL", "https://calls.example.com"),
        ],
    )
    .await;
    crm::add_user(&app, "ops@example.com", Role::Operator, None).await;
    let r = login_raw(&app, "ops@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    for name in ["mokdan_session", "mokdan_csrf"] {
        let (_, header) = set_cookie(&r, name);
        assert!(header.contains("; Secure"), "{header}");
    }
}
dual_test!(production_cookies_are_secure);

async fn expired_and_forged_jwts_are_401(backend: Backend) {
    let (app, bid, uid) = app_with_owner(backend).await;
    let good = crm::login(&app, "owner@example.com").await;
    let claims = jwt::decode(SECRET, &good, mokdan::store::now_ms() / 1000).unwrap();
    let now = mokdan::store::now_ms() / 1000;
    let expired = jwt::encode(
        SECRET,
        &jwt::Claims {
            iat: now - 3600,
            exp: now - 60,
            ..claims.clone()
        },
    );
    let wrong_key = jwt::encode("another-secret-entirely", &claims);
    // A valid signature over a made-up session is no good either.
    let no_session = jwt::encode(
        SECRET,
        &jwt::Claims {
            sid: 9999,
            ..claims.clone()
        },
    );
    // Claims edited to another user under the original signature.
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let edited = jwt::encode(
        SECRET,
        &jwt::Claims {
            sub: uid + 1,
            role: "operator".into(),
            bid: None,
            ..claims.clone()
        },
    );
    parts[1] = edited.split('.').nth(1).unwrap().to_string();
    let tampered = parts.join(".");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let alg_none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        good.split('.').nth(1).unwrap()
    );
    for (what, token) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("unknown session", no_session),
        ("tampered claims", tampered),
        ("alg none", alg_none),
    ] {
        let (s, v) = crm::get(&app, "/api/customers", &token).await;
        assert_eq!(s, 401, "{what}: {v}");
        assert_eq!(crm::error_code(&v), "unauthorized");
    }
    let (s, _) = crm::get(&app, &format!("/api/businesses/{bid}"), &good).await;
    assert_eq!(s, 200, "the genuine token still works");
}
dual_test!(expired_and_forged_jwts_are_401);

async fn logout_revokes_the_session_and_its_jwts(backend: Backend) {
    let (app, _, _) = app_with_owner(backend).await;
    let r = login_raw(&app, "owner@example.com", PASSWORD).await;
    let (session, _) = set_cookie(&r, "mokdan_session");
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let other = crm::login(&app, "owner@example.com").await;

    let r = app
        .http
        .post(app.url("/api/auth/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cleared = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("mokdan_session=;"));
    assert!(cleared, "logout clears the cookie");

    let r = app
        .http
        .get(app.url("/api/auth/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "revoked session cookie");
    let (s, _) = crm::get(&app, "/api/auth/me", &token).await;
    assert_eq!(s, 401, "a JWT of the revoked session");
    let (s, _) = crm::get(&app, "/api/auth/me", &other).await;
    assert_eq!(s, 200, "another session is untouched");

    // Logging out with a bearer JWT revokes that session too.
    let (s, _) = crm::call(&app, Method::POST, "/api/auth/logout", Some(&other), None).await;
    assert_eq!(s, 204);
    let (s, _) = crm::get(&app, "/api/auth/me", &other).await;
    assert_eq!(s, 401);
}
dual_test!(logout_revokes_the_session_and_its_jwts);

async fn cookie_writes_need_csrf_proof(backend: Backend) {
    let (app, _, _) = app_with_owner(backend).await;
    let r = login_raw(&app, "owner@example.com", PASSWORD).await;
    let (session, _) = set_cookie(&r, "mokdan_session");
    let (csrf_cookie, _) = set_cookie(&r, "mokdan_csrf");
    let body: Value = r.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap();
    let both = format!("{session}; {csrf_cookie}");
    let send = |headers: Vec<(&'static str, String)>, phone: &'static str| {
        let mut req = app
            .http
            .post(app.url("/api/customers"))
            .header("cookie", &both)
            .json(&json!({ "phone": phone }));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let r = send(vec![], "050-1000001").await.unwrap();
    assert_eq!(r.status(), 403, "no CSRF proof");
    let r = send(vec![("x-csrf-token", "0".repeat(32))], "050-1000001")
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a wrong CSRF token");
    let r = send(
        vec![("origin", "https://evil.example".into())],
        "050-1000001",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403, "a foreign Origin");
    let r = send(vec![("x-csrf-token", csrf.to_string())], "050-1000001")
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the double-submitted token");
    let r = send(vec![("origin", app.base.clone())], "050-1000002")
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "same-origin Origin");
    let r = send(
        vec![("referer", format!("{}/app/biz/customers", app.base))],
        "050-1000003",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201, "same-origin Referer");
    // Bearer requests need none.
    let token = body["token"].as_str().unwrap();
    let (s, _) = crm::post(
        &app,
        "/api/customers",
        token,
        json!({ "phone": "050-1000004" }),
    )
    .await;
    assert_eq!(s, 201);
    // Reads with the cookie need none.
    let r = app
        .http
        .get(app.url("/api/customers"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
dual_test!(cookie_writes_need_csrf_proof);

async fn unknown_email_and_wrong_password_look_the_same(backend: Backend) {
    let (app, _, _) = app_with_owner(backend).await;
    let a = login_raw(&app, "owner@example.com", "wrong-password").await;
    let b = login_raw(&app, "nobody@example.com", "wrong-password").await;
    assert_eq!(a.status(), 401);
    assert_eq!(a.status(), b.status());
    assert!(a.headers().get("set-cookie").is_none());
    let (ta, tb) = (a.text().await.unwrap(), b.text().await.unwrap());
    assert_eq!(ta, tb, "identical bodies");
    let v: Value = serde_json::from_str(&ta).unwrap();
    assert_eq!(crm::error_code(&v), "unauthorized");
}
dual_test!(unknown_email_and_wrong_password_look_the_same);

async fn login_is_rate_limited_per_account_and_per_ip(backend: Backend) {
    let (app, _, _) = app_with_owner(backend).await;
    // Per account: 5 failures in a minute, then even the right password waits.
    for _ in 0..5 {
        assert_eq!(
            login_raw(&app, "owner@example.com", "nope-nope")
                .await
                .status(),
            401
        );
    }
    let r = login_raw(&app, "owner@example.com", PASSWORD).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(crm::error_code(&v), "rate_limited");
    // An unknown account is limited the same way (nothing tells them apart).
    for _ in 0..3 {
        assert_eq!(
            login_raw(&app, "ghost@example.com", "x-x-x-x-x")
                .await
                .status(),
            401
        );
    }
    // Per IP: the 11th attempt in a minute from one address is refused, whatever the account.
    let r = login_raw(&app, "someone-else@example.com", "whatever1").await;
    assert_eq!(r.status(), 401, "attempt 10 from this IP");
    let r = login_raw(&app, "another@example.com", "whatever1").await;
    assert_eq!(r.status(), 429, "attempt 11 from this IP");
    assert!(r.headers().contains_key("retry-after"));
    // Behind the local TLS proxy, each client address has its own window.
    let r = app
        .http
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "1.2.3.4, 198.51.100.7")
        .json(&json!({ "email": "another@example.com", "password": "whatever1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "another client behind the proxy");
}
dual_test!(login_is_rate_limited_per_account_and_per_ip);

async fn agents_cannot_do_owners_work(backend: Backend) {
    let (app, bid, _) = app_with_owner(backend).await;
    crm::add_user(&app, "agent@example.com", Role::Agent, Some(bid)).await;
    let agent = crm::login(&app, "agent@example.com").await;
    let owner = crm::login(&app, "owner@example.com").await;
    let (_, c) = crm::post(
        &app,
        "/api/customers",
        &agent,
        json!({ "phone": "050-7777777" }),
    )
    .await;
    let cid = c["id"].as_i64().expect("agents work leads");
    let (s, _) = crm::patch(
        &app,
        &format!("/api/customers/{cid}"),
        &agent,
        json!({"status": "won"}),
    )
    .await;
    assert_eq!(s, 200, "agents update leads");
    for (what, method, path, body) in [
        (
            "add a user",
            Method::POST,
            "/api/users".to_string(),
            Some(json!({ "email": "x@example.com", "password": "long-enough", "role": "agent" })),
        ),
        (
            "change settings",
            Method::PATCH,
            format!("/api/businesses/{bid}"),
            Some(json!({ "greeting": "hi" })),
        ),
        (
            "delete a customer",
            Method::DELETE,
            format!("/api/customers/{cid}"),
            None,
        ),
        (
            "create an API token",
            Method::POST,
            "/api/tokens".to_string(),
            Some(json!({ "name": "t" })),
        ),
        (
            "read the audit log",
            Method::GET,
            "/api/audit".to_string(),
            None,
        ),
        (
            "list businesses",
            Method::GET,
            "/api/businesses".to_string(),
            None,
        ),
    ] {
        let (s, v) = crm::call(&app, method.clone(), &path, Some(&agent), body.clone()).await;
        assert_eq!(s, 403, "an agent may not {what}: {v}");
        assert_eq!(crm::error_code(&v), "forbidden");
        if what != "list businesses" {
            let (s, v) = crm::call(&app, method, &path, Some(&owner), body).await;
            assert!((200..300).contains(&s), "an owner may {what}: {s} {v}");
        }
    }
    // Owners cannot make operators.
    let (s, _) = crm::post(
        &app,
        "/api/users",
        &owner,
        json!({ "email": "op2@example.com", "password": "long-enough", "role": "operator" }),
    )
    .await;
    assert_eq!(s, 403);
}
dual_test!(agents_cannot_do_owners_work);

async fn api_tokens_are_shown_once_and_revocable(backend: Backend) {
    let (app, bid, _) = app_with_owner(backend).await;
    let owner = crm::login(&app, "owner@example.com").await;
    let (s, t) = crm::post(&app, "/api/tokens", &owner, json!({ "name": "crm sync" })).await;
    assert_eq!(s, 201);
    let secret = t["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("mk_") && secret.len() > 40);
    let (_, list) = crm::get(&app, "/api/tokens", &owner).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret), "never listed again");
    let stored: (String,) = sqlx::query_as("SELECT token_hash FROM api_tokens")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_ne!(stored.0, secret);

    let (s, me) = crm::get(&app, "/api/auth/me", &secret).await;
    assert_eq!(s, 200);
    assert_eq!(me["auth"], "api_token");
    assert_eq!(me["business_id"], bid);
    let (s, _) = crm::post(
        &app,
        "/api/customers",
        &secret,
        json!({ "phone": "050-5555555" }),
    )
    .await;
    assert_eq!(s, 201, "a token works leads");
    let (s, _) = crm::post(&app, "/api/tokens", &secret, json!({ "name": "more" })).await;
    assert_eq!(s, 403, "a token cannot mint tokens");

    let id = t["id"].as_i64().unwrap();
    let (s, _) = crm::delete(&app, &format!("/api/tokens/{id}"), &owner).await;
    assert_eq!(s, 204);
    let (s, _) = crm::get(&app, "/api/customers", &secret).await;
    assert_eq!(s, 401, "a revoked token");
    let (s, _) = crm::delete(&app, &format!("/api/tokens/{id}"), &owner).await;
    assert_eq!(s, 404);
}
dual_test!(api_tokens_are_shown_once_and_revocable);

async fn password_change_signs_the_user_out(backend: Backend) {
    let (app, bid, _) = app_with_owner(backend).await;
    let agent_id = crm::add_user(&app, "agent@example.com", Role::Agent, Some(bid)).await;
    let agent = crm::login(&app, "agent@example.com").await;
    let owner = crm::login(&app, "owner@example.com").await;
    let (s, _) = crm::patch(
        &app,
        &format!("/api/users/{agent_id}"),
        &owner,
        json!({ "password": "a-brand-new-one" }),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = crm::get(&app, "/api/auth/me", &agent).await;
    assert_eq!(s, 401);
    assert_eq!(
        login_raw(&app, "agent@example.com", "a-brand-new-one")
            .await
            .status(),
        200
    );
}
dual_test!(password_change_signs_the_user_out);

/// `mokdan user set-password` resets a password from standard input and signs the user out.
#[test]
fn cli_set_password_resets_and_revokes() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cli.db", dir.path().display());
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mokdan"))
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &url)
            .env("MOKDAN_DATA_DIR", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(
        &[
            "user",
            "add",
            "--email",
            "ops@example.com",
            "--role",
            "operator",
        ],
        "first-password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &["user", "set-password", "--email", "ops@example.com"],
        "second-password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &["user", "set-password", "--email", "nobody@example.com"],
        "second-password\n",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--email"));
    let out = run(
        &["user", "set-password", "--email", "ops@example.com"],
        "short\n",
    );
    assert!(!out.status.success());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = mokdan::store::Db::open(&url).await.unwrap();
        let u = mokdan::store::users::by_email(&db, "ops@example.com")
            .await
            .unwrap()
            .unwrap();
        assert!(mokdan::auth::verify_password(
            "second-password",
            &u.password_hash
        ));
        assert!(!mokdan::auth::verify_password(
            "first-password",
            &u.password_hash
        ));
    });
}

async fn login_via(app: &TestApp, forwarded: &str, email: &str, password: &str) -> u16 {
    app.http
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn last_session_ip(app: &TestApp) -> String {
    let (ip,): (Option<String>,) =
        sqlx::query_as("SELECT ip FROM sessions ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    ip.unwrap()
}

/// Behind a trusted proxy (here the test client stands for nginx on another host, and
/// 10.0.0.0/8 for a load balancer in front of it), the client is the right-most forwarded
/// address that is not a proxy; what the client wrote to its left is not believed; and
/// each client has its own login budget (#16.3).
async fn forwarded_for_is_believed_from_trusted_proxies(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("JWT_SECRET", SECRET),
            ("MOKDAN_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8"),
        ],
    )
    .await;
    let bid = crm::add_business(&app, "מספרה", "+97231234567").await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    let chain = "6.6.6.6, 203.0.113.9, 10.1.2.3";
    assert_eq!(
        login_via(&app, chain, "owner@example.com", PASSWORD).await,
        200
    );
    assert_eq!(last_session_ip(&app).await, "203.0.113.9");
    for i in 0..10 {
        let email = format!("x{i}@example.com");
        assert_eq!(
            login_via(&app, "198.51.100.1", &email, "wrong-1").await,
            401
        );
    }
    assert_eq!(
        login_via(&app, "198.51.100.1", "y@example.com", "wrong-1").await,
        429,
        "the 11th attempt from one client"
    );
    assert_eq!(
        login_via(&app, "198.51.100.2", "z@example.com", "wrong-1").await,
        401,
        "another client behind the same proxy has its own budget"
    );
    assert_eq!(
        login_via(&app, "6.6.6.6, 198.51.100.2", "owner@example.com", PASSWORD).await,
        200
    );
    assert_eq!(last_session_ip(&app).await, "198.51.100.2");
    app.shutdown().await.unwrap();
}
dual_test!(forwarded_for_is_believed_from_trusted_proxies);

/// A forwarder that is not a trusted proxy (here the test client, once
/// `MOKDAN_TRUSTED_PROXIES` names only another network) cannot choose its address: its
/// `X-Forwarded-For` is ignored, and every attempt counts against its own (#16.3).
async fn forwarded_for_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("JWT_SECRET", SECRET),
            ("MOKDAN_TRUSTED_PROXIES", "10.0.0.0/8"),
        ],
    )
    .await;
    let bid = crm::add_business(&app, "מספרה", "+97231234567").await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    assert_eq!(
        login_via(&app, "203.0.113.9", "owner@example.com", PASSWORD).await,
        200
    );
    assert_eq!(last_session_ip(&app).await, "127.0.0.1");
    for i in 0..9 {
        assert_eq!(
            login_via(
                &app,
                &format!("198.51.100.{i}"),
                &format!("x{i}@example.com"),
                "wrong-1"
            )
            .await,
            401
        );
    }
    assert_eq!(
        login_via(&app, "198.51.100.77", "y@example.com", "wrong-1").await,
        429,
        "a fresh forwarded address does not buy a fresh budget"
    );
    app.shutdown().await.unwrap();
}
dual_test!(forwarded_for_from_an_untrusted_peer_is_ignored);

/// An attacker guessing one account's password from one address cannot lock its owner
/// out: the owner signs in again from the address they used before, or from a new one with
/// the browser that signed in before; a client the account has never seen still waits
/// (#16.4).
async fn the_owner_signs_in_while_an_attacker_guesses(backend: Backend) {
    let (app, _, _) = app_with_owner(backend).await;
    let login = |forwarded: &'static str, password: &'static str, device: Option<String>| {
        let app = &app;
        async move {
            let mut req = app
                .http
                .post(app.url("/api/auth/login"))
                .header("x-forwarded-for", forwarded)
                .json(&json!({ "email": "owner@example.com", "password": password }));
            if let Some(d) = device {
                req = req.header("cookie", d);
            }
            req.send().await.unwrap()
        }
    };
    // The owner signed in yesterday, say, from the office.
    let r = login("203.0.113.10", PASSWORD, None).await;
    assert_eq!(r.status(), 200);
    let (device, header) = set_cookie(&r, "mokdan_device");
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("Path=/api/auth"), "{header}");
    // The attacker guesses until the account's limit refuses them.
    for i in 0..5 {
        let guess: &'static str = ["guess-0", "guess-1", "guess-2", "guess-3", "guess-4"][i];
        assert_eq!(login("198.51.100.66", guess, None).await.status(), 401);
    }
    assert_eq!(login("198.51.100.66", "guess-5", None).await.status(), 429);
    assert_eq!(
        login("198.51.100.66", PASSWORD, None).await.status(),
        429,
        "the guesser is not told when a guess is right"
    );
    // The owner, meanwhile: from the office, and from a phone's new address with the
    // browser that signed in before.
    assert_eq!(login("203.0.113.10", PASSWORD, None).await.status(), 200);
    assert_eq!(
        login("192.0.2.44", PASSWORD, Some(device.clone()))
            .await
            .status(),
        200
    );
    // A stranger (no earlier sign-in, no device cookie) still waits: the limit still guards
    // the account against guesses spread over many addresses.
    assert_eq!(login("192.0.2.45", PASSWORD, None).await.status(), 429);
    // A forged or another account's device cookie is no key.
    assert_eq!(
        login("192.0.2.46", PASSWORD, Some("mokdan_device=1.abc".into()))
            .await
            .status(),
        429
    );
    app.shutdown().await.unwrap();
}
dual_test!(the_owner_signs_in_while_an_attacker_guesses);

/// An API token lives only as long as its creator's right to make it: demoting the owner
/// who made it, or removing them, stops it at once; an operator's token goes on. A token's
/// writes are audited with the token's id (#16.7).
async fn api_tokens_end_with_their_creators_rights(backend: Backend) {
    let (app, bid, _) = app_with_owner(backend).await;
    let owner = crm::login(&app, "owner@example.com").await;
    let second = crm::add_user(&app, "second@example.com", Role::Owner, Some(bid)).await;
    let third = crm::add_user(&app, "third@example.com", Role::Owner, Some(bid)).await;
    crm::add_user(&app, "ops@example.com", Role::Operator, None).await;
    let ops = crm::login(&app, "ops@example.com").await;
    let token_of = |who: String, path: String| {
        let app = &app;
        async move {
            let (s, t) = crm::post(app, &path, &who, json!({ "name": "sync" })).await;
            assert_eq!(s, 201, "{t}");
            (
                t["token"].as_str().unwrap().to_string(),
                t["id"].as_i64().unwrap(),
            )
        }
    };
    let (mine, mine_id) = token_of(owner.clone(), "/api/tokens".into()).await;
    let second_login = crm::login(&app, "second@example.com").await;
    let (demoted, _) = token_of(second_login, "/api/tokens".into()).await;
    let third_login = crm::login(&app, "third@example.com").await;
    let (removed, _) = token_of(third_login, "/api/tokens".into()).await;
    let (operators, _) = token_of(ops.clone(), format!("/api/tokens?business_id={bid}")).await;
    for t in [&mine, &demoted, &removed, &operators] {
        assert_eq!(crm::get(&app, "/api/customers", t).await.0, 200);
    }

    // A write through a token names the token in the audit log.
    let (s, c) = crm::post(
        &app,
        "/api/customers",
        &mine,
        json!({ "phone": "050-5555555" }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let (s, log) = crm::get(&app, "/api/audit", &owner).await;
    assert_eq!(s, 200);
    let row = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entity"] == "customer" && r["entity_id"] == c["id"])
        .cloned()
        .expect("an audit row for the token's write");
    assert_eq!(row["actor_token_id"], mine_id, "{row}");

    // The second owner becomes an agent; the third is removed.
    let (s, _) = crm::patch(
        &app,
        &format!("/api/users/{second}"),
        &owner,
        json!({ "role": "agent" }),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = crm::delete(&app, &format!("/api/users/{third}"), &owner).await;
    assert_eq!(s, 204);
    assert_eq!(
        crm::get(&app, "/api/customers", &demoted).await.0,
        401,
        "creator demoted"
    );
    assert_eq!(
        crm::get(&app, "/api/customers", &removed).await.0,
        401,
        "creator removed"
    );
    assert_eq!(crm::get(&app, "/api/customers", &mine).await.0, 200);
    assert_eq!(
        crm::get(&app, "/api/customers", &operators).await.0,
        200,
        "an operator's token"
    );
}
dual_test!(api_tokens_end_with_their_creators_rights);
