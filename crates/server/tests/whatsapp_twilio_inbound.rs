//! WhatsApp over Twilio, inbound, black-box on both databases (W1, W2, W4): signed and
//! unsigned webhooks, Hebrew and emoji, media, linking to the business and the customer,
//! ten concurrent duplicate deliveries answered once through the `sim` crate's Messages
//! API, and media never fetched off Twilio's origin.

mod common;
mod whatsapp_support;

use common::Backend;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN, params};
use mokdan::store::whatsapp as store;
use serde_json::Value;
use whatsapp_support::twilio::*;
use whatsapp_support::*;

async fn inbound_is_signed_stored_and_linked_with_hebrew_emoji_and_media(backend: Backend) {
    let app = app_with(backend, &[]).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let sid = new_sid();
    let text = "שלום! אפשר לקבוע תור למחר ב-10:00? 🙏💇‍♀️";
    let mut form = inbound_form(&sid, CUSTOMER, text);
    form.retain(|(k, _)| k != "NumMedia");
    form.extend(params(&[
        ("NumMedia", "2"),
        (
            "MediaUrl0",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        ),
        ("MediaContentType0", "image/jpeg"),
        (
            "MediaUrl1",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2",
        ),
        ("MediaContentType1", "audio/ogg"),
        (
            "OriginalRepliedMessageSid",
            "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ),
        ("SomeFieldTwilioAddsTomorrow", "whatever"),
    ]));

    // Unsigned and wrongly signed: refused, nothing stored.
    let r = app
        .http
        .post(app.url("/webhook/whatsapp/twilio"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .post_signed_as(
            "/webhook/whatsapp/twilio",
            "https://evil.example/webhook/whatsapp/twilio",
            &form,
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(app.url("/webhook/whatsapp/status"))
        .form(&params(&[("MessageSid", &sid), ("MessageStatus", "read")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        0
    );

    let r = app.post_signed("/webhook/whatsapp/twilio", &form).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let twiml = r.text().await.unwrap();
    assert!(
        telephony::twiml::parse(&twiml).unwrap().verbs.is_empty(),
        "{twiml}"
    );

    let m = store::by_provider_id(&app.state.db, business_id, "twilio", &sid)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(m.body.as_deref(), Some(text));
    assert_eq!(m.direction, "in");
    assert_eq!(m.from_number.as_deref(), Some(CUSTOMER));
    assert_eq!(m.to_number.as_deref(), Some(BUSINESS_NUMBER));
    assert_eq!(m.profile_name.as_deref(), Some("דנה כהן"));
    assert_eq!(
        m.reply_to.as_deref(),
        Some("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    );
    let media: Value = serde_json::from_str(m.media.as_deref().unwrap()).unwrap();
    assert_eq!(media[0]["content_type"], "image/jpeg");
    assert_eq!(
        media[1]["url"],
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2"
    );
    let customer =
        mokdan::store::customers::get(&app.state.db, business_id, m.customer_id.unwrap())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(customer.phone, CUSTOMER);
    assert_eq!(customer.name.as_deref(), Some("דנה כהן"));
    assert!(customer.last_inbound_at.is_some());
    // Auto-reply is off for this business: nothing goes out.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        store::count(&app.state.db, business_id, "out")
            .await
            .unwrap(),
        0
    );

    // A number no business owns: answered, kept unlinked, no customer created anywhere.
    let mut stray = inbound_form(&new_sid(), "+972504444444", "מי זה?");
    stray.retain(|(k, _)| k != "To");
    stray.push(("To".into(), "whatsapp:+97237777777".into()));
    assert_eq!(
        app.post_signed("/webhook/whatsapp/twilio", &stray)
            .await
            .status(),
        200
    );
    let (unlinked,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM whatsapp_messages WHERE business_id IS NULL AND customer_id IS NULL",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(unlinked, 1);
    assert_eq!(customer_id(&app, business_id, "+972504444444").await, None);
    app.shutdown().await.unwrap();
}
dual_test!(inbound_is_signed_stored_and_linked_with_hebrew_emoji_and_media);

async fn ten_concurrent_duplicates_make_one_row_and_one_hebrew_reply_through_the_sim(
    backend: Backend,
) {
    let sim = sim::Sim::start(sim::SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let api = sim.api_base();
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "twilio")],
    )
    .await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    let sid = new_sid();
    let form = inbound_form(&sid, CUSTOMER, "היי, יש לכם תור פנוי? 😊");
    let mut deliveries = Vec::new();
    for _ in 0..10 {
        let (app_ref, form) = (&app, form.clone());
        deliveries.push(async move {
            app_ref
                .post_signed("/webhook/whatsapp/twilio", &form)
                .await
                .status()
        });
    }
    let statuses = futures::future::join_all(deliveries).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        store::count(&app.state.db, business_id, "in")
            .await
            .unwrap(),
        1
    );
    let customer = customer_id(&app, business_id, CUSTOMER).await.unwrap();

    // One reply, in Hebrew, from the business's number, delivered and finally read.
    let reply = eventually("the reply to be read", || async {
        outbound(&app, business_id, customer)
            .await
            .into_iter()
            .find(|m| m.status == "read")
    })
    .await;
    let body = reply.body.clone().unwrap();
    assert!(body.contains(BUSINESS_NAME), "{body}");
    assert!(body.contains("מה השם שלך?"), "{body}");
    assert_eq!(reply.from_number.as_deref(), Some(BUSINESS_NUMBER));
    assert!(
        reply
            .provider_message_id
            .as_deref()
            .unwrap()
            .starts_with("SM")
    );
    let sent = sim.messages();
    assert_eq!(sent.len(), 1, "one reply only: {sent:?}");
    assert_eq!(sent[0].to, format!("whatsapp:{CUSTOMER}"));
    assert_eq!(sent[0].from, format!("whatsapp:{BUSINESS_NUMBER}"));
    assert_eq!(sent[0].body, body);
    assert_eq!(outbound(&app, business_id, customer).await.len(), 1);

    // The conversation goes on in text mode: the next answer gets the next question.
    let form = inbound_form(&new_sid(), CUSTOMER, "דנה");
    assert_eq!(
        app.post_signed("/webhook/whatsapp/twilio", &form)
            .await
            .status(),
        200
    );
    let second = eventually("the second reply", || async {
        let out = outbound(&app, business_id, customer).await;
        (out.len() == 2 && out[1].provider_message_id.is_some()).then(|| out[1].clone())
    })
    .await;
    assert!(
        second.body.as_deref().unwrap().contains("במה אפשר לעזור"),
        "{:?}",
        second.body
    );
    // Every status callback the sim made was accepted.
    eventually("the sim's callbacks", || async {
        let m = sim.messages();
        (m.len() == 2 && m.iter().all(|m| m.callbacks.len() == 4)).then_some(())
    })
    .await;
    for m in sim.messages() {
        assert!(
            m.callbacks.iter().all(|(_, code)| *code == 200),
            "{:?}",
            m.callbacks
        );
    }
    app.shutdown().await.unwrap();
    sim.shutdown().await;
}
dual_test!(ten_concurrent_duplicates_make_one_row_and_one_hebrew_reply_through_the_sim);

async fn media_off_the_twilio_origin_is_never_fetched(backend: Backend) {
    let (api, _fake) = fake_twilio(vec![], None).await;
    let (elsewhere, other) = fake_twilio(vec![], None).await;
    let app = app_with(backend, &[("TWILIO_API_BASE", &api)]).await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    user(
        &app,
        "owner-a@example.com",
        mokdan::store::users::Role::Owner,
        Some(a),
    )
    .await;
    let mut form = inbound_form(&new_sid(), CUSTOMER, "");
    form.retain(|(k, _)| k != "NumMedia");
    let foreign = format!("{elsewhere}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1");
    form.extend(params(&[
        ("NumMedia", "1"),
        ("MediaUrl0", &foreign),
        ("MediaContentType0", "image/png"),
    ]));
    app.post_signed("/webhook/whatsapp/twilio", &form).await;
    let c = customer_id(&app, a, CUSTOMER).await.unwrap();
    let m = &thread(&app, a, c).await[0];
    assert_eq!(m.body, None);
    let r = get_as(
        &app,
        "owner-a@example.com",
        &format!("/api/whatsapp/messages/{}/media/0", m.id),
    )
    .await;
    assert_eq!(r.status(), 503);
    assert!(
        log_of(&other.log).is_empty(),
        "no request left for a foreign origin"
    );
    app.shutdown().await.unwrap();
}
dual_test!(media_off_the_twilio_origin_is_never_fetched);

/// What a hostile sender's attachments are, as Twilio would serve them back: `(name,
/// declared type, bytes)`.
const HOSTILE_MEDIA: &[(&str, &str, &[u8])] = &[
    (
        "ME0html",
        "text/html",
        b"<!doctype html><script>fetch('/api/users',{method:'POST'})</script>",
    ),
    (
        "ME1svg",
        "image/svg+xml",
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(document.cookie)'/>",
    ),
    (
        "ME2disguised",
        "image/png",
        b"<html><body><script>alert(document.cookie)</script></body></html>",
    ),
    (
        "ME3png",
        "image/png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89",
    ),
];

async fn hostile_attachments_are_sandboxed_downloads_and_only_confirmed_images_inline(
    backend: Backend,
) {
    use axum::extract::Path;
    let router = axum::Router::new().route(
        "/2010-04-01/Accounts/{account}/Messages/{m}/Media/{me}",
        axum::routing::get(
            |Path((_, _, me)): Path<(String, String, String)>| async move {
                let (_, declared, bytes) = HOSTILE_MEDIA.iter().find(|(n, _, _)| *n == me).unwrap();
                ([("content-type", *declared)], bytes.to_vec())
            },
        ),
    );
    let api = serve(router).await;
    let app = app_with(backend, &[("TWILIO_API_BASE", &api)]).await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    user(
        &app,
        "owner-a@example.com",
        mokdan::store::users::Role::Owner,
        Some(a),
    )
    .await;
    let mut form = inbound_form(&new_sid(), CUSTOMER, "");
    form.retain(|(k, _)| k != "NumMedia");
    form.push(("NumMedia".into(), HOSTILE_MEDIA.len().to_string()));
    for (i, (name, declared, _)) in HOSTILE_MEDIA.iter().enumerate() {
        form.push((
            format!("MediaUrl{i}"),
            format!("{api}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/{name}"),
        ));
        form.push((format!("MediaContentType{i}"), declared.to_string()));
    }
    assert_eq!(
        app.post_signed("/webhook/whatsapp/twilio", &form)
            .await
            .status(),
        200
    );
    let c = customer_id(&app, a, CUSTOMER).await.unwrap();
    let m = &thread(&app, a, c).await[0];
    for (i, (name, declared, bytes)) in HOSTILE_MEDIA.iter().enumerate() {
        let r = get_as(
            &app,
            "owner-a@example.com",
            &format!("/api/whatsapp/messages/{}/media/{i}", m.id),
        )
        .await;
        assert_eq!(r.status(), 200, "{name}");
        let h = |k: &str| {
            r.headers()
                .get(k)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(h("x-content-type-options"), "nosniff", "{name}");
        assert_eq!(h("content-security-policy"), "sandbox", "{name}");
        let disposition = h("content-disposition");
        if *name == "ME3png" {
            assert_eq!(h("content-type"), "image/png");
            assert!(disposition.starts_with("inline"), "{disposition}");
        } else {
            assert_eq!(
                h("content-type"),
                "application/octet-stream",
                "{name} ({declared})"
            );
            assert_eq!(
                disposition,
                format!("attachment; filename=\"whatsapp-{}-{i}.bin\"", m.id),
                "{name}"
            );
        }
        assert_eq!(&r.bytes().await.unwrap()[..], *bytes, "the bytes are kept");
    }
    app.shutdown().await.unwrap();
}
dual_test!(hostile_attachments_are_sandboxed_downloads_and_only_confirmed_images_inline);
/// Every WhatsApp row and customer of the app (linked or not).
async fn stored_rows(app: &common::TestApp) -> (i64, i64) {
    let (messages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM whatsapp_messages")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    let (customers,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM customers")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    (messages, customers)
}

/// Posts `event` to the bridge's webhook (no secret: development); the answer.
async fn bridge_event(app: &common::TestApp, event: &Value) -> (u16, Value) {
    let r = app
        .http
        .post(app.url("/webhook/whatsapp/baileys"))
        .json(event)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn webhooks_of_a_provider_not_configured_are_answered_and_keep_nothing(backend: Backend) {
    // WhatsApp is off (no WHATSAPP_PROVIDER), though Twilio itself is configured.
    let (api, fake) = fake_twilio(vec![], None).await;
    let app = app_with(
        backend,
        &[("TWILIO_API_BASE", &api), ("WHATSAPP_PROVIDER", "")],
    )
    .await;
    business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;

    // Twilio: 200 with empty TwiML, for a message and for a status.
    let form = inbound_form(&new_sid(), CUSTOMER, "שלום, יש תור פנוי?");
    let r = app.post_signed("/webhook/whatsapp/twilio", &form).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let twiml = r.text().await.unwrap();
    assert!(
        twiml.contains("<Response") && !twiml.contains("<Message"),
        "{twiml}"
    );
    status(&app, &new_sid(), "delivered", None).await;
    // Meta: 200 (it retries anything else for days).
    let note = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "97231234567", "phone_number_id": "106540352242922"},
        "contacts": [{"wa_id": "972501234567", "profile": {"name": "דנה"}}],
        "messages": [{"id": "wamid.off1", "from": "972501234567", "timestamp": "1700000000", "type": "text", "text": {"body": "שלום"}}],
        "statuses": [{"id": "wamid.sent1", "status": "read", "recipient_id": "972501234567"}]}}]}]});
    let r = app
        .http
        .post(app.url("/webhook/whatsapp/meta"))
        .json(&note)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The bridge: its contract's 200, saying the event was ignored (not worth a retry).
    let event = serde_json::json!({"event": "message", "id": "3EB0OFF1",
        "from": "972501234567@s.whatsapp.net", "to": BUSINESS_NUMBER, "text": "היי"});
    let (code, answer) = bridge_event(&app, &event).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["stored"], 0);
    assert_eq!(answer["ignored"], 1);

    // Nothing stored (no message, no early status, no customer) and nothing sent.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(stored_rows(&app).await, (0, 0));
    let (statuses,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM whatsapp_early_statuses")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(statuses, 0);
    assert!(log_of(&fake.log).is_empty(), "no reply reached Twilio");
    app.shutdown().await.unwrap();

    // With the bridge configured, the bridge's events are kept and Twilio's are not.
    let app = app_with(
        backend,
        &[
            ("TWILIO_API_BASE", &api),
            ("WHATSAPP_PROVIDER", "baileys"),
            ("BAILEYS_BRIDGE_URL", "http://127.0.0.1:9"),
        ],
    )
    .await;
    let a = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    let r = app.post_signed("/webhook/whatsapp/twilio", &form).await;
    assert_eq!(r.status(), 200);
    assert_eq!(stored_rows(&app).await, (0, 0));
    let (code, answer) = bridge_event(&app, &event).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["stored"], 1, "{answer}");
    assert_eq!(stored_rows(&app).await, (1, 1));
    let c = customer_id(&app, a, CUSTOMER).await.unwrap();
    assert_eq!(thread(&app, a, c).await[0].provider, "baileys");
    app.shutdown().await.unwrap();
}
dual_test!(webhooks_of_a_provider_not_configured_are_answered_and_keep_nothing);
