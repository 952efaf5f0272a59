//! WhatsApp over Twilio, tenant scoping, black-box on both databases (W3, S1): threads,
//! media and sends are per business; another tenant's data is not found, exactly like data
//! that does not exist; every error under `/api/whatsapp` has the one JSON shape.

mod common;
mod whatsapp_support;

use common::Backend;
use common::twilio::{ACCOUNT_SID, params};
use serde_json::{Value, json};
use whatsapp_support::twilio::*;
use whatsapp_support::*;

async fn threads_and_media_are_tenant_scoped(backend: Backend) {
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(backend, &[("TWILIO_API_BASE", &api)]).await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let b = business(&app, "+97239999999", "מאפיית יוסי", false).await;
    operator(&app).await;
    user(
        &app,
        "owner-a@example.com",
        mokdan::store::users::Role::Owner,
        Some(a),
    )
    .await;
    let media_url = format!("{api}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1");
    let mut form = inbound_form(&new_sid(), CUSTOMER, "תמונה 📷");
    form.retain(|(k, _)| k != "NumMedia");
    form.extend(params(&[
        ("NumMedia", "1"),
        ("MediaUrl0", &media_url),
        ("MediaContentType0", "image/jpeg"),
    ]));
    app.post_signed("/webhook/whatsapp/twilio", &form).await;
    let mut to_b = inbound_form(&new_sid(), "+972503333333", "לחם");
    to_b.retain(|(k, _)| k != "To");
    to_b.push(("To".into(), "whatsapp:+97239999999".into()));
    app.post_signed("/webhook/whatsapp/twilio", &to_b).await;

    let r = get_as(&app, "owner-a@example.com", "/api/whatsapp/threads").await;
    assert_eq!(r.status(), 200);
    let threads: Value = r.json().await.unwrap();
    let list = threads["threads"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{threads}");
    assert_eq!(list[0]["phone"], CUSTOMER);
    assert_eq!(list[0]["last_body"], "תמונה 📷");
    let cust_a = list[0]["customer_id"].as_i64().unwrap();
    let cust_b = customer_id(&app, b, "+972503333333").await.unwrap();
    let r = get_as(
        &app,
        "owner-a@example.com",
        &format!("/api/whatsapp/threads/{cust_b}"),
    )
    .await;
    assert_eq!(r.status(), 404);
    // Another business is not found, exactly like one that does not exist (C4).
    let r = get_as(
        &app,
        "owner-a@example.com",
        &format!("/api/whatsapp/threads?business_id={b}"),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_of(r).await, "not_found");
    let r = get_as(&app, OPERATOR_EMAIL, "/api/whatsapp/threads").await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_of(r).await, "invalid");
    let r = get_as(
        &app,
        OPERATOR_EMAIL,
        &format!("/api/whatsapp/threads?business_id={b}"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let threads: Value = r.json().await.unwrap();
    assert_eq!(threads["threads"][0]["customer_id"], json!(cust_b));
    let r = app.get("/api/whatsapp/threads").await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_of(r).await, "unauthorized");

    let thread: Value = get_as(
        &app,
        "owner-a@example.com",
        &format!("/api/whatsapp/threads/{cust_a}"),
    )
    .await
    .json()
    .await
    .unwrap();
    let msg = &thread["messages"][0];
    assert_eq!(thread["window_open"], true);
    let url = msg["media"][0]["url"].as_str().unwrap().to_string();
    let r = get_as(&app, "owner-a@example.com", &url).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]
    );
    let seen = log_of(&fake.log);
    let auth = seen.last().unwrap().header("authorization").unwrap();
    assert!(
        auth.starts_with("Basic "),
        "fetched with Twilio credentials"
    );
    // Another business's message is not found; a missing item is 404.
    let r = get_as(&app, OPERATOR_EMAIL, &format!("{url}?business_id={b}")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(error_of(r).await, "not_found");
    let r = get_as(&app, OPERATOR_EMAIL, &format!("{url}?business_id={a}")).await;
    assert_eq!(r.status(), 200);
    let r = get_as(
        &app,
        "owner-a@example.com",
        &url.replace("/media/0", "/media/1"),
    )
    .await;
    assert_eq!(r.status(), 404);
    app.shutdown().await.unwrap();
}
dual_test!(threads_and_media_are_tenant_scoped);

