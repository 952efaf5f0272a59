//! The tenant-isolation matrix (C4), driven by the route list itself.
//!
//! The operations come from the served `/api/openapi.json`, which is built from the one
//! table of `/api` routes (and `crm_openapi.rs` checks that table against the router and
//! the source). For every operation: no credential is 401; for every `{id}` route, a user
//! of business A naming business B's object gets 404 with no B data; for every list, A's
//! answer holds none of B's rows; naming B with `business_id` is 404. A new route with a
//! new kind of `{id}` fails here until it has a fixture below — and a route that forgets
//! to scope fails on the 404 or the leak checks.

mod common;

use common::crm::{self, World};
use common::{Backend, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

/// The id of each kind of object for a tenant.
fn fixture(w: &World, resource: &str, of_b: bool) -> i64 {
    let t = if of_b { &w.b } else { &w.a };
    match resource {
        "customer" => t.customer_id,
        "call" => t.call_id,
        "user" => t.agent_id,
        "token" => t.token_id,
        "business" => t.business_id,
        other => panic!(
            "x-mokdan-resource `{other}` has no fixture in crm_isolation.rs: add one object \
             of that kind to each tenant (tests/common/crm.rs) and map it here"
        ),
    }
}

/// Strings that only B's rows contain.
fn b_secrets(w: &World) -> Vec<String> {
    vec![
        w.b.marker.clone(),
        w.b.customer_phone.clone(),
        w.b.call_sid.clone(),
        "owner-b@".into(),
        "agent-b@".into(),
    ]
}

struct Case {
    method: Method,
    path: String,
    access: String,
    resource: Option<String>,
    body: Option<Value>,
    csv: bool,
}

fn cases(doc: &Value) -> Vec<Case> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let access = op["x-mokdan-access"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no x-mokdan-access"))
                .to_string();
            let content = &op["requestBody"]["content"];
            out.push(Case {
                method: method.to_uppercase().parse().unwrap(),
                path: path.clone(),
                access,
                resource: op["x-mokdan-resource"].as_str().map(str::to_string),
                body: content["application/json"].get("example").cloned(),
                csv: content.get("text/csv").is_some(),
            });
        }
    }
    assert!(
        out.len() >= 25,
        "the route list looks truncated: {}",
        out.len()
    );
    out
}

