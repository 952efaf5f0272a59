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
