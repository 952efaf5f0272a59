//! Booking in writing (#19; X3, W2, C4), on SQLite and PostgreSQL: a customer asks for an
//! appointment on WhatsApp, the business's model (an OpenAI-compatible stand-in that books
//! as a receptionist would) finds a free time and books it through the same appointment
//! book as on the phone, and the reply the customer gets over Meta's Cloud API (a local
//! stand-in) says what the booking's result says. The appointment is the business's, for
//! the number that wrote, from WhatsApp; a business that offers no service gives the model
//! no appointment tools.

mod appointments_support;
mod common;
mod whatsapp_support;

use appointments_support::{Model, NAME, SERVICE, TUESDAY, salon};
use common::{Backend, TestApp};
use serde_json::{Value, json};
use whatsapp_support::meta::*;
use whatsapp_support::*;

fn inbound(id: &str, body: &str) -> Vec<u8> {
    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
    "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": BUSINESS_NUMBER.trim_start_matches('+'),
                     "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": NAME}, "wa_id": CUSTOMER.trim_start_matches('+')}],
        "messages": [{"from": CUSTOMER.trim_start_matches('+'), "id": id,
            "timestamp": "1732190000", "type": "text", "text": {"body": body}}],
    }}]}]});
    serde_json::to_vec(&payload).unwrap()
}

async fn app(backend: Backend, graph: &str, model: &Model) -> TestApp {
    let api = format!("{graph}/v21.0");
    let mut vars: Vec<(&str, String)> = vec![
        ("WHATSAPP_PROVIDER", "meta".into()),
        ("META_APP_SECRET", APP_SECRET.into()),
        ("META_VERIFY_TOKEN", VERIFY_TOKEN.into()),
        ("META_ACCESS_TOKEN", ACCESS_TOKEN.into()),
        ("META_PHONE_NUMBER_ID", PHONE_NUMBER_ID.into()),
        ("META_API_BASE", api),
    ];
    vars.extend(model.env());
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_with(backend, &vars).await
}

async fn write(app: &TestApp, id: &str, body: &str) {
    let bytes = inbound(id, body);
    let status = app
        .http
        .post(app.url("/webhook/whatsapp/meta"))
        .header("content-type", "application/json")
        .header(
            "X-Hub-Signature-256",
            mokdan::whatsapp::meta::sign(APP_SECRET, &bytes),
        )
        .body(bytes)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

/// The texts Meta was asked to send, in order.
fn sent_texts(f: &FakeMeta) -> Vec<String> {
    sends(f)
        .iter()
        .filter_map(|s| s.json()["text"]["body"].as_str().map(str::to_string))
        .collect()
}

async fn a_customer_books_on_whatsapp(backend: Backend) {
    let (graph, meta) = fake_meta().await;
    let model = Model::start(
        "find_free_slots",
        json!({ "service": SERVICE, "date": TUESDAY, "after": "10:00" }),
    )
    .await;
    let app = app(backend, &graph, &model).await;
    let db = &app.state.db;
    let biz = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    let (_, staff_id) = salon(db, biz, "רחל").await;
    // Another business offering the same service: nothing of this conversation is its.
    let other = business(&app, "+97239990000", "מספרה אחרת", true).await;
    salon(db, other, "דנה").await;

    write(&app, "wamid.BOOK1", "אפשר תור לתספורת ביום שלישי אחרי עשר?").await;
    let said = "קבעתי לך תור ליום שלישי 8 בינואר, בשעה 10:00.";
    eventually("the booking's words sent back", || async {
        sent_texts(&meta).into_iter().find(|t| t == said)
    })
    .await;

    // The model was given the book and told it is a written conversation.
    let first = &model.requests()[0];
    let names: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert!(names.contains(&"book_appointment"), "{names:?}");
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("וואטסאפ"), "{system}");

    // One appointment, the business's, for the number that wrote, from WhatsApp.
    let (biz_id, staff, phone, source, name): (i64, i64, String, String, String) = sqlx::query_as(
        "SELECT business_id, staff_id, customer_phone, source, customer_name \
             FROM appointments WHERE status = 'booked'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        (
            biz_id,
            staff,
            phone.as_str(),
            source.as_str(),
            name.as_str()
        ),
        (biz, staff_id, CUSTOMER, "whatsapp", NAME)
    );
    let start: Value = json!(
        sqlx::query_scalar::<_, i64>("SELECT starts_at FROM appointments")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    );
    let ten = mokdan::appointments::time::parse("t", &format!("{TUESDAY}T10:00"))
        .unwrap()
        .as_millisecond();
    assert_eq!(start, json!(ten));
    app.shutdown().await.unwrap();
}
dual_test!(a_customer_books_on_whatsapp);

async fn no_service_no_appointment_tools(backend: Backend) {
    let (graph, meta) = fake_meta().await;
    let model = Model::start("find_free_slots", json!({ "service": SERVICE })).await;
    let app = app(backend, &graph, &model).await;
    business(&app, BUSINESS_NUMBER, BUSINESS_NAME, true).await;
    write(&app, "wamid.NOSVC", "אפשר תור?").await;
    eventually("a reply", || async { sent_texts(&meta).into_iter().next() }).await;
    let first = &model.requests()[0];
    let names: Vec<&str> = first["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["function"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert!(!names.contains(&"book_appointment"), "{names:?}");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM appointments")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    app.shutdown().await.unwrap();
}
dual_test!(no_service_no_appointment_tools);
