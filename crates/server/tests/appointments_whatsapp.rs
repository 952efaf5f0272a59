//! The customer's side of a booking on WhatsApp (#19, #22; W3, C4), on SQLite and
//! PostgreSQL, with Meta's Cloud API played by the local stand-in that follows its
//! published shapes: a Hebrew confirmation the moment a booking is made over the API or on
//! the phone, an approved template outside the 24-hour window (and a note on the
//! appointment when the business named none), the reminder the day before at the
//! business's hour (its job's time checked, then run by moving `run_after`, no sleeping),
//! which follows a move and drops itself for a cancelled appointment; "1" confirms, "2"
//! cancels and frees the slot (a second booking of it then succeeds), each recorded on the
//! appointment and the lead's timeline, and only in the business written to; a provider's
//! 5xx retried until the message goes.

mod appointments_support;
mod common;
mod whatsapp_support;

use std::time::Duration;

use appointments_support::{Model, SERVICE, TUESDAY, salon};
use common::{Backend, TestApp, crm};
use mokdan::store::appointments::{self as store, Appointment};
use mokdan::store::users::Role;
use serde_json::{Value, json};
use whatsapp_support::meta::*;
use whatsapp_support::*;

const OTHER_NUMBER: &str = "+97231234599";
const OWNER: &str = "owner@example.com";
const ASK: &str = "השיבו 1 לאישור או 2 לביטול";

struct Biz {
    app: TestApp,
    meta: FakeMeta,
    id: i64,
    owner: String,
    service: i64,
}

async fn biz(backend: Backend, auto_reply: bool) -> Biz {
    let (graph, meta) = fake_meta().await;
    let app = app_with(backend, &graph).await;
    let id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, auto_reply).await;
    crm::add_user(&app, OWNER, Role::Owner, Some(id)).await;
    let owner = crm::login(&app, OWNER).await;
    let (service, _) = salon(&app.state.db, id, "רחל").await;
    Biz {
        app,
        meta,
        id,
        owner,
        service,
    }
}

impl Biz {
    /// Books `start` (Israel's wall clock) for the customer over the API.
    async fn book(&self, start: &str) -> (u16, Value) {
        crm::post(
            &self.app,
            "/api/appointments",
            &self.owner,
            json!({ "service_id": self.service, "start": start,
                    "customer_name": "דנה כהן", "customer_phone": "050-1234567" }),
        )
        .await
    }

    async fn booked(&self, start: &str) -> i64 {
        let (s, a) = self.book(start).await;
        assert_eq!(s, 201, "{a}");
        a["id"].as_i64().unwrap()
    }

    async fn appointment(&self, id: i64) -> Appointment {
        store::get(&self.app.state.db, self.id, id)
            .await
            .unwrap()
            .unwrap()
    }

    /// The JSON bodies Meta received for sends, in order.
    fn sent(&self) -> Vec<Value> {
        sends(&self.meta).iter().map(|s| s.json()).collect()
    }

    /// The sends, once some text send contains `needle`.
    async fn text_with(&self, needle: &str) -> Value {
        eventually(&format!("a WhatsApp text with {needle}"), || async {
            self.sent().into_iter().find(|b| {
                b["type"] == "text" && b["text"]["body"].as_str().unwrap_or("").contains(needle)
            })
        })
        .await
    }

    async fn settings(&self, body: Value) -> Value {
        let mut full = json!({ "location": "tel_aviv", "closed_on_holy_days": false,
                               "slot_step_minutes": 15 });
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        let token = &self.owner;
        let r = self
            .app
            .http
            .put(
                self.app
                    .url(&format!("/api/businesses/{}/appointment-settings", self.id)),
            )
            .bearer_auth(token)
            .json(&full)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{v}");
        v
    }

