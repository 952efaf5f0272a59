//! Stored password hashes are argon2id (S2, issue 9), salted per user, whichever way the
//! password arrives: a user created over the API, a password changed over the API, or the
//! `mokdan user add` path's hasher.

mod common;

use common::crm;
use common::{Backend, TestApp};
use mokdan::store::users::Role;
use serde_json::json;

async fn stored_hash(app: &TestApp, email: &str) -> String {
    let (h,): (String,) = sqlx::query_as("SELECT password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    h
}

fn assert_argon2id(what: &str, hash: &str) {
    assert!(hash.starts_with("$argon2id$"), "{what}: {hash}");
    let parsed = argon2::password_hash::phc::PasswordHash::new(hash).unwrap();
    assert_eq!(parsed.algorithm.as_str(), "argon2id", "{what}");
    assert!(parsed.salt.is_some(), "{what}: salted");
}

async fn stored_password_hashes_are_argon2id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bid = crm::add_business(&app, "קפה", "+97231234567").await;
    crm::add_user(&app, "ops@example.com", Role::Operator, None).await;
    let ops = crm::login(&app, "ops@example.com").await;
    assert_argon2id(
        "the CLI's hasher",
        &stored_hash(&app, "ops@example.com").await,
    );
    let same = "the-same-password";
    for email in ["owner@cafe.example", "owner2@cafe.example"] {
        let body = json!({
            "email": email, "password": same, "role": "owner", "business_id": bid,
        });
        let (s, v) = crm::post(&app, "/api/users", &ops, body).await;
        assert_eq!(s, 201, "{v}");
        assert!(
            !v.to_string().contains("argon2"),
            "no hash in the answer: {v}"
        );
    }
    let (a, b) = (
        stored_hash(&app, "owner@cafe.example").await,
        stored_hash(&app, "owner2@cafe.example").await,
    );
    assert_argon2id("created over the API", &a);
    assert_ne!(a, b, "one password, two salts");
    assert!(!a.contains(same));
    let id: (i64,) = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind("owner2@cafe.example")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let (s, _) = crm::patch(
        &app,
        &format!("/api/users/{}", id.0),
        &ops,
        json!({ "password": "another-password" }),
    )
    .await;
    assert_eq!(s, 200);
    let changed = stored_hash(&app, "owner2@cafe.example").await;
    assert_argon2id("changed over the API", &changed);
    assert_ne!(changed, b);
    crm::login_with(&app, "owner2@cafe.example", "another-password").await;
}
dual_test!(stored_password_hashes_are_argon2id);