/// Sends a case as `token` with `{id}` → `id`, `business_id` (query and body) → `business`.
async fn send(
    app: &TestApp,
    c: &Case,
    token: Option<&str>,
    id: Option<i64>,
    business: Option<i64>,
) -> (u16, String) {
    let mut path = c.path.clone();
    if let Some(id) = id {
        path = path.replace("{id}", &id.to_string());
    }
    if let Some(b) = business {
        path = format!("{path}?business_id={b}");
    }
    let mut req = app.http.request(c.method.clone(), app.url(&path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(mut body) = c.body.clone() {
        if let (Some(b), Some(obj)) = (business, body.as_object_mut())
            && obj.contains_key("business_id")
        {
            obj.insert("business_id".into(), json!(b));
        }
        req = req.json(&body);
    } else if c.csv {
        req = req
            .header("content-type", "text/csv")
            .body("name,phone\r\nמישהו,050-9999999\r\n");
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn assert_error_shape(what: &str, body: &str) {
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: error is not JSON: {body}"));
    crm::error_code(&v);
}

async fn tenant_isolation_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = crm::world(&app).await;
    let (s, doc) = crm::call(&app, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let secrets = b_secrets(&w);
    let (a, b) = (&w.a, &w.b);
    let mut checked = 0;

    for c in cases(&doc) {
        let what = format!("{} {}", c.method, c.path);
        let has_id = c.path.contains("{id}");
        if has_id {
            assert!(
                c.resource.is_some(),
                "{what}: an {{id}} route needs x-mokdan-resource"
            );
        }
        if c.access == "public" {
            continue;
        }

        // 1. No credential: 401, in the error shape (and the route exists).
        let id = c.resource.as_deref().map(|r| fixture(&w, r, true));
        let (s, body) = send(&app, &c, None, id, None).await;
        assert_eq!(s, 401, "{what} without a credential: {body}");
        assert_error_shape(&what, &body);

        // 2. A's owner names B's object: 404, never 403, never B's data.
        if let Some(resource) = c.resource.as_deref() {
            let b_id = fixture(&w, resource, true);
            let (s, body) = send(&app, &c, Some(&a.owner), Some(b_id), None).await;
            if c.access == "operator" {
                // Refused by role before any lookup: the same answer for every id.
                assert_eq!(s, 403, "{what} (operator-only) as an owner: {body}");
                let a_id = fixture(&w, resource, false);
                let (s2, _) = send(&app, &c, Some(&a.owner), Some(a_id), None).await;
                assert_eq!(s2, 403, "{what}: an owner's own id must answer the same");
            } else {
                assert_eq!(
                    s, 404,
                    "{what}: A's owner asking for B's {resource}: {body}"
                );
                // And A's agent too.
                let (s, body2) = send(&app, &c, Some(&a.agent), Some(b_id), None).await;
                assert!(
                    s == 404 || (s == 403 && c.access == "owner" && resource != "user"),
                    "{what}: A's agent asking for B's {resource}: {s} {body2}"
                );
                for secret in &secrets {
                    assert!(!body.contains(secret.as_str()), "{what} leaked {secret}");
                }
            }
            assert_error_shape(&what, &body);
            checked += 1;
            continue;
        }

        // 3. Lists: A's answer holds none of B's rows.
        if c.method == Method::GET && c.access != "operator" {
            let (s, body) = send(&app, &c, Some(&a.owner), None, None).await;
            assert!((200..300).contains(&s), "{what} as A's owner: {s} {body}");
            for secret in &secrets {
                assert!(
                    !body.contains(secret.as_str()),
                    "{what} shows B's row ({secret})"
                );
            }
            assert!(
                c.access == "caller"
                    || body.contains(&a.marker)
                    || body.contains("owner-a@")
                    || body.contains(&a.customer_phone),
                "{what}: A's own rows are missing, so the leak check proves nothing: {body}"
            );
            checked += 1;
        }
        if c.access == "operator" {
            let (s, body) = send(&app, &c, Some(&a.owner), None, None).await;
            assert_eq!(s, 403, "{what} (operator-only) as an owner: {body}");
            assert_error_shape(&what, &body);
            continue;
        }

        // 4. Naming B's business (query or body) is 404.
        if c.access != "caller" {
            let (s, body) = send(&app, &c, Some(&a.owner), None, Some(b.business_id)).await;
            assert_eq!(s, 404, "{what} with business_id of B: {body}");
            assert_error_shape(&what, &body);
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} isolation checks ran");

    // B's objects are untouched by everything A tried.
    for path in [
        format!("/api/customers/{}", b.customer_id),
        format!("/api/calls/{}", b.call_id),
        format!("/api/users/{}", b.agent_id),
        format!("/api/businesses/{}", b.business_id),
    ] {
        let (s, v) = crm::get(&app, &path, &b.owner).await;
        assert_eq!(s, 200, "{path}: {v}");
    }
    let (_, tokens) = crm::get(&app, "/api/tokens", &b.owner).await;
    assert!(
        tokens.to_string().contains(&b.marker),
        "B's token was revoked by A"
    );
    let (_, cust) = crm::get(&app, &format!("/api/customers/{}", b.customer_id), &b.owner).await;
    assert_eq!(cust["notes"], json!(b.marker));
    assert_eq!(cust["status"], "new");

    // The operator sees each business only when naming it.
    let (s, v) = crm::get(
        &app,
        &format!("/api/customers?business_id={}", a.business_id),
        &w.operator,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["total"], 1);
    assert!(!v.to_string().contains(&b.marker));
    let (s, v) = crm::get(&app, "/api/customers", &w.operator).await;
    assert_eq!(s, 422, "an operator must name the business: {v}");
}
dual_test!(tenant_isolation_matrix);

/// API tokens are scoped like users: B's token cannot read A's data.
async fn api_tokens_are_scoped_to_their_business(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let w = crm::world(&app).await;
    let (s, t) = crm::post(&app, "/api/tokens", &w.b.owner, json!({ "name": "zapier" })).await;
    assert_eq!(s, 201);
    let token = t["token"].as_str().unwrap();
    let (s, _) = crm::get(&app, &format!("/api/customers/{}", w.a.customer_id), token).await;
    assert_eq!(s, 404);
    let (s, v) = crm::get(&app, "/api/customers", token).await;
    assert_eq!(s, 200);
    assert_eq!(v["total"], 1);
    assert!(v.to_string().contains(&w.b.marker) && !v.to_string().contains(&w.a.marker));
}
dual_test!(api_tokens_are_scoped_to_their_business);