    /// The job with this idempotency key: `(run_after, state)`.
    async fn job(&self, key: &str) -> Option<(i64, String)> {
        sqlx::query_as("SELECT run_after, state FROM jobs WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&self.app.state.db.pool)
            .await
            .unwrap()
    }

    /// Runs the job with this key now (its time has "come") and waits for it to finish.
    async fn run_job_now(&self, key: &str) {
        sqlx::query("UPDATE jobs SET run_after = $2 WHERE idempotency_key = $1")
            .bind(key)
            .bind(mokdan::store::now_ms())
            .execute(&self.app.state.db.pool)
            .await
            .unwrap();
        mokdan::jobs::wake();
        eventually(&format!("job {key} to finish"), || async {
            self.job(key).await.filter(|(_, s)| s == "done").map(|_| ())
        })
        .await;
    }

    /// An inbound WhatsApp text from the customer to `number`.
    async fn customer_writes(&self, number: &str, id: &str, body: &str) {
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
        "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": number.trim_start_matches('+'), "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "דנה כהן"}, "wa_id": CUSTOMER.trim_start_matches('+')}],
            "messages": [{"from": CUSTOMER.trim_start_matches('+'), "id": id, "timestamp": "1732190000",
                          "type": "text", "text": {"body": body}}],
        }}]}]});
        let bytes = serde_json::to_vec(&payload).unwrap();
        let r = self
            .app
            .http
            .post(self.app.url("/webhook/whatsapp/meta"))
            .header("content-type", "application/json")
            .header(
                "X-Hub-Signature-256",
                mokdan::whatsapp::meta::sign(APP_SECRET, &bytes),
            )
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

/// Epoch ms of Israel's wall clock.
fn il(raw: &str) -> i64 {
    mokdan::appointments::time::parse("t", raw)
        .unwrap()
        .as_millisecond()
}