async fn sends_are_per_business(backend: Backend) {
    use mokdan::store::users::Role;
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let b = business(&app, "+97239999999", "מאפיית יוסי", false).await;
    operator(&app).await;
    user(&app, "owner-a@example.com", Role::Owner, Some(a)).await;
    user(&app, "agent-a@example.com", Role::Agent, Some(a)).await;
    user(&app, "owner-b@example.com", Role::Owner, Some(b)).await;
    let cust_a = customer_wrote_ago(&app, a, CUSTOMER, Some(60_000)).await;
    let b_phone = "+972503333333";
    let cust_b = customer_wrote_ago(&app, b, b_phone, Some(60_000)).await;
    let path = "/api/whatsapp/send";

    // Owners and agents send for their own business, without naming it.
    for (n, who) in ["owner-a@example.com", "agent-a@example.com"]
        .into_iter()
        .enumerate()
    {
        let (code, m) = send_as(
            &app,
            who,
            path,
            json!({"customer_id": cust_a, "body": "שלום מהעסק"}),
            None,
        )
        .await;
        assert_eq!(code, 200, "{who}: {m}");
        assert_eq!(m["business_id"], json!(a));
        assert_eq!(m["customer_id"], json!(cust_a));
        let seen = seen_at_least(&fake.log, n + 1).await;
        assert_eq!(seen.len(), n + 1);
        assert_eq!(
            seen[n].field("From").as_deref(),
            Some(format!("whatsapp:{BUSINESS_NUMBER}").as_str())
        );
    }
    let (code, m) = send_as(
        &app,
        "owner-b@example.com",
        path,
        json!({"customer_id": cust_b, "body": "לחם טרי"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["business_id"], json!(b));
    assert_eq!(
        seen_at_least(&fake.log, 3).await[2]
            .field("From")
            .as_deref(),
        Some("whatsapp:+97239999999")
    );
    let sent = log_of(&fake.log).len();

    // Another tenant's customer, or another business named in the body or the query: 404,
    // as if it did not exist, and nothing reaches Twilio.
    for (who, path, body) in [
        (
            "agent-a@example.com",
            path.to_string(),
            json!({"customer_id": cust_b, "body": "x"}),
        ),
        (
            "owner-a@example.com",
            path.to_string(),
            json!({"business_id": b, "customer_id": cust_b, "body": "x"}),
        ),
        (
            "owner-a@example.com",
            format!("{path}?business_id={b}"),
            json!({"customer_id": cust_b, "body": "x"}),
        ),
        (
            OPERATOR_EMAIL,
            path.to_string(),
            json!({"business_id": a, "customer_id": cust_b, "body": "x"}),
        ),
        (
            OPERATOR_EMAIL,
            path.to_string(),
            json!({"business_id": 987_654, "customer_id": cust_b, "body": "x"}),
        ),
    ] {
        let (code, err) = send_as(&app, who, &path, body.clone(), None).await;
        assert_eq!(code, 404, "{who} {path} {body}: {err}");
        assert_eq!(error_code(&err), "not_found");
    }
    // Writing to B's customer's number from A reaches a customer of A, never B's thread:
    // a new customer of A, who never wrote, so free text is refused.
    let (code, err) = send_as(
        &app,
        "agent-a@example.com",
        path,
        json!({"to": b_phone, "body": "x"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(error_code(&err), "template_required");
    assert_eq!(thread(&app, b, cust_b).await.len(), 1);

    // An operator must name the business (body or query), consistently.
    let (code, err) = send_as(
        &app,
        OPERATOR_EMAIL,
        path,
        json!({"customer_id": cust_b, "body": "x"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(error_code(&err), "invalid");
    let (code, err) = send_as(
        &app,
        OPERATOR_EMAIL,
        &format!("{path}?business_id={a}"),
        json!({"business_id": b, "customer_id": cust_b, "body": "x"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{err}");
    assert_eq!(error_code(&err), "invalid");
    assert_eq!(
        log_of(&fake.log).len(),
        sent,
        "no refused send reached Twilio"
    );
    let (code, m) = send_as(
        &app,
        OPERATOR_EMAIL,
        &format!("{path}?business_id={b}"),
        json!({"customer_id": cust_b, "body": "מהמפעיל"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["business_id"], json!(b));
    let (code, m) = send_as(
        &app,
        OPERATOR_EMAIL,
        path,
        json!({"business_id": a, "customer_id": cust_a, "body": "מהמפעיל"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{m}");
    assert_eq!(m["business_id"], json!(a));
    assert_eq!(seen_at_least(&fake.log, sent + 2).await.len(), sent + 2);

    // The same Idempotency-Key in two businesses is two messages.
    let (_, in_a) = send_as(
        &app,
        "owner-a@example.com",
        path,
        json!({"customer_id": cust_a, "body": "k"}),
        Some("same-key"),
    )
    .await;
    let (_, in_b) = send_as(
        &app,
        "owner-b@example.com",
        path,
        json!({"customer_id": cust_b, "body": "k"}),
        Some("same-key"),
    )
    .await;
    assert_ne!(in_a["id"], in_b["id"]);
    assert_eq!(in_b["business_id"], json!(b));

    // Every error under /api/whatsapp has the one JSON shape, axum's own included.
    let r = app
        .http
        .post(app.url(path))
        .json(&json!({"customer_id": cust_a, "body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(error_of(r).await, "unauthorized");
    let (code, err) = send_as(&app, "owner-a@example.com", path, json!({"nope": 1}), None).await;
    assert_eq!(code, 422);
    assert_eq!(error_code(&err), "invalid");
    let r = get_as(&app, "owner-a@example.com", path).await;
    assert_eq!(r.status(), 405);
    assert_eq!(error_of(r).await, "method_not_allowed");
    let r = get_as(&app, "owner-a@example.com", "/api/whatsapp/threads/abc").await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_of(r).await, "bad_request");
    let r = get_as(
        &app,
        "owner-a@example.com",
        "/api/whatsapp/threads?business_id=x",
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(error_of(r).await, "invalid");
    app.shutdown().await.unwrap();
}
dual_test!(sends_are_per_business);

/// Sends `body` as the operator for business `b` to its customer; the `From` Twilio got.
async fn sent_from(
    app: &common::TestApp,
    fake: &FakeTwilio,
    b: i64,
    customer: i64,
) -> Option<String> {
    let before = log_of(&fake.log).len();
    let (code, m) = send(
        app,
        json!({"business_id": b, "customer_id": customer, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{m}");
    seen_at_least(&fake.log, before + 1).await[before].field("From")
}

async fn each_business_sends_from_its_own_number(backend: Backend) {
    let (api, fake) = fake_twilio(vec![], None).await;
    // The service default is business A's own number.
    let app = app_with(
        backend,
        &[
            ("TWILIO_API_BASE", &api),
            ("WHATSAPP_PROVIDER", "twilio"),
            ("TWILIO_WHATSAPP_FROM", BUSINESS_NUMBER),
        ],
    )
    .await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    let b = business(&app, "+97239999999", "מאפיית יוסי", true).await;
    let c = business(&app, "+97238888888", "מוסך דוד", false).await;
    sqlx::query("UPDATE businesses SET whatsapp_number = '+97237777777' WHERE id = $1")
        .bind(c)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    operator(&app).await;
    let b_customer = "+972503333333";
    let cust_a = customer_wrote_ago(&app, a, CUSTOMER, Some(60_000)).await;
    let cust_b = customer_wrote_ago(&app, b, b_customer, Some(60_000)).await;
    let cust_c = customer_wrote_ago(&app, c, "+972504444444", Some(60_000)).await;

    // A sends from the default, which is its own; B never from A's number, but its own;
    // C from its WhatsApp number.
    let from_a = sent_from(&app, &fake, a, cust_a).await;
    assert_eq!(from_a.as_deref(), Some("whatsapp:+97231234567"));
    let from_b = sent_from(&app, &fake, b, cust_b).await;
    assert_eq!(from_b.as_deref(), Some("whatsapp:+97239999999"));
    let from_c = sent_from(&app, &fake, c, cust_c).await;
    assert_eq!(from_c.as_deref(), Some("whatsapp:+97237777777"));

    // B's customer answers the number B wrote from: the reply lands in B's thread, and
    // nothing of it reaches A.
    let mut reply = inbound_form(&new_sid(), b_customer, "תודה, אגיע מחר");
    reply.retain(|(k, _)| k != "To");
    reply.push(("To".into(), from_b.clone().unwrap()));
    assert_eq!(
        app.post_signed("/webhook/whatsapp/twilio", &reply)
            .await
            .status(),
        200
    );
    let in_b = eventually("B's auto-reply", || async {
        let out = outbound(&app, b, cust_b).await;
        (out.len() >= 2).then_some(out)
    })
    .await;
    assert_eq!(in_b[1].from_number.as_deref(), Some("+97239999999"));
    assert_eq!(
        thread(&app, b, cust_b).await.len(),
        3,
        "send, reply, auto-reply"
    );
    assert_eq!(customer_id(&app, a, b_customer).await, None);

    // A business with no number of its own may not borrow A's: refused before Twilio.
    let d = business(&app, "+97236666666", "חנות", false).await;
    sqlx::query("DELETE FROM business_numbers WHERE business_id = $1")
        .bind(d)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let cust_d = customer_wrote_ago(&app, d, "+972505555555", Some(60_000)).await;
    let sent = log_of(&fake.log).len();
    let (code, err) = send(
        &app,
        json!({"business_id": d, "customer_id": cust_d, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("whatsapp_number"),
        "{err}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(log_of(&fake.log).len(), sent, "nothing reached Twilio");
    app.shutdown().await.unwrap();

    // A default no business owns is the fallback of a business without a WhatsApp number.
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(
        backend,
        &[
            ("TWILIO_API_BASE", &api),
            ("WHATSAPP_PROVIDER", "twilio"),
            ("TWILIO_WHATSAPP_FROM", "whatsapp:+97235555555"),
        ],
    )
    .await;
    let b = business(&app, "+97239999999", "מאפיית יוסי", false).await;
    operator(&app).await;
    let cust_b = customer_wrote_ago(&app, b, b_customer, Some(60_000)).await;
    let from = sent_from(&app, &fake, b, cust_b).await;
    assert_eq!(from.as_deref(), Some("whatsapp:+97235555555"));
    app.shutdown().await.unwrap();
}
dual_test!(each_business_sends_from_its_own_number);
