//! Appointments over the API (#19, X3, X2), on SQLite and PostgreSQL: services and staff
//! with Hebrew refusals; availability around hours, buffers, bookings and Shabbat; book,
//! move and cancel; 50 simultaneous bookings of one time with exactly one winner and the
//! next free time for every loser; and another tenant refused everything.

mod common;

use common::crm;
use common::{Backend, TestApp};
use jiff::civil::Date;
use mokdan::store::users::Role;
use serde_json::{Value, json};

const TUESDAY: &str = "2030-01-08";
const FRIDAY: Date = Date::constant(2030, 1, 11);

struct Biz {
    app: TestApp,
    id: i64,
    owner: String,
}

async fn business(backend: Backend) -> Biz {
    let app = TestApp::spawn(backend).await;
    let id = crm::add_business(&app, "מספרה", "+97231234567").await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(id)).await;
    let owner = crm::login(&app, "owner@example.com").await;
    Biz { app, id, owner }
}

fn has_hebrew(v: &Value) -> bool {
    v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.chars().any(|c| ('\u{05d0}'..='\u{05ea}').contains(&c)))
}

/// A 30-minute service with a 10-minute buffer, and one staff member giving it
/// Sunday–Friday 08:00–20:00 and Saturday 17:00–23:00 (from before nightfall).
async fn salon(b: &Biz, staff_name: &str) -> (i64, i64) {
    let (s, svc) = crm::post(
        &b.app,
        "/api/services",
        &b.owner,
        json!({ "name": "תספורת", "duration_minutes": 30, "buffer_after_minutes": 10, "price_agorot": 8000 }),
    )
    .await;
    assert_eq!(s, 201, "{svc}");
    let sid = svc["id"].as_i64().unwrap();
    let mut hours: Vec<Value> = (0..6)
        .map(|d| json!({ "day": d, "from": "08:00", "to": "20:00" }))
        .collect();
    hours.push(json!({ "day": 6, "from": "17:00", "to": "23:00" }));
    let (s, st) = crm::post(
        &b.app,
        "/api/staff",
        &b.owner,
        json!({ "name": staff_name, "service_ids": [sid], "hours": hours }),
    )
    .await;
    assert_eq!(s, 201, "{st}");
    assert_eq!(st["service_ids"], json!([sid]));
    (sid, st["id"].as_i64().unwrap())
}

async fn starts(b: &Biz, sid: i64, from: &str, to: &str) -> Vec<String> {
    let (s, v) = crm::get(
        &b.app,
        &format!("/api/availability?service={sid}&from={from}&to={to}"),
        &b.owner,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["start"].as_str().unwrap().to_string())
        .collect()
}

async fn book(b: &Biz, sid: i64, start: &str) -> (u16, Value) {
    crm::post(
        &b.app,
        "/api/appointments",
        &b.owner,
        json!({ "service_id": sid, "start": start, "customer_name": "דנה", "customer_phone": "050-1234567" }),
    )
    .await
}

