//! WhatsApp over Meta's Cloud API, provider errors, black-box on both databases (W3, W5):
//! a rate limit (HTTP 429, Meta code 130429) is retried with backoff through the job queue
//! and the message goes out once; a permanent refusal (HTTP 400, code 131047
//! "Re-engagement message") is stored on the message, shown in its thread, and never
//! retried. Meta is played by the local stand-in in `whatsapp_support::meta`.

mod common;
mod whatsapp_support;

use common::Backend;
use mokdan::store::whatsapp as store;
use serde_json::{Value, json};
use whatsapp_support::meta::*;
use whatsapp_support::*;

/// Meta's error body, as the Graph API answers a refused send.
fn meta_error(code: i64, message: &str, details: &str) -> Value {
    json!({"error": {"message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AbCdEfGhIjK"}})
}

/// The send job of message `id`, once the queue is done with it (the message settles a
/// moment before its job is marked).
async fn finished_job(app: &common::TestApp, id: i64) -> mokdan::store::jobs::Job {
    eventually("the send job to finish", || async {
        mokdan::store::jobs::by_kind(&app.state.db, "whatsapp_send")
            .await
            .unwrap()
            .into_iter()
            .find(|j| j.payload_json()["message_id"] == json!(id))
            .filter(|j| !matches!(j.state.as_str(), "queued" | "running"))
    })
    .await
}

async fn meta_errors_retry_when_momentary_and_stick_when_permanent(backend: Backend) {
    let (graph, f) = fake_meta().await;
    f.script.lock().unwrap().push((
        429,
        meta_error(
            130429,
            "(#130429) Rate limit hit",
            "Cloud API message throughput has been reached.",
        ),
    ));
    let app = app_with(backend, &graph).await;
    let business_id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    operator(&app).await;
    let customer = customer_wrote_ago(&app, business_id, CUSTOMER, Some(1_000)).await;
    let text = "נתראה מחר ב-10:00 🙂";
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": customer, "body": text}),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "queued", "{body}");
    let id = body["id"].as_i64().unwrap();

    // Between attempts the message is back to queued, with Meta's code on it.
    let waiting = eventually("the rate limit to be stored", || async {
        store::get(&app.state.db, business_id, id)
            .await
            .unwrap()
            .filter(|m| m.attempts >= 1 && m.status == "queued" && m.provider_message_id.is_none())
    })
    .await;
    assert_eq!(waiting.error_code.as_deref(), Some("130429"));
    let m = settled(&app, business_id, id).await;
    assert_eq!(
        m.status, "queued",
        "Meta's `accepted`, ahead of its webhooks"
    );
    assert!(
        m.provider_message_id
            .as_deref()
            .is_some_and(|p| p.starts_with("wamid.")),
        "{:?}",
        m.provider_message_id
    );
    assert_eq!(m.attempts, 2);
    assert_eq!((m.error_code, m.error_message), (None, None));
    let seen = sends(&f);
    assert_eq!(seen.len(), 2, "one refused attempt, one accepted");
    for s in &seen {
        assert_eq!(s.json()["text"]["body"], text);
        assert_eq!(s.json()["to"], CUSTOMER.trim_start_matches('+'));
    }
    let job = finished_job(&app, id).await;
    assert_eq!((job.state.as_str(), job.attempts), ("done", 2));

    // 400 with code 131047 (outside the customer-service window, as Meta sees it):
    // failed with the code and Meta's words, never retried.
    f.script.lock().unwrap().push((
        400,
        meta_error(
            131047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the \
             customer last replied to this number.",
        ),
    ));
    let (code, body) = send(
        &app,
        json!({"business_id": business_id, "customer_id": customer, "body": "עוד משהו"}),
        None,
    )
    .await;
    assert_eq!(
        (code, body["status"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    let m = settled_answer(&app, business_id, &body).await;
    assert_eq!(m.status, "failed");
    assert_eq!(m.error_code.as_deref(), Some("131047"));
    assert!(
        m.error_message
            .as_deref()
            .is_some_and(|e| e.contains("Re-engagement message")),
        "{:?}",
        m.error_message
    );
    assert_eq!(m.attempts, 1);
    assert_eq!(m.provider_message_id, None);
    let thread: Value = get_as(
        &app,
        OPERATOR_EMAIL,
        &format!("/api/whatsapp/threads/{customer}?business_id={business_id}"),
    )
    .await
    .json()
    .await
    .unwrap();
    let shown = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == body["id"])
        .cloned()
        .unwrap();
    assert_eq!(
        (shown["status"].as_str(), shown["error_code"].as_str()),
        (Some("failed"), Some("131047")),
        "{shown}"
    );
    // Longer than the first backoff: a retry would have happened by now.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(sends(&f).len(), 3, "no retry of a permanent error");
    let job = finished_job(&app, m.id).await;
    assert_eq!(
        (job.state.as_str(), job.attempts),
        ("done", 1),
        "the job ends; the failure is on the message"
    );
    app.shutdown().await.unwrap();
}
dual_test!(meta_errors_retry_when_momentary_and_stick_when_permanent);
