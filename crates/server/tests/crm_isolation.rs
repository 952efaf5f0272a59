//! The tenant-isolation matrix (C4), driven by the route list itself.
//!
//! The operations come from the served `/api/openapi.json`, which is built from the one
//! table of `/api` routes (and `crm_openapi.rs` checks that table against the router and
//! the source). For every operation: no credential is 401; for every route that names an
//! object in its path (`{id}`, `{customer_id}`), a user of business A naming business B's
//! object gets 404 with no B data; a request body naming B's customer (`customer_id`, as
//! `POST /api/whatsapp/send` takes it) is 404 and sends nothing; for every list, A's
//! answer holds none of B's rows; naming B with `business_id` is 404. A new route with a
//! new kind of id fails here until it has a fixture below — and a route that forgets to
//! scope fails on the 404 or the leak checks.
//!
//! Operator-only routes (`x-mokdan-access: operator`: the businesses list, and the job
//! queue `/api/jobs`, `/api/jobs/{id}/retry`) hold no one business's data: jobs belong to
//! the service. An owner or agent is refused by role before any lookup, so the answer is
//! 403 for every id — B's or A's alike — and reveals nothing; the matrix checks exactly
//! that, that the refused retry left the job alone, and that the operator's own retry of
//! the same id works (so the 403 was the role, not a bad fixture).

mod common;

use common::crm::{self, World};
use common::{Backend, TestApp};
use mokdan::store::jobs as jobstore;
use reqwest::Method;
use serde_json::{Value, json};

/// Objects that are not a tenant's but still need an id per side: one dead job each.
struct Extra {
    jobs: (i64, i64),
}

