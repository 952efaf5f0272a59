//! WhatsApp over Meta's Cloud API, black-box on both databases (W2–W5): the verification
//! handshake, `X-Hub-Signature-256` over the raw bytes (Meta's wire form escapes Hebrew as
//! `\uXXXX`), text and media messages, concurrent duplicate deliveries, statuses out of
//! order, the 24-hour window with templates, idempotent sends and media through the
//! Graph API. Meta is played by a local stand-in that follows its published shapes.

mod common;
mod whatsapp_support;

use common::{Backend, TestApp};
use mokdan::store::whatsapp as store;
use serde_json::{Value, json};
use whatsapp_support::meta::*;
use whatsapp_support::*;

/// JSON as Meta puts it on the wire: every non-ASCII character escaped as `\uXXXX`.
fn meta_wire(v: &Value) -> Vec<u8> {
    let mut out = String::new();
    for c in serde_json::to_string(v).unwrap().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}

fn notification(value: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": value}]}]})
}

fn messages_value(messages: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS_NUMBER.trim_start_matches('+'), "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "דנה כהן"}, "wa_id": CUSTOMER.trim_start_matches('+')}],
        "messages": messages,
    })
}

fn text_message(id: &str, body: &str) -> Value {
    json!({"from": CUSTOMER.trim_start_matches('+'), "id": id, "timestamp": "1732190000",
           "type": "text", "text": {"body": body}})
}

fn statuses_value(id: &str, status: &str, error_code: Option<i64>) -> Value {
    let mut s = json!({"id": id, "status": status, "timestamp": "1732190001",
        "recipient_id": CUSTOMER.trim_start_matches('+'),
        "conversation": {"id": "c1", "origin": {"type": "service"}},
        "pricing": {"billable": true, "pricing_model": "CBP", "category": "service"}});
    if let Some(code) = error_code {
        s["errors"] = json!([{"code": code, "title": "Re-engagement message",
            "message": "Re-engagement message", "error_data": {"details": "outside the window"}}]);
    }
    json!({"messaging_product": "whatsapp",
           "metadata": {"display_phone_number": BUSINESS_NUMBER.trim_start_matches('+'), "phone_number_id": PHONE_NUMBER_ID},
           "statuses": [s]})
}

