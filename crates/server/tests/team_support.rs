//! The operator in the web app (#20), black-box over HTTP on both databases: adding a
//! business and its numbers from `/app/admin` (a malformed or already claimed number is a
//! Hebrew error on its field; an owner's e-mail gets an invitation link), and opening a
//! business's CRM as support: every visit in the audit log, a Hebrew banner, writes refused
//! with a Hebrew reason until the owner allows support to edit.

mod common;

use common::web::{self, World};
use common::{Backend, TestApp};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode};

/// A client carrying `extra` cookies on top of a signed-in one's.
async fn with_cookie(w: &World, email: &str, extra: &str) -> Client {
    let login = w
        .app
        .http
        .post(w.app.url("/api/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": web::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let mut cookies: Vec<String> = login
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    cookies.push(extra.to_string());
    let mut headers = HeaderMap::new();
    headers.insert(header::ORIGIN, HeaderValue::from_str(&w.app.base).unwrap());
    headers.insert(
        header::COOKIE,
        HeaderValue::from_str(&cookies.join("; ")).unwrap(),
    );
    Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn lead_count(app: &TestApp, business: i64) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers WHERE business_id = $1")
        .bind(business)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    n
}

async fn support_visits(app: &TestApp, business: i64) -> Vec<(Option<i64>, i64)> {
    sqlx::query_as(
        "SELECT actor_user_id, created_at FROM audit_log WHERE business_id = $1 \
         AND entity = 'business' AND action = 'support_visit'",
    )
    .bind(business)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
}

async fn an_operator_adds_a_business_with_its_numbers(backend: Backend) {
    let w = web::world(backend).await;
    let ops = w.client("ops@mokdan.test").await;
    let (s, _, html) = web::get(&ops, &w.app, "/app/admin/businesses/new").await;
    assert_eq!(s, 200);
    assert!(html.contains("הוספת עסק"));
    let post = |form: Vec<(&'static str, &'static str)>| {
        let ops = ops.clone();
        let url = w.app.url("/app/admin/businesses/new");
        async move { ops.post(url).form(&form).send().await.unwrap() }
    };
    let r = post(vec![("name", ""), ("numbers", "12ab")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("business-name-error") && html.contains("יש להזין את שם העסק"));
    assert!(
        html.contains("business-numbers-error") && html.contains("אינו מספר טלפון תקין"),
        "{html}"
    );
    // The clinic's number is taken.
    let r = post(vec![("name", "סלון יופי"), ("numbers", "03-1234567")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("כבר שייך לעסק אחר"));
    let r = post(vec![
        ("name", "סלון יופי"),
        ("numbers", "08-6543210\n+972 8 6543211"),
        ("owner_email", "salon@c.test"),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("/app/invite/"),
        "the owner's link is shown: {html}"
    );
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM businesses WHERE name = 'סלון יופי'")
        .fetch_one(&w.db().pool)
        .await
        .unwrap();
    let numbers = mokdan::store::businesses::numbers(w.db(), id)
        .await
        .unwrap();
    assert_eq!(numbers, vec!["+97286543210", "+97286543211"]);
    // Owners and agents cannot.
    let owner = w.client("owner@a.test").await;
    let r = owner
        .post(w.app.url("/app/admin/businesses/new"))
        .form(&[("name", "x"), ("numbers", "08-1111111")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    w.app.shutdown().await.unwrap();
}
dual_test!(an_operator_adds_a_business_with_its_numbers);

async fn support_is_read_only_until_the_owner_allows_and_every_visit_is_audited(backend: Backend) {
    let w = web::world(backend).await;
    let ops = w.client("ops@mokdan.test").await;
    // Without a visit, an operator has no business page.
    let (s, _, _) = web::get(&ops, &w.app, "/app/biz/leads").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let r = ops
        .post(w.app.url(&format!("/app/admin/support/{}", w.biz_a)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let visits = support_visits(&w.app, w.biz_a).await;
    assert_eq!(visits.len(), 1);
    let (ops_id,): (i64,) = sqlx::query_as("SELECT id FROM users WHERE email = 'ops@mokdan.test'")
        .fetch_one(&w.db().pool)
        .await
        .unwrap();
    assert_eq!(visits[0].0, Some(ops_id), "who");
    assert!(visits[0].1 > 0, "when");

    let support = with_cookie(&w, "ops@mokdan.test", cookie.split(';').next().unwrap()).await;
    w.lead(w.biz_a, "דנה כהן", "050-1234567").await;
    w.lead(w.biz_b, "משה לוי", "050-7654321").await;
    let (s, _, html) = web::get(&support, &w.app, "/app/biz/leads").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("support-banner") && html.contains("מצב תמיכה"),
        "{html}"
    );
    assert!(html.contains("מרפאת כהן") && html.contains("צפייה בלבד"));
    assert!(
        html.contains("דנה כהן") && !html.contains("משה לוי"),
        "the one business only"
    );
    let before = lead_count(&w.app, w.biz_a).await;
    let form = [
        ("name", "ליד מהתמיכה"),
        ("phone", "052-1112233"),
        ("status", "new"),
    ];
    let r = support
        .post(w.app.url("/app/biz/leads/new"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("צפייה בלבד"));
    assert_eq!(lead_count(&w.app, w.biz_a).await, before, "nothing written");
    // The page's own API calls act for the same business through the tenant check: reads
    // work, writes are refused with the Hebrew reason.
    let r = support
        .get(w.app.url("/api/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("דנה כהן") && !body.contains("משה לוי"),
        "{body}"
    );
    let api_lead = serde_json::json!({ "name": "ליד מה-API", "phone": "052-9998877" });
    let r = support
        .post(w.app.url("/api/customers"))
        .json(&api_lead)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("צפייה בלבד"),
        "{body}"
    );
    assert_eq!(lead_count(&w.app, w.biz_a).await, before, "nothing written");

    // The owner allows editing; the same write now goes through.
    let owner = w.client("owner@a.test").await;
    let r = owner
        .post(w.app.url("/app/biz/team/support"))
        .form(&[("support_can_edit", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = support
        .post(w.app.url("/app/biz/leads/new"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(lead_count(&w.app, w.biz_a).await, before + 1);
    let r = support
        .post(w.app.url("/api/customers"))
        .json(&api_lead)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(lead_count(&w.app, w.biz_a).await, before + 2);
    // Support never reaches the owner's own pages.
    let (s, _, _) = web::get(&support, &w.app, "/app/biz/team").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A cookie naming a business that does not exist opens nothing; an owner's cookie is
    // ignored (they see their own business).
    let nowhere = with_cookie(&w, "ops@mokdan.test", "mokdan_support=999999").await;
    let (s, _, _) = web::get(&nowhere, &w.app, "/app/biz/leads").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let owner_b = with_cookie(&w, "owner@b.test", &format!("mokdan_support={}", w.biz_a)).await;
    let (s, _, html) = web::get(&owner_b, &w.app, "/app/biz/leads").await;
    assert_eq!(s, 200);
    assert!(!html.contains("דנה כהן") && !html.contains("support-banner"));
    // Only an operator may start a visit.
    let r = owner
        .post(w.app.url(&format!("/app/admin/support/{}", w.biz_b)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(support_visits(&w.app, w.biz_b).await.is_empty());
    w.app.shutdown().await.unwrap();
}
dual_test!(support_is_read_only_until_the_owner_allows_and_every_visit_is_audited);