/// A dead job about `call_sid` (so a retry would visibly change it).
async fn dead_job(app: &TestApp, call_sid: &str) -> i64 {
    let payload = json!({ "call_sid": call_sid });
    let id = mokdan::jobs::enqueue_with(
        &app.state.db,
        &jobstore::NewJob {
            kind: "isolation_probe",
            payload: &payload,
            idempotency_key: Some(&format!("isolation:{call_sid}")),
            run_after: mokdan::store::now_ms() + 24 * 3600 * 1000,
            max_attempts: 1,
        },
    )
    .await
    .unwrap()
    .unwrap();
    sqlx::query("UPDATE jobs SET state = 'dead', last_error = 'probe' WHERE id = $1")
        .bind(id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    id
}

/// The id of each kind of object for a tenant.
fn fixture(w: &World, x: &Extra, resource: &str, of_b: bool) -> i64 {
    let t = if of_b { &w.b } else { &w.a };
    match resource {
        "customer" => t.customer_id,
        "call" => t.call_id,
        "user" => t.agent_id,
        "token" => t.token_id,
        "business" => t.business_id,
        "whatsapp_message" => t.whatsapp_message_id,
        "webhook_endpoint" => t.webhook_endpoint_id,
        "webhook_delivery" => t.webhook_delivery_id,
        "service" => t.service_id,
        "staff" => t.staff_id,
        "appointment" => t.appointment_id,
        "task" => t.task_id,
        "saved_filter" => t.saved_filter_id,
        "closure" => t.closure_id,
        "job" => {
            if of_b {
                x.jobs.1
            } else {
                x.jobs.0
            }
        }
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

/// Sends a case as `token` with the path's first parameter → `id` (any later one, the
/// attachment number `{n}`, → 0), `business_id` (query and body) → `business`.
async fn send(
    app: &TestApp,
    c: &Case,
    token: Option<&str>,
    id: Option<i64>,
    business: Option<i64>,
) -> (u16, String) {
    send_with(app, c, token, id, business, None).await
}

/// [`send`], with the JSON body's `customer_id` → `customer` when given.
async fn send_with(
    app: &TestApp,
    c: &Case,
    token: Option<&str>,
    id: Option<i64>,
    business: Option<i64>,
    customer: Option<i64>,
) -> (u16, String) {
    let mut first = true;
    let path = c
        .path
        .split('/')
        .map(|seg| {
            if !seg.starts_with('{') {
                seg.to_string()
            } else if std::mem::take(&mut first) {
                id.map_or_else(|| seg.to_string(), |id| id.to_string())
            } else {
                "0".to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let mut path = path;
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
        if let (Some(cid), Some(obj)) = (customer, body.as_object_mut()) {
            obj.insert("customer_id".into(), json!(cid));
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
    // A WhatsApp provider is configured, so a send is refused for the right reason (the
    // customer), not for a missing provider.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("WHATSAPP_PROVIDER", "twilio"),
            ("TWILIO_ACCOUNT_SID", common::twilio::ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", common::twilio::AUTH_TOKEN),
            // Nothing is meant to reach Twilio here.
            ("TWILIO_API_BASE", "http://127.0.0.1:9"),
        ],
    )
    .await;
    let w = crm::world(&app).await;
    let x = Extra {
        jobs: (
            dead_job(&app, &w.a.call_sid).await,
            dead_job(&app, &w.b.call_sid).await,
        ),
    };
    let (s, doc) = crm::call(&app, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);
    let secrets = b_secrets(&w);
    let (a, b) = (&w.a, &w.b);
    let mut checked = 0;

    for c in cases(&doc) {
        let what = format!("{} {}", c.method, c.path);
        if c.path.contains('{') {
            assert!(
                c.resource.is_some(),
                "{what}: a route with a path id needs x-mokdan-resource"
            );
        }
        if c.access == "public" {
            continue;
        }

        // 1. No credential: 401, in the error shape (and the route exists).
        let id = c.resource.as_deref().map(|r| fixture(&w, &x, r, true));
        let (s, body) = send(&app, &c, None, id, None).await;
        assert_eq!(s, 401, "{what} without a credential: {body}");
        assert_error_shape(&what, &body);

        // 2. A's owner names B's object: 404, never 403, never B's data.
        if let Some(resource) = c.resource.as_deref() {
            let b_id = fixture(&w, &x, resource, true);
            let (s, body) = send(&app, &c, Some(&a.owner), Some(b_id), None).await;
            if c.access == "operator" {
                // Refused by role before any lookup: the same answer for every id.
                assert_eq!(s, 403, "{what} (operator-only) as an owner: {body}");
                let a_id = fixture(&w, &x, resource, false);
                let (s2, _) = send(&app, &c, Some(&a.owner), Some(a_id), None).await;
                assert_eq!(s2, 403, "{what}: an owner's own id must answer the same");
                let (s3, _) = send(&app, &c, Some(&a.agent), Some(b_id), None).await;
                assert_eq!(s3, 403, "{what} (operator-only) as an agent");
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

        // 2b. A body naming B's customer (a send): 404 for A's owner and agent, nothing sent.
        if c.body
            .as_ref()
            .is_some_and(|b| b.get("customer_id").is_some())
        {
            for (who, token) in [("owner", &a.owner), ("agent", &a.agent)] {
                let (s, body) = send_with(
                    &app,
                    &c,
                    Some(token),
                    None,
                    Some(a.business_id),
                    Some(b.customer_id),
                )
                .await;
                assert_eq!(s, 404, "{what}: A's {who} naming B's customer: {body}");
                assert_error_shape(&what, &body);
                for secret in &secrets {
                    assert!(!body.contains(secret.as_str()), "{what} leaked {secret}");
                }
            }
            checked += 1;
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
            let (s, _) = send(&app, &c, Some(&a.agent), None, None).await;
            assert_eq!(s, 403, "{what} (operator-only) as an agent");
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
    // B's conversation is still one inbound message: A's sends reached no one.
    let (s, thread) = crm::get(
        &app,
        &format!("/api/whatsapp/threads/{}", b.customer_id),
        &b.owner,
    )
    .await;
    assert_eq!(s, 200, "{thread}");
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{thread}");
    assert_eq!(messages[0]["id"], b.whatsapp_message_id);
    assert_eq!(messages[0]["body"], json!(b.marker));
    for business in [a.business_id, b.business_id] {
        let sent = mokdan::store::whatsapp::count(&app.state.db, business, "out")
            .await
            .unwrap();
        assert_eq!(sent, 0, "business {business} sent a message");
    }
    // The refused retries left both jobs dead; the operator may retry them.
    for id in [x.jobs.0, x.jobs.1] {
        let job = jobstore::get(&app.state.db, id).await.unwrap().unwrap();
        assert_eq!(job.state, "dead", "job {id} was retried by a non-operator");
    }
    let (s, v) = crm::post(
        &app,
        &format!("/api/jobs/{}/retry", x.jobs.1),
        &w.operator,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["id"], x.jobs.1);

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