async fn a_booking_is_confirmed_at_once_and_1_confirms_it(backend: Backend) {
    let b = biz(backend, true).await;
    // The customer wrote an hour ago: inside the window, plain text goes.
    customer_wrote_ago(&b.app, b.id, CUSTOMER, Some(3_600_000)).await;
    let id = b.booked(&format!("{TUESDAY}T10:00")).await;
    let sent = b.text_with(ASK).await;
    let text = sent["text"]["body"].as_str().unwrap();
    for part in [
        SERVICE,
        BUSINESS_NAME,
        "דנה כהן",
        "יום שלישי 8 בינואר",
        "10:00",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
    assert_eq!(sent["to"], CUSTOMER.trim_start_matches('+'));

    b.customer_writes(BUSINESS_NUMBER, "wamid.answer-1", " 1 ")
        .await;
    let answer = b.text_with("אושר").await;
    assert!(answer["text"]["body"].as_str().unwrap().contains(SERVICE));
    let a = b.appointment(id).await;
    assert!(a.confirmed_at.is_some(), "{a:?}");
    assert_eq!(a.status, "booked");
    // The answer took the place of the auto-reply: the confirmation and the answer only.
    let customer_id = customer_id(&b.app, b.id, CUSTOMER).await.unwrap();
    let out = outbound(&b.app, b.id, customer_id).await;
    assert_eq!(out.len(), 2, "{out:?}");

    // On the lead's timeline, with the API's view of the appointment.
    let (s, t) = crm::get(
        &b.app,
        &format!("/api/customers/{customer_id}/timeline"),
        &b.owner,
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let events: Vec<&str> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "appointment")
        .map(|i| i["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["confirmed", "booked"], "{t}");

    // A second "1" finds nothing left to confirm: the auto-reply answers it as before.
    b.customer_writes(BUSINESS_NUMBER, "wamid.answer-2", "1")
        .await;
    eventually("the auto-reply", || async {
        (outbound(&b.app, b.id, customer_id).await.len() == 3).then_some(())
    })
    .await;
    assert!(b.appointment(id).await.confirmed_at.is_some());
    b.app.shutdown().await.unwrap();
}
dual_test!(a_booking_is_confirmed_at_once_and_1_confirms_it);

async fn outside_the_window_only_a_template_goes(backend: Backend) {
    let b = biz(backend, false).await;
    // Never wrote, and no template named: nothing goes; the appointment says why.
    let first = b.booked(&format!("{TUESDAY}T09:00")).await;
    let note = eventually("the note on the appointment", || async {
        b.appointment(first).await.whatsapp_note
    })
    .await;
    assert!(note.contains("confirm_template"), "{note}");
    assert!(b.sent().is_empty());
    let (s, v) = crm::get(&b.app, &format!("/api/appointments/{first}"), &b.owner).await;
    assert_eq!(s, 200);
    assert_eq!(v["whatsapp_note"], note.as_str());

    // A refused template name, then a good one.
    let r = b
        .app
        .http
        .put(
            b.app
                .url(&format!("/api/businesses/{}/appointment-settings", b.id)),
        )
        .bearer_auth(&b.owner)
        .json(
            &json!({ "location": "tel_aviv", "closed_on_holy_days": false,
                       "slot_step_minutes": 15, "confirm_template": "Not A Name!" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v = b
        .settings(json!({ "confirm_template": "appointment_confirmation" }))
        .await;
    assert_eq!(v["confirm_template"], "appointment_confirmation");
    assert_eq!(v["reminder_time"], "18:00");

    b.booked(&format!("{TUESDAY}T11:00")).await;
    let sent = eventually("a template send", || async {
        b.sent().into_iter().find(|s| s["type"] == "template")
    })
    .await;
    assert_eq!(sent["template"]["name"], "appointment_confirmation");
    assert_eq!(sent["template"]["language"]["code"], "he");
    let params: Vec<&str> = sent["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(params[0], "דנה כהן");
    assert_eq!(params[1], SERVICE);
    assert!(params[2].contains("11:00"), "{params:?}");
    assert_eq!(params[3], BUSINESS_NAME);
    b.app.shutdown().await.unwrap();
}
dual_test!(outside_the_window_only_a_template_goes);

async fn the_reminder_goes_the_day_before_at_the_business_hour(backend: Backend) {
    let b = biz(backend, false).await;
    customer_wrote_ago(&b.app, b.id, CUSTOMER, Some(60_000)).await;
    b.settings(json!({ "reminder_time": "19:30" })).await;
    let id = b.booked(&format!("{TUESDAY}T10:00")).await;
    b.text_with(ASK).await;
    let old_key = format!("appt:{id}:reminder:{}", il(&format!("{TUESDAY}T10:00")));
    let (run_after, state) = b.job(&old_key).await.expect("a reminder job");
    assert_eq!(run_after, il("2030-01-07T19:30"));
    assert_eq!(state, "queued");

    // Staff move it: the customer is told, and the reminder follows the new time.
    let (s, v) = crm::patch(
        &b.app,
        &format!("/api/appointments/{id}"),
        &b.owner,
        json!({ "start": format!("{TUESDAY}T12:00") }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    b.text_with("הועבר").await;
    let new_key = format!("appt:{id}:reminder:{}", il(&format!("{TUESDAY}T12:00")));
    assert_eq!(b.job(&new_key).await.unwrap().0, il("2030-01-07T19:30"));

    // Their time comes: the old one drops itself, the new one reminds of 12:00.
    b.run_job_now(&old_key).await;
    b.run_job_now(&new_key).await;
    let reminder = b.text_with("תזכורת").await;
    assert!(
        reminder["text"]["body"].as_str().unwrap().contains("12:00"),
        "{reminder}"
    );
    let reminders = b
        .sent()
        .into_iter()
        .filter(|s| s["text"]["body"].as_str().unwrap_or("").contains("תזכורת"))
        .count();
    assert_eq!(reminders, 1);

    // Cancelled by staff: the customer is told, and its reminder never goes.
    let other = b.booked("2030-01-09T10:00").await;
    let key = format!("appt:{other}:reminder:{}", il("2030-01-09T10:00"));
    assert_eq!(b.job(&key).await.unwrap().0, il("2030-01-08T19:30"));
    let (s, v) = crm::post(
        &b.app,
        &format!("/api/appointments/{other}/cancel"),
        &b.owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["cancelled_by"], "staff");
    b.text_with("בוטל").await;
    b.run_job_now(&key).await;
    let reminders = b
        .sent()
        .into_iter()
        .filter(|s| s["text"]["body"].as_str().unwrap_or("").contains("תזכורת"))
        .count();
    assert_eq!(reminders, 1, "no reminder of a cancelled appointment");
    b.app.shutdown().await.unwrap();
}
dual_test!(the_reminder_goes_the_day_before_at_the_business_hour);

async fn two_cancels_frees_the_slot_and_only_in_that_business(backend: Backend) {
    let b = biz(backend, false).await;
    // The same customer has an appointment at another business at the same time.
    let other = business(&b.app, OTHER_NUMBER, "מוסך משה", false).await;
    let (_, other_staff) = salon(&b.app.state.db, other, "משה").await;
    let other_service = mokdan::store::scheduling::list_services(&b.app.state.db, other)
        .await
        .unwrap()[0]
        .clone();
    let start = il(&format!("{TUESDAY}T10:00"));
    let svc = other_service.duration_minutes * 60_000;
    let theirs = store::book(
        &b.app.state.db,
        other,
        &store::NewAppointment {
            service_id: other_service.id,
            at: store::Placement {
                staff_id: other_staff,
                starts_at: start,
                ends_at: start + svc,
                busy_until: start + svc,
            },
            customer_id: None,
            customer_name: Some("דנה כהן".into()),
            customer_phone: Some(CUSTOMER.into()),
            source: "api".into(),
            notes: String::new(),
            call_id: None,
        },
    )
    .await
    .unwrap();
    customer_wrote_ago(&b.app, b.id, CUSTOMER, Some(60_000)).await;
    let id = b.booked(&format!("{TUESDAY}T10:00")).await;
    b.text_with(ASK).await;
    let (s, _) = b.book(&format!("{TUESDAY}T10:00")).await;
    assert_eq!(s, 409, "the time is taken");

    // "2" to this business (its auto-reply is off: the answer runs as its own job).
    b.customer_writes(BUSINESS_NUMBER, "wamid.cancel-1", "2")
        .await;
    let answer = b.text_with("התפנתה").await;
    assert_eq!(answer["to"], CUSTOMER.trim_start_matches('+'));
    let a = b.appointment(id).await;
    assert_eq!(a.status, "cancelled");
    assert_eq!(a.cancelled_by.as_deref(), Some("customer"));
    assert!(a.cancelled_at.is_some());
    // The slot is free: a second booking of it succeeds.
    let (s, v) = b.book(&format!("{TUESDAY}T10:00")).await;
    assert_eq!(s, 201, "{v}");
    // The other business's appointment of the same number is untouched.
    let t = store::get(&b.app.state.db, other, theirs)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.status, "booked");
    assert!(t.confirmed_at.is_none());

    // The other business's customer answers there: only that one is confirmed.
    b.customer_writes(OTHER_NUMBER, "wamid.confirm-other", "כן")
        .await;
    eventually("the other business's confirmation", || async {
        store::get(&b.app.state.db, other, theirs)
            .await
            .unwrap()
            .and_then(|a| a.confirmed_at)
    })
    .await;
    let rebooked = v["id"].as_i64().unwrap();
    assert!(b.appointment(rebooked).await.confirmed_at.is_none());

    // The lead's timeline says who cancelled.
    let customer_id = customer_id(&b.app, b.id, CUSTOMER).await.unwrap();
    let (_, t) = crm::get(
        &b.app,
        &format!("/api/customers/{customer_id}/timeline"),
        &b.owner,
    )
    .await;
    assert!(
        t["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "appointment"
                && i["event"] == "cancelled"
                && i["by"] == "customer"
                && i["appointment"]["id"] == id),
        "{t}"
    );
    b.app.shutdown().await.unwrap();
}
dual_test!(two_cancels_frees_the_slot_and_only_in_that_business);

async fn a_provider_5xx_is_retried_and_the_confirmation_goes(backend: Backend) {
    let b = biz(backend, false).await;
    customer_wrote_ago(&b.app, b.id, CUSTOMER, Some(60_000)).await;
    let busy = json!({"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2, "fbtrace_id": "B1"}});
    b.meta
        .script
        .lock()
        .unwrap()
        .extend([(503, busy.clone()), (500, busy)]);
    b.booked(&format!("{TUESDAY}T10:00")).await;
    let customer_id = customer_id(&b.app, b.id, CUSTOMER).await.unwrap();
    let msg = eventually("the confirmation to be sent", || async {
        outbound(&b.app, b.id, customer_id)
            .await
            .into_iter()
            .find(|m| m.provider_message_id.is_some())
    })
    .await;
    assert!(msg.body.as_deref().unwrap().contains(ASK));
    assert_eq!(sends(&b.meta).len(), 3, "two refusals, then the send");
    assert_eq!(
        outbound(&b.app, b.id, customer_id).await.len(),
        1,
        "one message"
    );
    b.app.shutdown().await.unwrap();
}
dual_test!(a_provider_5xx_is_retried_and_the_confirmation_goes);

async fn a_phone_booking_is_confirmed_on_whatsapp(backend: Backend) {
    use sim::{CallSpec, CallerScript, Sim, SimConfig};
    let model = Model::start(
        "find_free_slots",
        json!({ "service": SERVICE, "date": TUESDAY, "after": "10:00" }),
    )
    .await;
    let sim = Sim::start(
        SimConfig::new(common::twilio::ACCOUNT_SID, common::twilio::AUTH_TOKEN).speed(3.0),
    )
    .await
    .unwrap();
    let (graph, meta) = fake_meta().await;
    let api = format!("{graph}/v21.0");
    let mut vars: Vec<(&str, String)> = vec![
        ("TWILIO_AUTH_TOKEN", common::twilio::AUTH_TOKEN.into()),
        ("TWILIO_ACCOUNT_SID", common::twilio::ACCOUNT_SID.into()),
        ("TWILIO_API_BASE", sim.api_base()),
        ("WHATSAPP_PROVIDER", "meta".into()),
        ("META_APP_SECRET", APP_SECRET.into()),
        ("META_ACCESS_TOKEN", ACCESS_TOKEN.into()),
        ("META_PHONE_NUMBER_ID", PHONE_NUMBER_ID.into()),
        ("META_API_BASE", api),
    ];
    vars.extend(model.env());
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &vars).await;
    let id = business(&app, BUSINESS_NUMBER, BUSINESS_NAME, false).await;
    salon(&app.state.db, id, "רחל").await;
    customer_wrote_ago(&app, id, CUSTOMER, Some(60_000)).await;

    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say(appointments_support::HEARD)
        .wait_for_agent(Duration::from_secs(20))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let spec = CallSpec::new(app.base.clone(), BUSINESS_NUMBER, CUSTOMER, script);
    let report = sim.call(spec).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.protocol_errors);

    let from = il(&format!("{TUESDAY}T00:00"));
    let booked = store::list(&app.state.db, id, from, from + 86_400_000, None)
        .await
        .unwrap();
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].source, "phone");
    let sent = eventually("the confirmation of the phone booking", || async {
        sends(&meta)
            .into_iter()
            .map(|s| s.json())
            .find(|b| b["text"]["body"].as_str().unwrap_or("").contains(ASK))
    })
    .await;
    let text = sent["text"]["body"].as_str().unwrap();
    assert!(text.contains(appointments_support::NAME), "{text}");
    assert!(text.contains("יום שלישי 8 בינואר"), "{text}");
    app.shutdown().await.unwrap();
}
dual_test!(a_phone_booking_is_confirmed_on_whatsapp);
