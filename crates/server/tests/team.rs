//! A business's team without the command line (#20, C3), black-box over HTTP on both
//! databases: an owner invites by e-mail and the invitee signs in through the one-time
//! link; expired and used links are refused; a disabled user is refused at once, their
//! open session included; a business keeps one enabled owner; another business can neither
//! invite into nor disable users of this one; a reset link works once; one's own password
//! takes the current one; the invitation reaches a real SMTP server with its link; and the
//! web app's team page and link pages do the same in Hebrew.

mod common;

use common::crm::{self, PASSWORD, add_business, add_user, error_code, login, post};
use common::smtp::SmtpSink;
use common::{Backend, TestApp, wait_for};
use mokdan::store::users::Role;
use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "שלום-עולם-2026";

struct Team {
    app: TestApp,
    biz_a: i64,
    owner_a: String,
    owner_a_id: i64,
    agent_a: String,
    agent_a_id: i64,
    owner_b: String,
    operator: String,
}

async fn team(backend: Backend, vars: &[(&str, &str)]) -> Team {
    let app = TestApp::spawn_with(backend, vars).await;
    let biz_a = add_business(&app, "מרפאת כהן", "+97231111111").await;
    let biz_b = add_business(&app, "מוסך לוי", "+97232222222").await;
    let owner_a_id = add_user(&app, "owner@a.test", Role::Owner, Some(biz_a)).await;
    let agent_a_id = add_user(&app, "agent@a.test", Role::Agent, Some(biz_a)).await;
    add_user(&app, "owner@b.test", Role::Owner, Some(biz_b)).await;
    add_user(&app, "ops@mokdan.test", Role::Operator, None).await;
    Team {
        owner_a: login(&app, "owner@a.test").await,
        agent_a: login(&app, "agent@a.test").await,
        owner_b: login(&app, "owner@b.test").await,
        operator: login(&app, "ops@mokdan.test").await,
        app,
        biz_a,
        owner_a_id,
        agent_a_id,
    }
}

fn token_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}

async fn public(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    crm::call(app, Method::POST, path, None, Some(body)).await
}

async fn try_login(app: &TestApp, email: &str, password: &str) -> u16 {
    public(
        app,
        "/api/auth/login",
        json!({ "email": email, "password": password }),
    )
    .await
    .0
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn is_hebrew(s: &str) -> bool {
    s.chars().any(|c| ('\u{05d0}'..='\u{05ea}').contains(&c))
}

async fn audit_actions(t: &Team) -> Vec<String> {
    let (s, body) = crm::get(
        &t.app,
        &format!("/api/audit?business_id={}&per_page=100", t.biz_a),
        &t.operator,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    body["items"]
        .as_array()
        .or_else(|| body["data"].as_array())
        .unwrap_or_else(|| panic!("audit page: {body}"))
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["entity"].as_str().unwrap(),
                r["action"].as_str().unwrap()
            )
        })
        .collect()
}

