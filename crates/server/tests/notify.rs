//! Notifications to a business's users (#22, C2), black-box on both databases: a summarised
//! call reaches the owner by e-mail through a real SMTP server the test starts (PyPI
//! `aiosmtpd`, scripts/smtp_sink.py) with a Hebrew subject and a right-to-left HTML body
//! that shows a hostile caller's words as text; a WhatsApp notification reaches the
//! user's own phone through the sim's Twilio Messages API; quiet hours delay a summary but
//! not an urgent call; a channel that is not configured parks the job `waiting` for the
//! operator; a failed delivery is retried; and the preferences API is scoped (C4).
//! Bookings and cancellations (#19, #22) reach the users who asked for them, by e-mail and
//! WhatsApp, while the customer gets their own confirmation through the same Twilio.

mod appointments_support;
mod common;

use std::time::Duration;

use common::crm::{self, add_business, add_user};
use common::smtp::SmtpSink;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::wait_for;
use common::{Backend, TestApp};
use mokdan::domain::{CallDirection, CallStatus, Phone};
use mokdan::notify::{self, NOTIFY_EMAIL, NOTIFY_WHATSAPP};
use mokdan::store::jobs::{self, Job};
use mokdan::store::users::Role;
use mokdan::store::{calls, customers, now_ms, post_call};
use reqwest::Method;
use serde_json::{Value, json};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";
const BASE: &str = "https://mokdan.example";
/// What a caller might say to be their name: markup and a header break.
const HOSTILE_NAME: &str = "<b>דנה</b><script>alert('x')</script>";

/// A completed inbound call from `CALLER`; its row id.
async fn completed_call(app: &TestApp, business_id: i64, sid: &str) -> i64 {
    calls::insert(
        &app.state.db,
        &calls::NewCall {
            call_sid: sid,
            business_id: Some(business_id),
            from: Some(CALLER),
            to: Some(NUMBER),
            direction: CallDirection::Inbound,
            status: CallStatus::Ringing,
        },
    )
    .await
    .unwrap();
    calls::advance_status(&app.state.db, sid, &CallStatus::Completed, Some(40))
        .await
        .unwrap();
    calls::by_sid(&app.state.db, sid).await.unwrap().unwrap().id
}

async fn jobs_of(app: &TestApp, kind: &str) -> Vec<Job> {
    jobs::by_kind(&app.state.db, kind).await.unwrap()
}

