//! The server remembers a live session for a moment (so a request costs no extra database
//! round trip), yet every way this process ends a session or changes who its user is takes
//! effect on the very next request (C3): logout, a role change, deleting the user, deleting
//! the business.

mod common;

use common::crm;
use common::{Backend, TestApp};
use mokdan::store::users::Role;
use serde_json::json;

/// Signs in and makes one request, so the session is remembered.
async fn remembered(app: &TestApp, email: &str) -> String {
    let t = crm::login(app, email).await;
    let (s, _) = crm::get(app, "/api/auth/me", &t).await;
    assert_eq!(s, 200, "{email}");
    let (s, _) = crm::get(app, "/api/auth/me", &t).await;
    assert_eq!(s, 200, "{email}");
    t
}

async fn remembered_sessions_end_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = crm::add_business(&app, "עסק א", "+97231234567").await;
    crm::add_user(&app, "owner@a.example", Role::Owner, Some(a)).await;
    let agent = crm::add_user(&app, "agent@a.example", Role::Agent, Some(a)).await;
    let other = crm::add_user(&app, "other@a.example", Role::Agent, Some(a)).await;
    crm::add_user(&app, "ops@example.com", Role::Operator, None).await;
    let owner = remembered(&app, "owner@a.example").await;
    let ops = remembered(&app, "ops@example.com").await;

    // Logout.
    let t = remembered(&app, "other@a.example").await;
    let (s, _) = crm::post(&app, "/api/auth/logout", &t, json!({})).await;
    assert_eq!(s, 204);
    assert_eq!(
        crm::get(&app, "/api/auth/me", &t).await.0,
        401,
        "logged out"
    );

    // A role change signs the user out.
    let t = remembered(&app, "other@a.example").await;
    let (s, body) = crm::patch(
        &app,
        &format!("/api/users/{other}"),
        &owner,
        json!({ "role": "owner" }),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        crm::get(&app, "/api/auth/me", &t).await.0,
        401,
        "role changed"
    );
    let t = remembered(&app, "other@a.example").await;
    assert_eq!(crm::get(&app, "/api/auth/me", &t).await.1["role"], "owner");

    // Deleting the user.
    let t = remembered(&app, "agent@a.example").await;
    let (s, _) = crm::delete(&app, &format!("/api/users/{agent}"), &owner).await;
    assert_eq!(s, 204);
    assert_eq!(
        crm::get(&app, "/api/auth/me", &t).await.0,
        401,
        "user deleted"
    );

    // Deleting the business deletes its users.
    let (s, _) = crm::delete(&app, &format!("/api/businesses/{a}"), &ops).await;
    assert_eq!(s, 204);
    assert_eq!(
        crm::get(&app, "/api/customers", &owner).await.0,
        401,
        "business deleted"
    );
    assert_eq!(crm::get(&app, "/api/auth/me", &ops).await.0, 200);
}
dual_test!(remembered_sessions_end_at_once);

/// The web app's own logout (`POST /app/logout`) also ends the remembered session at once:
/// the cookie does not keep working for the seconds the session is remembered (#16.9).
async fn the_web_apps_logout_ends_the_session_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = crm::add_business(&app, "עסק א", "+97231234567").await;
    crm::add_user(&app, "owner@a.example", Role::Owner, Some(a)).await;
    let r = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": "owner@a.example", "password": crm::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("mokdan_session="))
        .unwrap();
    let me = || async {
        app.http
            .get(app.url("/api/auth/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(me().await, 200);
    assert_eq!(me().await, 200, "remembered");
    let r = app
        .http
        .post(app.url("/app/logout"))
        .header("cookie", &cookie)
        .header("origin", app.url(""))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "{}",
        r.status()
    );
    assert_eq!(me().await, 401, "signed out at once");
}
dual_test!(the_web_apps_logout_ends_the_session_at_once);