/// Invite → accept (name and password) → signed in, and the password signs in later; the
/// link works once; weak passwords and bad e-mails are refused in Hebrew on their field.
async fn an_invitation_signs_the_new_user_in_once(backend: Backend) {
    let t = team(backend, &[]).await;
    let app = &t.app;
    let (s, body) = post(
        app,
        "/api/users/invitations",
        &t.owner_a,
        json!({ "email": "not-an-email", "role": "agent" }),
    )
    .await;
    assert_eq!((s, error_code(&body)), (422, "invalid"), "{body}");
    assert!(
        message(&body).starts_with("email: ") && is_hebrew(&message(&body)),
        "{body}"
    );
    let (s, body) = post(
        app,
        "/api/users/invitations",
        &t.owner_a,
        json!({ "email": "agent@a.test", "role": "agent" }),
    )
    .await;
    assert_eq!(s, 409, "an existing user of the business: {body}");

    let (s, inv) = post(
        app,
        "/api/users/invitations",
        &t.owner_a,
        json!({ "email": "Dana@A.test", "role": "agent" }),
    )
    .await;
    assert_eq!(s, 201, "{inv}");
    assert_eq!(inv["email"], "dana@a.test");
    assert_eq!(inv["emailed"], false, "no SMTP configured: {inv}");
    let url = inv["url"].as_str().unwrap();
    assert!(url.contains("/app/invite/"), "{url}");
    let token = token_of(url);
    assert_eq!(token.len(), 64);
    assert!(
        inv["expires_at"].as_i64().unwrap() - inv["created_at"].as_i64().unwrap()
            >= 72 * 3600 * 1000 - 1000
    );

    // The link's page is a Hebrew form naming the address.
    let page = app
        .http
        .get(app.url(&format!("/app/invite/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("dana@a.test") && html.contains("הצטרפות לצוות"),
        "{html}"
    );

    for (weak, why) in [
        ("short1", "קצרה"),
        ("onlyletterslong", "ספרה"),
        ("dana@a.test", ""),
    ] {
        let (s, body) = public(
            app,
            "/api/invitations/accept",
            json!({ "token": token, "name": "דנה", "password": weak }),
        )
        .await;
        assert_eq!(s, 422, "{weak}: {body}");
        let m = message(&body);
        assert!(
            m.starts_with("password: ") && is_hebrew(&m) && m.contains(why),
            "{weak}: {m}"
        );
    }
    let (s, body) = public(
        app,
        "/api/invitations/accept",
        json!({ "token": token, "name": "  ", "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 422);
    assert!(message(&body).starts_with("name: "), "{body}");

    let (s, body) = public(
        app,
        "/api/invitations/accept",
        json!({ "token": token, "name": "דנה כהן", "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let jwt = body["token"].as_str().unwrap();
    let (s, me) = crm::get(app, "/api/auth/me", jwt).await;
    assert_eq!(s, 200);
    assert_eq!(me["role"], "agent");
    assert_eq!(me["business_id"], t.biz_a);
    assert_eq!(me["user"]["name"], "דנה כהן");
    assert_eq!(try_login(app, "dana@a.test", NEW_PASSWORD).await, 200);

    // Used: refused, on the API and on the page.
    let (s, body) = public(
        app,
        "/api/invitations/accept",
        json!({ "token": token, "name": "אחר", "password": "another-pass-99" }),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(message(&body).starts_with("token: "), "{body}");
    let page = app
        .http
        .get(app.url(&format!("/app/invite/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 410);
    assert!(page.text().await.unwrap().contains("הקישור אינו בתוקף"));
    assert_eq!(try_login(app, "dana@a.test", "another-pass-99").await, 401);

    let actions = audit_actions(&t).await;
    assert!(
        actions.contains(&"invitation:create".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"user:accept_invitation".to_string()),
        "{actions:?}"
    );
    t.app.shutdown().await.unwrap();
}
dual_test!(an_invitation_signs_the_new_user_in_once);

/// An expired invitation (and an unknown one) is refused.
async fn an_expired_invitation_is_refused(backend: Backend) {
    let t = team(backend, &[]).await;
    let app = &t.app;
    let (s, inv) = post(
        app,
        "/api/users/invitations",
        &t.owner_a,
        json!({ "email": "late@a.test", "role": "owner" }),
    )
    .await;
    assert_eq!(s, 201, "{inv}");
    sqlx::query("UPDATE user_links SET expires_at = $1 WHERE id = $2")
        .bind(mokdan::store::now_ms() - 1)
        .bind(inv["id"].as_i64().unwrap())
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let token = token_of(inv["url"].as_str().unwrap());
    let (s, body) = public(
        app,
        "/api/invitations/accept",
        json!({ "token": token, "name": "מאוחר", "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(message(&body).starts_with("token: ") && is_hebrew(&message(&body)));
    let (s, _) = public(
        app,
        "/api/invitations/accept",
        json!({ "token": "00".repeat(32), "name": "x", "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(try_login(app, "late@a.test", NEW_PASSWORD).await, 401);
    t.app.shutdown().await.unwrap();
}
dual_test!(an_expired_invitation_is_refused);

/// Disabling ends the user's open session and API access at once and refuses their
/// sign-in; enabling lets them in again. No one disables themself or the last owner.
async fn a_disabled_user_is_refused_at_once(backend: Backend) {
    let t = team(backend, &[]).await;
    let app = &t.app;
    // The agent's cookie session, as the web app holds it.
    let signin = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": "agent@a.test", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(header::ORIGIN, HeaderValue::from_str(&app.base).unwrap());
    let browser = common::web::signed_in(headers, &signin);
    let page = browser.get(app.url("/app/biz")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(crm::get(app, "/api/customers", &t.agent_a).await.0, 200);

    let (s, user) = post(
        app,
        &format!("/api/users/{}/disable", t.agent_a_id),
        &t.owner_a,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{user}");
    assert!(user["disabled_at"].is_i64(), "{user}");
    // At once: the JWT, the cookie session and a new sign-in are all refused.
    assert_eq!(crm::get(app, "/api/customers", &t.agent_a).await.0, 401);
    let page = browser.get(app.url("/app/biz")).send().await.unwrap();
    assert_eq!(page.status(), 303, "the web app sends them to sign in");
    assert_eq!(try_login(app, "agent@a.test", PASSWORD).await, 401);

    let (s, _) = post(
        app,
        &format!("/api/users/{}/enable", t.agent_a_id),
        &t.owner_a,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(try_login(app, "agent@a.test", PASSWORD).await, 200);
    // The old session stays ended.
    assert_eq!(crm::get(app, "/api/customers", &t.agent_a).await.0, 401);

    // Not oneself; not the last enabled owner (even by an operator); nor demoted.
    let (s, body) = post(
        app,
        &format!("/api/users/{}/disable", t.owner_a_id),
        &t.owner_a,
        json!({}),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(is_hebrew(&message(&body)));
    let (s, body) = post(
        app,
        &format!(
            "/api/users/{}/disable?business_id={}",
            t.owner_a_id, t.biz_a
        ),
        &t.operator,
        json!({}),
    )
    .await;
    assert_eq!(s, 422, "the last owner: {body}");
    assert!(message(&body).contains("האחרון"), "{body}");
    let (s, body) = crm::patch(
        app,
        &format!("/api/users/{}?business_id={}", t.owner_a_id, t.biz_a),
        &t.operator,
        json!({ "role": "agent" }),
    )
    .await;
    assert_eq!(s, 422, "demoting the last owner: {body}");
    // With a second owner, the first may go.
    let second = add_user(app, "owner2@a.test", Role::Owner, Some(t.biz_a)).await;
    let owner2 = login(app, "owner2@a.test").await;
    let (s, body) = post(
        app,
        &format!("/api/users/{}/disable", t.owner_a_id),
        &owner2,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(crm::get(app, "/api/users", &t.owner_a).await.0, 401);
    // And now the second is the last one.
    let (s, _) = post(
        app,
        &format!("/api/users/{second}/disable?business_id={}", t.biz_a),
        &t.operator,
        json!({}),
    )
    .await;
    assert_eq!(s, 422);

    let actions = audit_actions(&t).await;
    for a in ["user:disable", "user:enable"] {
        assert!(actions.contains(&a.to_string()), "{a}: {actions:?}");
    }
    t.app.shutdown().await.unwrap();
}
dual_test!(a_disabled_user_is_refused_at_once);

/// Another business's owner can neither invite into this one nor touch its users; an agent
/// cannot invite.
async fn another_business_cannot_manage_this_team(backend: Backend) {
    let t = team(backend, &[]).await;
    let app = &t.app;
    let (s, body) = post(
        app,
        &format!("/api/users/invitations?business_id={}", t.biz_a),
        &t.owner_b,
        json!({ "email": "spy@b.test", "role": "owner" }),
    )
    .await;
    assert_eq!(s, 404, "{body}");
    for action in ["disable", "enable", "password-reset"] {
        let (s, body) = post(
            app,
            &format!("/api/users/{}/{action}", t.agent_a_id),
            &t.owner_b,
            json!({}),
        )
        .await;
        assert_eq!(s, 404, "{action}: {body}");
    }
    let (s, _) = post(
        app,
        "/api/users/invitations",
        &t.agent_a,
        json!({ "email": "x@a.test", "role": "agent" }),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = post(
        app,
        &format!("/api/users/{}/disable", t.owner_a_id),
        &t.agent_a,
        json!({}),
    )
    .await;
    assert_eq!(s, 403);
    // An invitation to an address of another business says nothing about it.
    let (s, body) = post(
        app,
        "/api/users/invitations",
        &t.owner_a,
        json!({ "email": "owner@b.test", "role": "agent" }),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert!(!message(&body).contains("כבר יש"), "{body}");
    assert_eq!(
        try_login(app, "agent@a.test", PASSWORD).await,
        200,
        "still enabled"
    );
    t.app.shutdown().await.unwrap();
}
dual_test!(another_business_cannot_manage_this_team);

/// A reset link sets a new password once, ends the user's sessions and signs them in.
async fn a_reset_link_works_once(backend: Backend) {
    let t = team(backend, &[]).await;
    let app = &t.app;
    let (s, first) = post(
        app,
        &format!("/api/users/{}/password-reset", t.agent_a_id),
        &t.owner_a,
        json!({}),
    )
    .await;
    assert_eq!(s, 201, "{first}");
    let (s, link) = post(
        app,
        &format!("/api/users/{}/password-reset", t.agent_a_id),
        &t.owner_a,
        json!({}),
    )
    .await;
    assert_eq!(s, 201);
    // A newer link replaces the first.
    let (s, _) = public(
        app,
        "/api/password-resets/accept",
        json!({ "token": token_of(first["url"].as_str().unwrap()), "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 422);
    let token = token_of(link["url"].as_str().unwrap());
    let (s, body) = public(
        app,
        "/api/password-resets/accept",
        json!({ "token": token, "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["token"].is_string());
    assert_eq!(
        crm::get(app, "/api/customers", &t.agent_a).await.0,
        401,
        "old sessions end"
    );
    assert_eq!(try_login(app, "agent@a.test", PASSWORD).await, 401);
    assert_eq!(try_login(app, "agent@a.test", NEW_PASSWORD).await, 200);
    let (s, body) = public(
        app,
        "/api/password-resets/accept",
        json!({ "token": token, "password": "yet-another-pass-1" }),
    )
    .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(
        try_login(app, "agent@a.test", "yet-another-pass-1").await,
        401
    );
    // An invitation's token is not a reset token, nor the reverse.
    let (s, inv) = post(
        app,
        "/api/users/invitations",
        &t.owner_a,
        json!({ "email": "kind@a.test", "role": "agent" }),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) = public(
        app,
        "/api/password-resets/accept",
        json!({ "token": token_of(inv["url"].as_str().unwrap()), "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 422);
    assert!(
        audit_actions(&t)
            .await
            .contains(&"user:password_reset".to_string())
    );
    t.app.shutdown().await.unwrap();
}
dual_test!(a_reset_link_works_once);

/// One's own password: the current one is required; other sessions end.
async fn users_change_their_own_password(backend: Backend) {
    let t = team(backend, &[]).await;
    let app = &t.app;
    let other = login(app, "agent@a.test").await;
    let (s, body) = post(
        app,
        "/api/auth/password",
        &t.agent_a,
        json!({ "current_password": "wrong-one-1", "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 422);
    assert!(message(&body).starts_with("current_password: ") && is_hebrew(&message(&body)));
    let (s, body) = post(
        app,
        "/api/auth/password",
        &t.agent_a,
        json!({ "current_password": PASSWORD, "new_password": "short" }),
    )
    .await;
    assert_eq!(s, 422);
    assert!(message(&body).starts_with("new_password: "), "{body}");
    let (s, body) = post(
        app,
        "/api/auth/password",
        &t.agent_a,
        json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(
        crm::get(app, "/api/customers", &t.agent_a).await.0,
        200,
        "this session stays"
    );
    assert_eq!(
        crm::get(app, "/api/customers", &other).await.0,
        401,
        "the other ends"
    );
    assert_eq!(try_login(app, "agent@a.test", NEW_PASSWORD).await, 200);
    assert!(
        audit_actions(&t)
            .await
            .contains(&"user:password_change".to_string())
    );
    t.app.shutdown().await.unwrap();
}
dual_test!(users_change_their_own_password);

/// With SMTP configured, the invitation reaches the invitee: Hebrew subject, RTL body with
/// the link, which then works.
async fn the_invitation_is_emailed(backend: Backend) {
    let Some(smtp) = SmtpSink::start().await else {
        return;
    };
    let t = team(
        backend,
        &[
            ("SMTP_URL", &smtp.url()),
            ("SMTP_FROM", "מוקדן <noreply@mokdan.example>"),
            ("PUBLIC_BASE_URL", "https://mokdan.example"),
        ],
    )
    .await;
    let app = &t.app;
    let (s, inv) = post(
        app,
        "/api/users/invitations",
        &t.owner_a,
        json!({ "email": "mail@a.test", "role": "agent" }),
    )
    .await;
    assert_eq!(s, 201, "{inv}");
    assert_eq!(inv["emailed"], true, "{inv}");
    let url = inv["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("https://mokdan.example/app/invite/"),
        "{url}"
    );
    let m = wait_for("the invitation e-mail", 20, || async {
        smtp.messages().into_iter().next()
    })
    .await;
    assert_eq!(m["rcpt_tos"], json!(["mail@a.test"]));
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.contains("מרפאת כהן") && is_hebrew(subject),
        "{subject}"
    );
    let html = m["parts"]["text/html"].as_str().unwrap();
    assert!(
        html.contains(r#"dir="rtl""#) && html.contains(&url),
        "{html}"
    );
    assert!(m["parts"]["text/plain"].as_str().unwrap().contains(&url));
    let (s, _) = public(
        app,
        "/api/invitations/accept",
        json!({ "token": token_of(&url), "name": "מיכל", "password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(s, 200);
    t.app.shutdown().await.unwrap();
    smtp.stop().await;
}
dual_test!(the_invitation_is_emailed);

/// The web app: the owner invites from the team page, the link is shown to copy (no
/// SMTP), the invitee's form answers in Hebrew beside the field and then signs them in.
async fn the_team_page_invites_and_the_link_signs_in(backend: Backend) {
    let t = team(backend, &[]).await;
    let app = &t.app;
    let owner = {
        let login = app
            .http
            .post(app.url("/api/auth/login"))
            .json(&json!({ "email": "owner@a.test", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(&app.base).unwrap());
        common::web::signed_in(headers, &login)
    };
    let page = owner.get(app.url("/app/biz/team")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("הזמנת משתמש") && html.contains("agent@a.test"),
        "{html}"
    );
    let r = owner
        .post(app.url("/app/biz/team/invite"))
        .form(&[("email", "bad"), ("role", "agent")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("invite-email-error") && html.contains("כתובת האימייל אינה תקינה"),
        "{html}"
    );
    let r = owner
        .post(app.url("/app/biz/team/invite"))
        .form(&[("email", "web@a.test"), ("role", "agent")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let html = r.text().await.unwrap();
    let start = html
        .find("/app/invite/")
        .expect("the link is shown to copy");
    let token: String = html[start + "/app/invite/".len()..]
        .chars()
        .take(64)
        .collect();
    let path = format!("/app/invite/{token}");
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers({
            let mut h = HeaderMap::new();
            h.insert(header::ORIGIN, HeaderValue::from_str(&app.base).unwrap());
            h
        })
        .build()
        .unwrap();
    let r = anonymous
        .post(app.url(&path))
        .form(&[
            ("name", "יוסי"),
            ("password", NEW_PASSWORD),
            ("password2", "different-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("הסיסמאות אינן זהות"));
    let r = anonymous
        .post(app.url(&path))
        .form(&[
            ("name", "יוסי"),
            ("password", "short"),
            ("password2", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("link-password-error"));
    let r = anonymous
        .post(app.url(&path))
        .form(&[
            ("name", "יוסי"),
            ("password", NEW_PASSWORD),
            ("password2", NEW_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[header::LOCATION], "/app/biz");
    let invitee = common::web::signed_in(HeaderMap::new(), &r);
    let home = invitee.get(app.url("/app/biz")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("web@a.test"));

    // The owner disables them from the page: at once, their page sends them to sign in.
    let (_, users) = crm::get(app, "/api/users", &t.owner_a).await;
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "web@a.test")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = owner
        .post(app.url(&format!("/app/biz/team/{id}/disable")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        invitee
            .get(app.url("/app/biz"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    // Disabling oneself from the page: a Hebrew reason.
    let r = owner
        .post(app.url(&format!("/app/biz/team/{}/disable", t.owner_a_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("אי אפשר להשבית את עצמך"));
    t.app.shutdown().await.unwrap();
}
dual_test!(the_team_page_invites_and_the_link_signs_in);
