//! CRM test helpers: users made straight in the store, sign-in over HTTP, JSON requests
//! with a bearer token, and two businesses (A and B) with one object of every kind each
//! (a customer with a call, a note and a WhatsApp message with an attachment; users; a token).

use mokdan::domain::Phone;
use mokdan::store::users::Role;
use reqwest::Method;
use serde_json::{Value, json};

use super::TestApp;

pub const PASSWORD: &str = "correct-horse-battery";

/// Adds a user directly (the API's own user routes are tested separately).
pub async fn add_user(app: &TestApp, email: &str, role: Role, business: Option<i64>) -> i64 {
    let hash = mokdan::auth::hash_password(PASSWORD).unwrap();
    mokdan::store::users::create(&app.state.db, email, &hash, role, business)
        .await
        .unwrap()
}

pub async fn add_business(app: &TestApp, name: &str, number: &str) -> i64 {
    mokdan::store::businesses::create(&app.state.db, name, &Phone::parse(number).unwrap())
        .await
        .unwrap()
}

/// Signs in; the bearer JWT.
pub async fn login(app: &TestApp, email: &str) -> String {
    let r = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {email}");
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

/// A request with a bearer token (or none) and an optional JSON body; status and JSON.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, json)
}

pub async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, Method::GET, path, Some(token), None).await
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::POST, path, Some(token), Some(body)).await
}

pub async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    call(app, Method::PATCH, path, Some(token), Some(body)).await
}

pub async fn delete(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, Method::DELETE, path, Some(token), None).await
}

/// Asserts the API's one error shape and returns its code.
pub fn error_code(body: &Value) -> &str {
    let code = body["error"]["code"].as_str();
    assert!(
        code.is_some() && body["error"]["message"].is_string(),
        "not the error shape: {body}"
    );
    code.unwrap()
}

/// One business with one object of every kind, and its people's tokens.
pub struct Tenant {
    pub business_id: i64,
    pub owner_id: i64,
    pub agent_id: i64,
    pub owner: String,
    pub agent: String,
    pub customer_id: i64,
    pub customer_phone: String,
    pub call_id: i64,
    pub call_sid: String,
    pub token_id: i64,
    /// The customer's inbound WhatsApp message (its body is the marker; one attachment).
    pub whatsapp_message_id: i64,
    /// A webhook endpoint (its URL holds the marker; nothing listens there).
    pub webhook_endpoint_id: i64,
    /// The `lead.created` delivery of the customer to that endpoint.
    pub webhook_delivery_id: i64,
    /// A service, a staff member giving it, and an appointment with them (#19).
    pub service_id: i64,
    pub staff_id: i64,
    pub appointment_id: i64,
    pub task_id: i64,
    pub saved_filter_id: i64,
    pub closure_id: i64,
    /// Text that appears only in this tenant's rows.
    pub marker: String,
}