async fn setup_is_checked_in_hebrew(backend: Backend) {
    let b = business(backend).await;
    for body in [
        json!({ "name": "", "duration_minutes": 30 }),
        json!({ "name": "x", "duration_minutes": 7 }),
        json!({ "name": "x", "duration_minutes": 30, "buffer_after_minutes": -5 }),
    ] {
        let (s, v) = crm::post(&b.app, "/api/services", &b.owner, body).await;
        assert_eq!(s, 422, "{v}");
        assert!(has_hebrew(&v), "{v}");
    }
    let (s, v) = crm::post(
        &b.app,
        "/api/staff",
        &b.owner,
        json!({ "name": "רונית", "hours": [{ "day": 1, "from": "17:00", "to": "09:00" }] }),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert!(has_hebrew(&v), "{v}");
    let (s, v) = crm::post(
        &b.app,
        "/api/staff",
        &b.owner,
        json!({ "name": "רונית", "service_ids": [999] }),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (sid, _) = salon(&b, "רונית").await;
    for start in ["מחר בבוקר", "2030-01-08T09:03", "2031-13-01T09:00"] {
        let (s, v) = book(&b, sid, start).await;
        assert_eq!(s, 422, "{start}: {v}");
        assert!(has_hebrew(&v), "{v}");
    }
    // Past times and times outside the hours are refused too.
    let (s, v) = book(&b, sid, "2020-01-07T09:00").await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = book(&b, sid, "2030-01-08T21:00").await;
    assert_eq!(s, 422, "{v}");
    assert!(has_hebrew(&v), "{v}");
}
dual_test!(setup_is_checked_in_hebrew);

async fn book_move_cancel_around_buffers(backend: Backend) {
    let b = business(backend).await;
    let (sid, staff) = salon(&b, "רונית").await;
    let day = |h: &str| format!("{TUESDAY}T{h}");
    let before = starts(&b, sid, &day("08:00"), &day("10:00")).await;
    assert_eq!(before.len(), 8, "{before:?}");
    assert_eq!(before[0], "2030-01-08T08:00:00+02:00");

    let (s, a) = book(&b, sid, &day("09:00")).await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["start"], "2030-01-08T09:00:00+02:00");
    assert_eq!(a["end"], "2030-01-08T09:30:00+02:00");
    assert_eq!(a["staff_id"], staff);
    assert_eq!(a["customer_phone"], "+972501234567");
    let id = a["id"].as_i64().unwrap();
    // 08:30 would run into 09:00 with its buffer (08:30–09:10); 09:00–09:40 is taken.
    let after = starts(&b, sid, &day("08:00"), &day("10:00")).await;
    let times: Vec<&str> = after.iter().map(|s| &s[11..16]).collect();
    assert_eq!(times, ["08:00", "08:15", "09:45"], "{after:?}");

    // A taken time: 409 in Hebrew with the next free time.
    let (s, v) = book(&b, sid, &day("09:15")).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "slot_taken");
    assert!(has_hebrew(&v), "{v}");
    assert_eq!(
        v["error"]["next_free"]["start"],
        "2030-01-08T09:45:00+02:00"
    );

    // Move to 11:00: 09:00 is free again; list by range and staff shows it there.
    let (s, m) = crm::patch(
        &b.app,
        &format!("/api/appointments/{id}"),
        &b.owner,
        json!({ "start": day("11:00") }),
    )
    .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["start"], "2030-01-08T11:00:00+02:00");
    let (s, v) = book(&b, sid, &day("09:00")).await;
    assert_eq!(s, 201, "{v}");
    let (s, l) = crm::get(
        &b.app,
        &format!("/api/appointments?from={TUESDAY}&to=2030-01-09&staff_id={staff}"),
        &b.owner,
    )
    .await;
    assert_eq!(s, 200, "{l}");
    let listed: Vec<&str> = l["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["2030-01-08T09:00:00+02:00", "2030-01-08T11:00:00+02:00"]
    );
    // Moving onto a taken time is refused and leaves the appointment where it was.
    let (s, v) = crm::patch(
        &b.app,
        &format!("/api/appointments/{id}"),
        &b.owner,
        json!({ "start": day("09:00") }),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    let (_, still) = crm::get(&b.app, &format!("/api/appointments/{id}"), &b.owner).await;
    assert_eq!(still["start"], "2030-01-08T11:00:00+02:00");

    // Cancel: the time is free at once, and a cancelled appointment cannot move.
    let (s, c) = crm::post(
        &b.app,
        &format!("/api/appointments/{id}/cancel"),
        &b.owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"], "cancelled");
    let (s, v) = book(&b, sid, &day("11:00")).await;
    assert_eq!(s, 201, "{v}");
    let (s, _) = crm::patch(
        &b.app,
        &format!("/api/appointments/{id}"),
        &b.owner,
        json!({ "start": day("13:00") }),
    )
    .await;
    assert_eq!(s, 409);
}
dual_test!(book_move_cancel_around_buffers);

async fn shabbat_closes_from_candle_lighting(backend: Backend) {
    let b = business(backend).await;
    let (sid, _) = salon(&b, "רונית").await;
    let (s, v) = crm::call(
        &b.app,
        reqwest::Method::PUT,
        &format!("/api/businesses/{}/appointment-settings", b.id),
        Some(&b.owner),
        Some(
            json!({ "location": "tel_aviv", "closed_on_holy_days": true, "slot_step_minutes": 15 }),
        ),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["closed_on_holy_days"], true);
    let tz = calendar::israel();
    let candle = calendar::holy::candle_lighting(&calendar::Location::TEL_AVIV, FRIDAY);
    let havdalah =
        calendar::holy::havdalah(&calendar::Location::TEL_AVIV, FRIDAY.tomorrow().unwrap());
    let friday = starts(&b, sid, "2030-01-11", "2030-01-12").await;
    let last: jiff::Timestamp = friday.last().unwrap().parse().unwrap();
    // The last 30-minute service ends by candle-lighting (about 16:25 in January).
    assert!(
        last + jiff::SignedDuration::from_mins(30) <= candle,
        "{last} vs {candle}"
    );
    assert!(candle.duration_since(last).as_mins() < 45);
    assert_eq!(candle.to_zoned_datetime(tz.clone()).hour(), 16);
    let saturday = starts(&b, sid, "2030-01-12", "2030-01-13").await;
    let first: jiff::Timestamp = saturday.first().unwrap().parse().unwrap();
    assert!(
        first >= havdalah && first.duration_since(havdalah).as_mins() < 15,
        "{first} {havdalah}"
    );
    // Booking into Shabbat is refused in Hebrew; the same time on a business open then is fine.
    let (s, v) = book(&b, sid, "2030-01-11T17:00").await;
    assert_eq!(s, 422, "{v}");
    assert!(has_hebrew(&v));
    let (s, _) = crm::call(
        &b.app,
        reqwest::Method::PUT,
        &format!("/api/businesses/{}/appointment-settings", b.id),
        Some(&b.owner),
        Some(json!({ "location": "tel_aviv", "closed_on_holy_days": false, "slot_step_minutes": 15 })),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = book(&b, sid, "2030-01-11T17:00").await;
    assert_eq!(s, 201, "{v}");
}
dual_test!(shabbat_closes_from_candle_lighting);

/// 50 bookings of one time at once: the database lets exactly one win; every other gets
/// 409 and the same next free time. With two staff members, exactly two win.
async fn fifty_simultaneous_bookings_one_winner(backend: Backend) {
    let b = business(backend).await;
    let (sid, _) = salon(&b, "רונית").await;
    let start = format!("{TUESDAY}T10:00");
    let futs: Vec<_> = (0..50).map(|_| book(&b, sid, &start)).collect();
    let results = futures::future::join_all(futs).await;
    let won = results.iter().filter(|r| r.0 == 201).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    for (s, v) in results.iter().filter(|r| r.0 != 201) {
        assert_eq!(*s, 409, "{v}");
        assert_eq!(
            v["error"]["next_free"]["start"], "2030-01-08T10:45:00+02:00",
            "{v}"
        );
    }
    let (_, l) = crm::get(
        &b.app,
        &format!("/api/appointments?from={TUESDAY}&to=2030-01-09"),
        &b.owner,
    )
    .await;
    assert_eq!(l["appointments"].as_array().unwrap().len(), 1, "{l}");

    // A second staff member giving the service: two winners, one each.
    let (s, st) = crm::post(
        &b.app,
        "/api/staff",
        &b.owner,
        json!({ "name": "יוסי", "service_ids": [sid], "hours": [{ "day": 2, "from": "08:00", "to": "20:00" }] }),
    )
    .await;
    assert_eq!(s, 201, "{st}");
    let start = format!("{TUESDAY}T12:00");
    let futs: Vec<_> = (0..50).map(|_| book(&b, sid, &start)).collect();
    let results = futures::future::join_all(futs).await;
    let winners: Vec<i64> = results
        .iter()
        .filter(|r| r.0 == 201)
        .map(|r| r.1["staff_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        winners.len(),
        2,
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert_ne!(winners[0], winners[1]);
    assert!(results.iter().all(|r| r.0 == 201 || r.0 == 409));
}
dual_test!(fifty_simultaneous_bookings_one_winner);

async fn another_tenant_is_refused(backend: Backend) {
    let b = business(backend).await;
    let (sid, staff) = salon(&b, "רונית").await;
    let (s, a) = book(&b, sid, &format!("{TUESDAY}T09:00")).await;
    assert_eq!(s, 201);
    let id = a["id"].as_i64().unwrap();
    let other = crm::add_business(&b.app, "עסק אחר", "+97239999999").await;
    crm::add_user(&b.app, "other@example.com", Role::Owner, Some(other)).await;
    let o = crm::login(&b.app, "other@example.com").await;
    for path in [
        format!("/api/appointments/{id}"),
        format!("/api/services/{sid}"),
        format!("/api/staff/{staff}"),
        format!("/api/businesses/{}/appointment-settings", b.id),
        format!("/api/availability?service={sid}"),
        format!("/api/appointments?business_id={}", b.id),
    ] {
        let (s, v) = crm::get(&b.app, &path, &o).await;
        assert_eq!(s, 404, "{path}: {v}");
    }
    let (s, _) = crm::patch(
        &b.app,
        &format!("/api/appointments/{id}"),
        &o,
        json!({ "start": format!("{TUESDAY}T11:00") }),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = crm::post(
        &b.app,
        &format!("/api/appointments/{id}/cancel"),
        &o,
        json!({}),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = crm::post(
        &b.app,
        "/api/appointments",
        &o,
        json!({ "service_id": sid, "start": format!("{TUESDAY}T11:00") }),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = crm::delete(&b.app, &format!("/api/services/{sid}"), &o).await;
    assert_eq!(s, 404);
    // The other business's own lists hold nothing of the first's.
    for path in [
        "/api/appointments?from=2030-01-01&to=2030-02-01",
        "/api/services",
        "/api/staff",
    ] {
        let (s, v) = crm::get(&b.app, path, &o).await;
        assert_eq!(s, 200);
        assert!(
            !v.to_string().contains("רונית") && !v.to_string().contains("דנה"),
            "{path}: {v}"
        );
    }
    // And the first's appointment is as it was.
    let (_, still) = crm::get(&b.app, &format!("/api/appointments/{id}"), &b.owner).await;
    assert_eq!(still["status"], "booked");
    assert_eq!(still["start"], "2030-01-08T09:00:00+02:00");
}
dual_test!(another_tenant_is_refused);

/// Bookings and cancellations go out as signed webhooks (`appointment.booked`,
/// `appointment.cancelled`), with the appointment as the event's data (#19, #22).
async fn bookings_and_cancellations_are_webhook_events(backend: Backend) {
    let b = business(backend).await;
    let (sid, _) = salon(&b, "רונית").await;
    let (s, hook) = crm::post(
        &b.app,
        "/api/webhooks/endpoints",
        &b.owner,
        json!({ "url": "http://127.0.0.1:9/hooks/appointments", "events": ["appointment.booked", "appointment.cancelled"] }),
    )
    .await;
    assert_eq!(s, 201, "{hook}");
    let endpoint = hook["id"].as_i64().unwrap();
    let (s, a) = book(&b, sid, &format!("{TUESDAY}T10:00:00+02:00")).await;
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_i64().unwrap();
    let (s, _) = crm::post(
        &b.app,
        &format!("/api/appointments/{id}/cancel"),
        &b.owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    // Cancelling again changes nothing and announces nothing.
    crm::post(
        &b.app,
        &format!("/api/appointments/{id}/cancel"),
        &b.owner,
        json!({}),
    )
    .await;
    let (s, v) = crm::get(
        &b.app,
        &format!("/api/webhooks/deliveries?endpoint_id={endpoint}"),
        &b.owner,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let mut events: Vec<(String, Value)> = v["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let payload = d["payload"].clone();
            (d["event"].as_str().unwrap().to_string(), payload)
        })
        .collect();
    events.sort_by(|x, y| x.0.cmp(&y.0));
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        ["appointment.booked", "appointment.cancelled"],
        "{v}"
    );
    for (_, p) in &events {
        assert_eq!(p["data"]["id"], id, "{p}");
        assert_eq!(p["data"]["business_id"], b.id);
    }
    b.app.shutdown().await.unwrap();
}
dual_test!(bookings_and_cancellations_are_webhook_events);