/// A call summarised by the post-call job reaches the owner (who chose nothing: the
/// default is e-mail) at a real SMTP server within seconds: Hebrew subject, RTL HTML with
/// the summary and the call's link, a plain-text part, the hostile name shown as text.
async fn a_summarised_call_is_emailed_to_the_owner(backend: Backend) {
    let Some(smtp) = SmtpSink::start().await else {
        return;
    };
    let app = TestApp::spawn_with(
        backend,
        &[
            ("SMTP_URL", &smtp.url()),
            ("SMTP_FROM", "מוקדן <noreply@mokdan.example>"),
            ("PUBLIC_BASE_URL", BASE),
        ],
    )
    .await;
    let biz = add_business(&app, "מוסך הצפון", NUMBER).await;
    add_user(&app, "owner@garage.test", Role::Owner, Some(biz)).await;
    // An agent who chose nothing is not e-mailed.
    add_user(&app, "agent@garage.test", Role::Agent, Some(biz)).await;
    customers::upsert_by_phone(
        &app.state.db,
        biz,
        &Phone::parse(CALLER).unwrap(),
        Some(HOSTILE_NAME),
        "call",
    )
    .await
    .unwrap();
    let sid = "CA0000000000000000000000000000a001";
    let id = completed_call(&app, biz, sid).await;
    post_call::set_transcription(
        &app.state.db,
        sid,
        "שלום, הרכב שלי לא מתניע <img src=x onerror=alert(1)> אפשר לבדוק אותו השבוע?",
    )
    .await
    .unwrap();
    let started = std::time::Instant::now();
    mokdan::calls::post_call::transcribe::enqueue_summary(&app.state.db, sid)
        .await
        .unwrap();
    wait_for("the notification e-mail", 60, || async {
        (!smtp.messages().is_empty()).then_some(())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    // Let any second message (a double) arrive before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = smtp.messages();
    assert_eq!(
        messages.len(),
        1,
        "one e-mail, to the owner only: {messages:?}"
    );
    let m = &messages[0];
    assert_eq!(m["rcpt_tos"], json!(["owner@garage.test"]));
    assert_eq!(m["mail_from"], "noreply@mokdan.example");
    let subject = m["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("שיחה חדשה מ-") && subject.contains("050-123-4567"),
        "{subject}"
    );
    // Encoded on the wire (RFC 2047), decoded by Python's mail parser.
    assert!(
        m["raw_headers"].as_str().unwrap().contains("=?utf-8?"),
        "{}",
        m["raw_headers"]
    );
    assert_eq!(m["content_type"], "multipart/alternative");
    let html = m["parts"]["text/html"].as_str().expect("an HTML part");
    assert!(html.contains(r#"dir="rtl""#) && html.contains(r#"lang="he""#));
    assert!(
        html.contains(&format!("{BASE}/app/biz/calls/{id}")),
        "{html}"
    );
    assert!(html.contains("הרכב שלי לא מתניע"), "the summary: {html}");
    for raw in ["<script>", "<b>דנה", "<img src"] {
        assert!(
            !html.contains(raw),
            "{raw} reached the HTML unescaped: {html}"
        );
    }
    assert!(
        html.contains("script&#62;") || html.contains("script&gt;"),
        "{html}"
    );
    let text = m["parts"]["text/plain"].as_str().expect("a text part");
    assert!(
        text.contains(&format!("{BASE}/app/biz/calls/{id}")),
        "{text}"
    );
    let sent = jobs_of(&app, NOTIFY_EMAIL).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].state, "done");

    // The summary job running again (a worker that died after its work) sends nothing new.
    notify::call_summarised(&app.state.db, sid).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.messages().len(), 1);
    assert_eq!(jobs_of(&app, NOTIFY_EMAIL).await.len(), 1);
    app.shutdown().await.unwrap();
    smtp.stop().await;
}
dual_test!(a_summarised_call_is_emailed_to_the_owner);

/// `HH:MM` in Israel, `minutes` from now.
fn israel_hhmm(minutes: i64) -> String {
    let t = jiff::Timestamp::from_millisecond(now_ms() + minutes * 60_000).unwrap();
    let z = t.to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Jerusalem").unwrap());
    format!("{:02}:{:02}", z.hour(), z.minute())
}

/// Quiet hours hold back a summary until they end, not an urgent call; with no SMTP_URL
/// the urgent message waits as `waiting` with the reason, for the operator to see.
async fn quiet_hours_delay_a_summary_but_not_an_urgent_call(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let biz = add_business(&app, "מרפאת שיניים", NUMBER).await;
    add_user(&app, "owner@clinic.test", Role::Owner, Some(biz)).await;
    let owner = crm::login(&app, "owner@clinic.test").await;
    let (_, me) = crm::get(&app, "/api/auth/me", &owner).await;
    let uid = me["user"]["id"].as_i64().unwrap();
    let (s, v) = crm::call(
        &app,
        Method::PUT,
        &format!("/api/users/{uid}/notifications"),
        Some(&owner),
        Some(json!({"quiet_hours": {"from": israel_hhmm(-60), "to": israel_hhmm(120)}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["is_default"], false);

    let quiet = "CA0000000000000000000000000000b001";
    completed_call(&app, biz, quiet).await;
    post_call::set_extraction(
        &app.state.db,
        quiet,
        &post_call::Extraction {
            summary: "ביקש הצעת מחיר להלבנה".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    notify::call_summarised(&app.state.db, quiet).await;
    let held = jobs_of(&app, NOTIFY_EMAIL).await;
    assert_eq!(held.len(), 1);
    assert!(
        held[0].run_after > now_ms() + 100 * 60_000,
        "held until the quiet hours end: {} vs now {}",
        held[0].run_after,
        now_ms()
    );
    assert_eq!(held[0].state, "queued");

    // An urgent call at hang-up: a call-back asked for during the call.
    let urgent = "CA0000000000000000000000000000b002";
    completed_call(&app, biz, urgent).await;
    calls::request_callback(&app.state.db, urgent, "בהקדם האפשרי", "כאב שיניים חזק")
        .await
        .unwrap();
    notify::call_ended(&app.state.db, urgent).await.unwrap();
    let parked = wait_for("the urgent message to be parked", 20, || async {
        jobs_of(&app, NOTIFY_EMAIL)
            .await
            .into_iter()
            .find(|j| j.payload.contains(urgent) && j.state == "waiting")
    })
    .await;
    // It ran at once, inside the quiet hours (the summary still waits for their end).
    let held = jobs_of(&app, NOTIFY_EMAIL).await;
    let summary = held.iter().find(|j| j.payload.contains(quiet)).unwrap();
    assert_eq!((summary.state.as_str(), summary.attempts), ("queued", 0));
    assert!(
        parked
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no SMTP_URL configured")),
        "{parked:?}"
    );
    assert!(parked.payload.contains("call.urgent"), "{}", parked.payload);
    // The operator sees it on the jobs API.
    add_user(&app, "ops@mokdan.test", Role::Operator, None).await;
    let ops = crm::login(&app, "ops@mokdan.test").await;
    let (s, list) = crm::get(&app, "/api/jobs?state=waiting", &ops).await;
    assert_eq!(s, 200);
    assert!(
        list.to_string().contains("no SMTP_URL configured"),
        "{list}"
    );
    app.shutdown().await.unwrap();
}
dual_test!(quiet_hours_delay_a_summary_but_not_an_urgent_call);

/// An SMTP server that cannot be reached: the delivery fails and is retried by the queue
/// (`queued` again with the error and a later `run_after`), never lost.
async fn a_failed_delivery_is_retried(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("SMTP_URL", "smtp://127.0.0.1:9")]).await;
    let biz = add_business(&app, "מספרה", NUMBER).await;
    add_user(&app, "owner@salon.test", Role::Owner, Some(biz)).await;
    let sid = "CA0000000000000000000000000000c001";
    completed_call(&app, biz, sid).await;
    post_call::set_extraction(
        &app.state.db,
        sid,
        &post_call::Extraction {
            summary: "רוצה תור לתספורת".into(),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    notify::call_summarised(&app.state.db, sid).await;
    let failed = wait_for("a failed attempt", 20, || async {
        jobs_of(&app, NOTIFY_EMAIL)
            .await
            .into_iter()
            .find(|j| j.attempts >= 1 && j.last_error.is_some())
    })
    .await;
    assert!(
        failed.last_error.as_deref().unwrap().contains("SMTP"),
        "{failed:?}"
    );
    assert_ne!(failed.state, "dead", "retried, not given up: {failed:?}");
    assert_eq!(failed.max_attempts, notify::MAX_ATTEMPTS);
    app.shutdown().await.unwrap();
}
dual_test!(a_failed_delivery_is_retried);

/// A user who chose WhatsApp gets the message on their own phone, from the business's
/// number, through Twilio's Messages API (the sim's).
async fn a_whatsapp_notification_reaches_the_users_phone(backend: Backend) {
    let sim = sim::Sim::start(sim::SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let api = sim.api_base();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_API_BASE", &api),
            ("WHATSAPP_PROVIDER", "twilio"),
            ("PUBLIC_BASE_URL", BASE),
        ],
    )
    .await;
    let biz = add_business(&app, "מוסך הצפון", NUMBER).await;
    let uid = add_user(&app, "agent@garage.test", Role::Agent, Some(biz)).await;
    let agent = crm::login(&app, "agent@garage.test").await;
    let (s, v) = crm::call(
        &app,
        Method::PUT,
        &format!("/api/users/{uid}/notifications"),
        Some(&agent),
        Some(json!({
            "events": ["call.summarised"], "email_on": false,
            "whatsapp_on": true, "whatsapp_phone": "052-7654321"
        })),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["whatsapp_phone"], "+972527654321");
    let sid = "CA0000000000000000000000000000d001";
    let id = completed_call(&app, biz, sid).await;
    post_call::set_extraction(
        &app.state.db,
        sid,
        &post_call::Extraction {
            summary: "הרכב לא מתניע, מבקש גרר".into(),
            name: Some("יוסי לוי".into()),
            reason: Some("גרר".into()),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    notify::call_summarised(&app.state.db, sid).await;
    let messages = wait_for("the WhatsApp notification at Twilio", 30, || async {
        let m = sim.messages();
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.to, "whatsapp:+972527654321");
    assert_eq!(m.from, format!("whatsapp:{NUMBER}"));
    assert!(
        m.body.contains("יוסי לוי") && m.body.contains("050-123-4567"),
        "{}",
        m.body
    );
    assert!(
        m.body.contains(&format!("{BASE}/app/biz/calls/{id}")),
        "{}",
        m.body
    );
    let done = wait_for("the job to finish", 10, || async {
        jobs_of(&app, NOTIFY_WHATSAPP)
            .await
            .into_iter()
            .find(|j| j.state == "done")
    })
    .await;
    assert!(done.payload.contains("whatsapp"));
    // Not filed as a customer conversation: the user is not a customer.
    assert_eq!(
        mokdan::store::whatsapp::count(&app.state.db, biz, "out")
            .await
            .unwrap(),
        0
    );
    app.shutdown().await.unwrap();
    sim.shutdown().await;
}
dual_test!(a_whatsapp_notification_reaches_the_users_phone);

/// Each user reads and sets their own; an owner a user of their business; an agent no one
/// else's (403); another business's user is 404; bad values are 422.
async fn preferences_are_the_users_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = add_business(&app, "עסק א", NUMBER).await;
    let b = add_business(&app, "עסק ב", "+97231234568").await;
    let owner_id = add_user(&app, "owner@a.test", Role::Owner, Some(a)).await;
    let agent_id = add_user(&app, "agent@a.test", Role::Agent, Some(a)).await;
    let other_id = add_user(&app, "owner@b.test", Role::Owner, Some(b)).await;
    let owner = crm::login(&app, "owner@a.test").await;
    let agent = crm::login(&app, "agent@a.test").await;
    let path = |id: i64| format!("/api/users/{id}/notifications");

    let (s, v) = crm::get(&app, &path(owner_id), &owner).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["is_default"], true);
    assert_eq!(v["events"], json!(["call.summarised", "call.urgent"]));
    assert_eq!(
        (v["email_on"].clone(), v["email"].clone()),
        (json!(true), json!("owner@a.test"))
    );
    let (s, v) = crm::get(&app, &path(agent_id), &agent).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["events"], json!([]));

    let put = |token: String, id: i64, body: Value| {
        let app = &app;
        async move { crm::call(app, Method::PUT, &path(id), Some(&token), Some(body)).await }
    };
    let (s, v) = put(
        agent.clone(),
        agent_id,
        json!({"events": ["call.urgent"], "shabbat_quiet": true}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["events"], json!(["call.urgent"]));
    assert_eq!(v["shabbat_quiet"], true);
    assert_eq!(v["email_on"], false, "kept from the agent's default");
    // An agent cannot read or change a colleague's.
    let (s, _) = crm::get(&app, &path(owner_id), &agent).await;
    assert_eq!(s, 403);
    let (s, _) = put(agent.clone(), owner_id, json!({"email_on": false})).await;
    assert_eq!(s, 403);
    // The owner may set the agent's.
    let (s, v) = put(owner.clone(), agent_id, json!({"email_on": true})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["events"],
        json!(["call.urgent"]),
        "fields left out are kept"
    );
    // Another business's user: not found, whoever asks.
    for token in [&owner, &agent] {
        let (s, body) = crm::get(&app, &path(other_id), token).await;
        assert_eq!(s, 404, "{body}");
        let (s, _) = put(token.clone(), other_id, json!({"email_on": false})).await;
        assert_eq!(s, 404);
    }
    // Bad values.
    for bad in [
        json!({"events": ["call.everything"]}),
        json!({"whatsapp_on": true}),
        json!({"whatsapp_phone": "not a phone"}),
        json!({"quiet_hours": {"from": "25:00", "to": "07:00"}}),
        json!({"unknown": 1}),
    ] {
        let (s, body) = put(owner.clone(), owner_id, bad.clone()).await;
        assert_eq!(s, 422, "{bad}: {body}");
    }
    let (s, v) = put(
        owner.clone(),
        owner_id,
        json!({"quiet_hours": {"from": "22:00", "to": "7:00"}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["quiet_hours"], json!({"from": "22:00", "to": "07:00"}));
    let (s, v) = put(owner.clone(), owner_id, json!({"quiet_hours": null})).await;
    assert_eq!((s, v["quiet_hours"].clone()), (200, Value::Null));

    // The web app's own page shows the signed-in user's choices, in Hebrew.
    let r = app
        .http
        .get(app.url("/app/biz/settings/notifications"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("ההתראות שלי") && page.contains(r#"name="ev_urgent" value="1" checked"#),
        "{page}"
    );
    app.shutdown().await.unwrap();
}
dual_test!(preferences_are_the_users_own);

/// A booking over the API and its cancellation by staff: the owner (by e-mail, the real
/// SMTP server) and an agent (by WhatsApp, through the sim's Twilio) who chose
/// `appointment.booked` and `appointment.cancelled` are told of each, with the customer
/// and the service; the customer gets the confirmation and the cancellation on WhatsApp
/// from the business's number through the same Twilio.
async fn bookings_reach_the_users_and_the_customer(backend: Backend) {
    let Some(smtp) = SmtpSink::start().await else {
        return;
    };
    let sim = sim::Sim::start(sim::SimConfig::new(ACCOUNT_SID, AUTH_TOKEN))
        .await
        .unwrap();
    let api = sim.api_base();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_API_BASE", &api),
            ("WHATSAPP_PROVIDER", "twilio"),
            ("PUBLIC_BASE_URL", BASE),
            ("SMTP_URL", &smtp.url()),
            ("SMTP_FROM", "noreply@mokdan.example"),
        ],
    )
    .await;
    let biz = add_business(&app, "מספרת הצפון", NUMBER).await;
    let owner_id = add_user(&app, "owner@salon.test", Role::Owner, Some(biz)).await;
    let agent_id = add_user(&app, "agent@salon.test", Role::Agent, Some(biz)).await;
    let owner = crm::login(&app, "owner@salon.test").await;
    let agent = crm::login(&app, "agent@salon.test").await;
    for (uid, token, prefs) in [
        (
            owner_id,
            &owner,
            json!({ "events": ["appointment.booked", "appointment.cancelled"], "email_on": true }),
        ),
        (
            agent_id,
            &agent,
            json!({ "events": ["appointment.booked", "appointment.cancelled"],
            "email_on": false, "whatsapp_on": true, "whatsapp_phone": "052-7654321" }),
        ),
    ] {
        let (s, v) = crm::call(
            &app,
            Method::PUT,
            &format!("/api/users/{uid}/notifications"),
            Some(token),
            Some(prefs),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    let (service, _) = appointments_support::salon(&app.state.db, biz, "רחל").await;
    // The customer wrote an hour ago: the confirmation goes as text.
    let cid = customers::upsert_by_phone(
        &app.state.db,
        biz,
        &Phone::parse(CALLER).unwrap(),
        None,
        "whatsapp",
    )
    .await
    .unwrap();
    sqlx::query("UPDATE customers SET last_inbound_at = $2 WHERE id = $1")
        .bind(cid)
        .bind(now_ms() - 3_600_000)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let (s, a) = crm::post(
        &app,
        "/api/appointments",
        &owner,
        json!({ "service_id": service, "start": "2030-01-08T10:00",
                "customer_name": "דנה כהן", "customer_phone": CALLER }),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    let to_user = "whatsapp:+972527654321".to_string();
    let to_customer = format!("whatsapp:{CALLER}");
    let sent = |to: String, needle: &'static str| {
        let sim = &sim;
        async move {
            wait_for(&format!("{needle} to {to}"), 30, || async {
                sim.messages()
                    .into_iter()
                    .find(|m| m.to == to && m.body.contains(needle))
            })
            .await
        }
    };
    let m = sent(to_user.clone(), "תור חדש").await;
    assert!(
        m.body.contains("דנה כהן") && m.body.contains("תספורת"),
        "{}",
        m.body
    );
    let m = sent(to_customer.clone(), "השיבו 1 לאישור או 2 לביטול").await;
    assert_eq!(m.from, format!("whatsapp:{NUMBER}"));
    assert!(
        m.body.contains("מספרת הצפון") && m.body.contains("10:00"),
        "{}",
        m.body
    );
    let mail = wait_for("the owner's e-mail of the booking", 30, || async {
        smtp.messages().into_iter().next()
    })
    .await;
    assert_eq!(mail["rcpt_tos"], json!(["owner@salon.test"]));
    let subject = mail["subject"].as_str().unwrap();
    assert!(subject.starts_with("תור חדש מ-דנה כהן"), "{subject}");
    assert!(subject.contains("תספורת"), "{subject}");

    let id = a["id"].as_i64().unwrap();
    let (s, v) = crm::post(
        &app,
        &format!("/api/appointments/{id}/cancel"),
        &owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    sent(to_user, "תור בוטל").await;
    sent(to_customer, "בוטל.").await;
    wait_for("the owner's e-mail of the cancellation", 30, || async {
        smtp.messages()
            .into_iter()
            .find(|m| m["subject"].as_str().unwrap_or("").starts_with("תור בוטל"))
    })
    .await;
    app.shutdown().await.unwrap();
    sim.shutdown().await;
    smtp.stop().await;
}
dual_test!(bookings_reach_the_users_and_the_customer);