async fn post_meta(app: &TestApp, body: &[u8], signature: Option<String>) -> u16 {
    let mut req = app
        .http
        .post(app.url("/webhook/whatsapp/meta"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(sig) = signature {
        req = req.header("X-Hub-Signature-256", sig);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn post_signed(app: &TestApp, payload: &Value) -> u16 {
    let bytes = meta_wire(payload);
    post_meta(
        app,
        &bytes,
        Some(mokdan::whatsapp::meta::sign(APP_SECRET, &bytes)),
    )
    .await
}

async fn verification_and_signatures_on_the_raw_bytes(backend: Backend) {
    let (graph, _f) = fake_meta().await;
    let app = app_with(backend, &graph).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let r = app.get(&format!("/webhook/whatsapp/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "1158201444");
    let r = app.get("/webhook/whatsapp/meta?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess").await;
    assert_eq!(r.status(), 403);

    let text = "שלום, מה שעות הפתיחה? 🕙✨";
    let payload = notification(messages_value(json!([text_message(
        "wamid.HBgMOTcyNTAxMjM0NTY3FQIAEhggQTE=",
        text
    )])));
    let wire = meta_wire(&payload);
    assert!(
        !String::from_utf8(wire.clone()).unwrap().contains('ש'),
        "escaped like Meta's wire form"
    );
    // Unsigned, signed with another secret, or signed over the unescaped form: refused.
    assert_eq!(post_meta(&app, &wire, None).await, 403);
    assert_eq!(
        post_meta(
            &app,
            &wire,
            Some(mokdan::whatsapp::meta::sign("other", &wire))
        )
        .await,
        403
    );
    let plain = serde_json::to_vec(&payload).unwrap();
    assert_eq!(
        post_meta(
            &app,
            &wire,
            Some(mokdan::whatsapp::meta::sign(APP_SECRET, &plain))
        )
        .await,
        403
    );
    assert_eq!(post_meta(&app, &wire, Some("sha256=zz".into())).await, 403);
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        0
    );

    assert_eq!(post_signed(&app, &payload).await, 200);
    let m = store::by_provider_id(
        &app.state.db,
        business_id,
        "meta",
        "wamid.HBgMOTcyNTAxMjM0NTY3FQIAEhggQTE=",
    )
    .await
    .unwrap()
    .expect("stored");
    assert_eq!(m.body.as_deref(), Some(text));
    assert_eq!(m.from_number.as_deref(), Some(CUSTOMER));
    assert_eq!(m.to_number.as_deref(), Some(BUSINESS_NUMBER));
    assert_eq!(m.profile_name.as_deref(), Some("דנה כהן"));
    let c = mokdan::store::customers::get(&app.state.db, business_id, m.customer_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.name.as_deref(), Some("דנה כהן"));
    assert!(c.last_inbound_at.is_some());
    app.shutdown().await.unwrap();
}
dual_test!(verification_and_signatures_on_the_raw_bytes);

async fn media_messages_keep_ids_and_are_fetched_through_the_graph_api(backend: Backend) {
    let (graph, f) = fake_meta().await;
    let app = app_with(backend, &graph).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    user(
        &app,
        "owner@example.com",
        mokdan::store::users::Role::Owner,
        Some(business_id),
    )
    .await;
    let from = CUSTOMER.trim_start_matches('+');
    let payload = notification(messages_value(json!([
        {"from": from, "id": "wamid.IMG1", "timestamp": "1", "type": "image",
         "image": {"caption": "הקבלה 🧾", "mime_type": "image/jpeg", "sha256": "x", "id": "1234567890"}},
        {"from": from, "id": "wamid.AUD1", "timestamp": "2", "type": "audio",
         "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "y", "id": "2234567890", "voice": true}},
        {"from": from, "id": "wamid.DOC1", "timestamp": "3", "type": "document",
         "document": {"filename": "חשבונית.pdf", "mime_type": "application/pdf", "sha256": "z", "id": "3234567890"},
         "context": {"from": from, "id": "wamid.IMG1"}},
        {"from": from, "id": "wamid.UNK1", "timestamp": "4", "type": "unsupported", "errors": [{"code": 131051}]},
    ])));
    assert_eq!(post_signed(&app, &payload).await, 200);
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        4
    );
    let img = store::by_provider_id(&app.state.db, business_id, "meta", "wamid.IMG1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(img.body.as_deref(), Some("הקבלה 🧾"));
    let media: Value = serde_json::from_str(img.media.as_deref().unwrap()).unwrap();
    assert_eq!(
        media,
        json!([{"id": "1234567890", "content_type": "image/jpeg"}])
    );
    let doc = store::by_provider_id(&app.state.db, business_id, "meta", "wamid.DOC1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.reply_to.as_deref(), Some("wamid.IMG1"));
    assert!(doc.media.as_deref().unwrap().contains("חשבונית.pdf"));

    let r = get_as(
        &app,
        "owner@example.com",
        &format!("/api/whatsapp/messages/{}/media/0", img.id),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &[0xFF, 0xD8, 0xFF, 9, 9]);
    let seen = log_of(&f.log);
    assert!(seen.iter().any(|s| s.path == "/v21.0/1234567890"));
    assert!(
        seen.iter().all(|s| bearer_ok(&s.headers)),
        "every Graph request carries the token"
    );
    app.shutdown().await.unwrap();
}
dual_test!(media_messages_keep_ids_and_are_fetched_through_the_graph_api);

async fn ten_concurrent_duplicates_make_one_row_and_one_reply(backend: Backend) {
    let (graph, f) = fake_meta().await;
    let app = app_with(backend, &graph).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    let payload = notification(messages_value(json!([text_message(
        "wamid.DUP1",
        "היי 👋"
    )])));
    let codes = futures::future::join_all((0..10).map(|_| post_signed(&app, &payload))).await;
    assert!(codes.iter().all(|c| *c == 200), "{codes:?}");
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        1
    );
    let customer = customer_id(&app, business_id, CUSTOMER).await.unwrap();
    let reply = eventually("the reply", || async {
        outbound(&app, business_id, customer)
            .await
            .into_iter()
            .find(|m| m.provider_message_id.is_some())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let seen = sends(&f);
    assert_eq!(seen.len(), 1, "one reply");
    let body = seen[0].json();
    assert_eq!(body["messaging_product"], "whatsapp");
    assert_eq!(body["type"], "text");
    assert_eq!(body["to"], "972501234567");
    assert_eq!(body["context"]["message_id"], "wamid.DUP1");
    let text = body["text"]["body"].as_str().unwrap();
    assert!(text.contains(BUSINESS_NAME), "{text}");
    assert_eq!(reply.body.as_deref(), Some(text));
    assert_eq!(outbound(&app, business_id, customer).await.len(), 1);
    app.shutdown().await.unwrap();
}
dual_test!(ten_concurrent_duplicates_make_one_row_and_one_reply);

async fn statuses_out_of_order_end_at_the_highest_and_failures_stay(backend: Backend) {
    let (graph, _f) = fake_meta().await;
    let app = app_with(backend, &graph).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    customer_wrote_ago(&app, business_id, CUSTOMER, Some(5_000)).await;
    let (code, sent) = send(
        &app,
        json!({"business_id": business_id, "to": CUSTOMER, "body": "נשלח"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{sent}");
    let wamid = settled_answer(&app, business_id, &sent)
        .await
        .provider_message_id
        .unwrap();
    assert!(wamid.starts_with("wamid."));
    // Meta skips `delivered` here, and a late `sent` arrives after `read`.
    for s in ["read", "sent"] {
        assert_eq!(
            post_signed(&app, &notification(statuses_value(&wamid, s, None))).await,
            200
        );
    }
    let m = store::by_provider_id(&app.state.db, business_id, "meta", &wamid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, "read");

    let (_, second) = send(
        &app,
        json!({"business_id": business_id, "to": CUSTOMER, "body": "שוב"}),
        None,
    )
    .await;
    let wamid2 = settled_answer(&app, business_id, &second)
        .await
        .provider_message_id
        .unwrap();
    for (s, code) in [
        ("sent", None),
        ("failed", Some(131047)),
        ("delivered", None),
        ("read", None),
    ] {
        post_signed(&app, &notification(statuses_value(&wamid2, s, code))).await;
    }
    let m = store::by_provider_id(&app.state.db, business_id, "meta", &wamid2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (m.status.as_str(), m.error_code.as_deref()),
        ("failed", Some("131047"))
    );
    assert_eq!(m.error_message.as_deref(), Some("Re-engagement message"));
    app.shutdown().await.unwrap();
}
dual_test!(statuses_out_of_order_end_at_the_highest_and_failures_stay);

async fn the_window_refuses_free_text_and_templates_go_out(backend: Backend) {
    let (graph, f) = fake_meta().await;
    let app = app_with(backend, &graph).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    let c = customer_wrote_ago(&app, business_id, CUSTOMER, Some(30 * 3600 * 1000)).await;
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": c, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (422, Some("template_required"))
    );
    assert!(sends(&f).is_empty());
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": c,
        "template": {"content_sid": "appointment_reminder", "variables": ["דנה", "מחר ב-10:00"]}}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    settled_answer(&app, business_id, &body).await;
    let seen = sends(&f);
    assert_eq!(seen.len(), 1);
    let sent = seen[0].json();
    assert_eq!(sent["type"], "template");
    assert_eq!(sent["template"]["name"], "appointment_reminder");
    assert_eq!(sent["template"]["language"]["code"], "he");
    assert_eq!(
        sent["template"]["components"][0]["parameters"][1]["text"],
        "מחר ב-10:00"
    );
    let (code, _) = send(
        &app,
        json!({"business_id": business_id, "customer_id": c,
        "template": {"content_sid": "Bad Name!"}}),
        None,
    )
    .await;
    assert_eq!(code, 422);
    app.shutdown().await.unwrap();
}
dual_test!(the_window_refuses_free_text_and_templates_go_out);

async fn idempotent_sends_reach_meta_once(backend: Backend) {
    let (graph, f) = fake_meta().await;
    let app = app_with(backend, &graph).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    customer_wrote_ago(&app, business_id, CUSTOMER, Some(1_000)).await;
    let req = json!({"business_id": business_id, "to": "050-1234567", "body": "אישור תור ✅"});
    let all =
        futures::future::join_all((0..6).map(|_| send(&app, req.clone(), Some("retry-me")))).await;
    let ids: Vec<&Value> = all.iter().map(|(_, b)| &b["id"]).collect();
    assert!(all.iter().all(|(c, _)| *c == 200), "{all:?}");
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    settled_answer(&app, business_id, &all[0].1).await;
    let (_, late) = send(&app, req.clone(), Some("retry-me")).await;
    assert_eq!(late["id"], all[0].1["id"]);
    assert!(late["provider_message_id"].is_string(), "{late}");
    assert_eq!(sends(&f).len(), 1);
    app.shutdown().await.unwrap();
}
dual_test!(idempotent_sends_reach_meta_once);

/// `PATCH /api/businesses/{id}` as `email`; the status and the answer.
async fn patch_business(app: &TestApp, email: &str, id: i64, body: Value) -> (u16, Value) {
    let token = token(app, email).await;
    let r = app
        .http
        .patch(app.url(&format!("/api/businesses/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Sends as the operator for business `b` to its customer; the phone number id Meta got the
/// send on.
async fn sent_on(app: &TestApp, f: &FakeMeta, b: i64, customer: i64) -> String {
    let before = sends(f).len();
    let (code, body) = send(
        app,
        json!({"business_id": b, "customer_id": customer, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    settled_answer(app, b, &body).await;
    let seen = sends(f);
    assert_eq!(seen.len(), before + 1);
    seen[before]
        .path
        .trim_start_matches("/v21.0/")
        .trim_end_matches("/messages")
        .to_string()
}

async fn each_business_sends_from_its_own_meta_number(backend: Backend) {
    use mokdan::store::users::Role;
    let (graph, f) = fake_meta().await;
    // META_PHONE_NUMBER_ID is PHONE_NUMBER_ID.
    let app = app_with(backend, &graph).await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let b = business(&app, "+97239999999", "מאפיית יוסי", false).await;
    let c = business(&app, "+97238888888", "מוסך דוד", false).await;
    operator(&app).await;
    user(&app, "owner-b@example.com", Role::Owner, Some(b)).await;
    let [b_id, _] = OTHER_PHONE_NUMBER_IDS;

    // Operators set each business's id; owners may not change it; one id, one business.
    let (code, out) = patch_business(
        &app,
        OPERATOR_EMAIL,
        a,
        json!({"meta_phone_number_id": PHONE_NUMBER_ID}),
    )
    .await;
    assert_eq!(code, 200, "{out}");
    assert_eq!(out["meta_phone_number_id"], PHONE_NUMBER_ID);
    let (code, out) = patch_business(
        &app,
        OPERATOR_EMAIL,
        b,
        json!({"meta_phone_number_id": b_id}),
    )
    .await;
    assert_eq!(code, 200, "{out}");
    let (code, _) = patch_business(
        &app,
        "owner-b@example.com",
        b,
        json!({"meta_phone_number_id": "106540352242924"}),
    )
    .await;
    assert_eq!(code, 403);
    let (code, out) = patch_business(
        &app,
        "owner-b@example.com",
        b,
        json!({"greeting": "שלום", "meta_phone_number_id": b_id}),
    )
    .await;
    assert_eq!(
        code, 200,
        "an owner's client may send it back unchanged: {out}"
    );
    let (code, out) = patch_business(
        &app,
        OPERATOR_EMAIL,
        c,
        json!({"meta_phone_number_id": b_id}),
    )
    .await;
    assert_eq!(code, 409, "{out}");
    let (code, _) = patch_business(
        &app,
        OPERATOR_EMAIL,
        c,
        json!({"meta_phone_number_id": "12ab"}),
    )
    .await;
    assert_eq!(code, 422);
    let r = get_as(&app, "owner-b@example.com", &format!("/api/businesses/{b}")).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["meta_phone_number_id"],
        b_id
    );

    let cust_a = customer_wrote_ago(&app, a, CUSTOMER, Some(60_000)).await;
    let cust_b = customer_wrote_ago(&app, b, "+972503333333", Some(60_000)).await;
    let cust_c = customer_wrote_ago(&app, c, "+972504444444", Some(60_000)).await;
    assert_eq!(sent_on(&app, &f, a, cust_a).await, PHONE_NUMBER_ID);
    assert_eq!(sent_on(&app, &f, b, cust_b).await, b_id);
    // C has no id of its own, and the default is A's: refused, nothing reaches Meta.
    let before = sends(&f).len();
    let (code, err) = send(
        &app,
        json!({"business_id": c, "customer_id": cust_c, "body": "שלום"}),
        None,
    )
    .await;
    assert_eq!(code, 422, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("meta_phone_number_id"),
        "{err}"
    );
    assert_eq!(sends(&f).len(), before);

    // Once no business has the default as its own, it is the fallback of those without.
    let (code, out) = patch_business(
        &app,
        OPERATOR_EMAIL,
        a,
        json!({"meta_phone_number_id": null}),
    )
    .await;
    assert_eq!(code, 200, "{out}");
    assert_eq!(sent_on(&app, &f, c, cust_c).await, PHONE_NUMBER_ID);
    assert_eq!(sent_on(&app, &f, b, cust_b).await, b_id);
    app.shutdown().await.unwrap();
}
dual_test!(each_business_sends_from_its_own_meta_number);