/// Builds a tenant: business, owner, agent, a customer, a call with a turn, an API token.
pub async fn tenant(app: &TestApp, tag: &str, number: &str, customer_phone: &str) -> Tenant {
    let business_id = add_business(app, &format!("עסק {tag}"), number).await;
    let owner_email = format!("owner-{tag}@example.com");
    let agent_email = format!("agent-{tag}@example.com");
    let owner_id = add_user(app, &owner_email, Role::Owner, Some(business_id)).await;
    let agent_id = add_user(app, &agent_email, Role::Agent, Some(business_id)).await;
    let owner = login(app, &owner_email).await;
    let agent = login(app, &agent_email).await;
    let marker = format!("marker-{tag}-{}", uuid::Uuid::new_v4().simple());
    // A webhook endpoint first, so the customer below is delivered to it as `lead.created`.
    let (s, hook) = post(
        app,
        "/api/webhooks/endpoints",
        &owner,
        json!({ "url": format!("http://127.0.0.1:9/hooks/{marker}"), "events": ["lead.created"] }),
    )
    .await;
    assert_eq!(s, 201, "{hook}");
    let webhook_endpoint_id = hook["id"].as_i64().unwrap();
    let (s, c) = post(
        app,
        "/api/customers",
        &owner,
        json!({ "name": format!("לקוח {marker}"), "phone": customer_phone, "notes": marker }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let customer_id = c["id"].as_i64().unwrap();
    let (s, d) = get(
        app,
        &format!("/api/webhooks/deliveries?endpoint_id={webhook_endpoint_id}"),
        &owner,
    )
    .await;
    assert_eq!(s, 200, "{d}");
    let webhook_delivery_id = d["deliveries"][0]["id"]
        .as_i64()
        .expect("a lead.created delivery");
    let call_sid = format!("CA{}", uuid::Uuid::new_v4().simple());
    mokdan::store::calls::insert(
        &app.state.db,
        &mokdan::store::calls::NewCall {
            call_sid: &call_sid,
            business_id: Some(business_id),
            from: Some(c["phone"].as_str().unwrap()),
            to: Some(number),
            direction: mokdan::domain::CallDirection::Inbound,
            status: mokdan::domain::CallStatus::Ringing,
        },
    )
    .await
    .unwrap();
    let call_id = mokdan::store::calls::by_sid(&app.state.db, &call_sid)
        .await
        .unwrap()
        .unwrap()
        .id;
    sqlx::query(
        "INSERT INTO call_turns (call_sid, turn_index, caller_text, agent_text, created_at) \
         VALUES ($1, 0, $2, 'שלום', 1)",
    )
    .bind(&call_sid)
    .bind(&marker)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    sqlx::query("UPDATE call_logs SET call_summary = $2 WHERE call_sid = $1")
        .bind(&call_sid)
        .bind(&marker)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let (s, t) = post(app, "/api/tokens", &owner, json!({ "name": marker })).await;
    assert_eq!(s, 201, "{t}");
    let (s, _) = post(
        app,
        &format!("/api/customers/{customer_id}/notes"),
        &owner,
        json!({ "body": marker }),
    )
    .await;
    assert_eq!(s, 201);
    // A WhatsApp message from the customer, recorded as the webhooks record one.
    let media = json!([{
        "url": format!("https://api.twilio.com/2010-04-01/Accounts/AC{tag}/Messages/MM{tag}/Media/ME{tag}"),
        "content_type": "image/jpeg",
    }]);
    let from = Phone::parse(customer_phone).unwrap();
    let receipt = mokdan::store::whatsapp::record_inbound(
        &app.state.db,
        Some(&Phone::parse(number).unwrap()),
        &from,
        &mokdan::store::whatsapp::NewInbound {
            provider: "twilio",
            provider_message_id: format!("SM{}", uuid::Uuid::new_v4().simple()),
            from_number: from.as_str().to_string(),
            to_number: Some(number.to_string()),
            body: Some(marker.clone()),
            media: Some(media.to_string()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        receipt.linked.map(|l| (l.business_id, l.customer_id)),
        Some((business_id, customer_id)),
        "the message is the tenant's customer's"
    );
    let (service_id, staff_id, appointment_id) = booking(app, &owner, &marker).await;
    let (s, task) = post(
        app,
        &format!("/api/customers/{customer_id}/tasks"),
        &owner,
        json!({ "title": marker }),
    )
    .await;
    assert_eq!(s, 201, "{task}");
    let (s, filter) = post(
        app,
        "/api/saved-filters",
        &owner,
        json!({ "name": marker, "query": format!("q={marker}") }),
    )
    .await;
    assert_eq!(s, 201, "{filter}");
    // A deleted lead too, so the list of deleted leads has a row of each tenant's.
    let other_phone = format!("+9725{}", 10_000_000 + (business_id % 1000) * 1000 + 7);
    let (s, gone) = post(
        app,
        "/api/customers",
        &owner,
        json!({ "name": format!("נמחק {marker}"), "phone": other_phone }),
    )
    .await;
    assert_eq!(s, 201, "{gone}");
    let (s, _) = delete(app, &format!("/api/customers/{}", gone["id"]), &owner).await;
    assert_eq!(s, 204);
    let (s, closure) = post(
        app,
        "/api/closures",
        &owner,
        // Within the default list range (a year from today).
        json!({ "first_date": mokdan::appointments::time::show_ts(
                    jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30),
                )[..10],
                "note": marker }),
    )
    .await;
    assert_eq!(s, 201, "{closure}");
    Tenant {
        task_id: task["id"].as_i64().unwrap(),
        saved_filter_id: filter["id"].as_i64().unwrap(),
        business_id,
        owner_id,
        agent_id,
        owner,
        agent,
        customer_id,
        customer_phone: c["phone"].as_str().unwrap().to_string(),
        call_id,
        call_sid,
        token_id: t["id"].as_i64().unwrap(),
        whatsapp_message_id: receipt.message_id.unwrap(),
        webhook_endpoint_id,
        webhook_delivery_id,
        service_id,
        staff_id,
        appointment_id,
        closure_id: closure["id"].as_i64().unwrap(),
        marker,
    }
}

/// A service, a staff member open all week and an appointment tomorrow, named by `marker`.
async fn booking(app: &TestApp, owner: &str, marker: &str) -> (i64, i64, i64) {
    let (s, svc) = post(
        app,
        "/api/services",
        owner,
        json!({ "name": format!("שירות {marker}"), "duration_minutes": 30 }),
    )
    .await;
    assert_eq!(s, 201, "{svc}");
    let service_id = svc["id"].as_i64().unwrap();
    let hours: Vec<Value> = (0..7)
        .map(|d| json!({ "day": d, "from": "00:00", "to": "24:00" }))
        .collect();
    let (s, staff) = post(
        app,
        "/api/staff",
        owner,
        json!({ "name": format!("צוות {marker}"), "service_ids": [service_id], "hours": hours }),
    )
    .await;
    assert_eq!(s, 201, "{staff}");
    let hour_ms = 3_600_000;
    let start_ms = (mokdan::store::now_ms() / hour_ms + 24) * hour_ms;
    let start = jiff::Timestamp::from_millisecond(start_ms)
        .unwrap()
        .to_string();
    let (s, appt) = post(
        app,
        "/api/appointments",
        owner,
        json!({ "service_id": service_id, "start": start, "customer_name": marker }),
    )
    .await;
    assert_eq!(s, 201, "{appt}");
    (
        service_id,
        staff["id"].as_i64().unwrap(),
        appt["id"].as_i64().unwrap(),
    )
}

/// Two tenants and an operator's token.
pub struct World {
    pub a: Tenant,
    pub b: Tenant,
    pub operator: String,
}

pub async fn world(app: &TestApp) -> World {
    let a = tenant(app, "a", "+97231111111", "050-1111111").await;
    let b = tenant(app, "b", "+97232222222", "050-2222222").await;
    add_user(app, "ops@example.com", Role::Operator, None).await;
    let operator = login(app, "ops@example.com").await;
    World { a, b, operator }
}

/// Signs in with a given password; the bearer JWT.
pub async fn login_with(app: &TestApp, email: &str, password: &str) -> String {
    let r = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {email}");
    let body: Value = r.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}
