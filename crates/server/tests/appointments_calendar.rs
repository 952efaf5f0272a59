//! Appointments beyond our own book (#19, X3), on SQLite and PostgreSQL: closures (closed
//! dates and special hours) remove slots and refuse bookings; a staff member's Google
//! Calendar (a local stand-in of Google's token endpoint and Calendar API v3) blocks their
//! busy times for availability and booking, receives each booking as an event in Israel's
//! time, moved by a patch and removed on cancel; Google down never blocks a booking (the
//! appointment shows the failed sync, retried until Google is back); another tenant can
//! neither see nor set the calendar; and the staff member's ICS feed at a secret URL,
//! parsed by PyPI `icalendar` when `MOKDAN_ICAL_PYTHON` names its Python.

mod calendar_support;
mod common;

use calendar_support::Google;
use common::crm;
use common::{Backend, TestApp};
use mokdan::store::users::Role;
use reqwest::Method;
use serde_json::{Value, json};

const TUESDAY: &str = "2030-01-08";
const CAL: &str = "salon-ronit@group.calendar.google.com";

struct Biz {
    app: TestApp,
    id: i64,
    owner: String,
    sid: i64,
    staff: i64,
}

async fn business(app: TestApp, tag: &str, number: &str) -> Biz {
    let id = crm::add_business(&app, &format!("מספרה {tag}"), number).await;
    let email = format!("owner-{tag}@example.com");
    crm::add_user(&app, &email, Role::Owner, Some(id)).await;
    let owner = crm::login(&app, &email).await;
    let (s, svc) = crm::post(
        &app,
        "/api/services",
        &owner,
        json!({ "name": "תספורת", "duration_minutes": 30, "buffer_after_minutes": 10 }),
    )
    .await;
    assert_eq!(s, 201, "{svc}");
    let sid = svc["id"].as_i64().unwrap();
    let hours: Vec<Value> = (0..6)
        .map(|d| json!({ "day": d, "from": "08:00", "to": "20:00" }))
        .collect();
    let (s, st) = crm::post(
        &app,
        "/api/staff",
        &owner,
        json!({ "name": "רונית", "service_ids": [sid], "hours": hours }),
    )
    .await;
    assert_eq!(s, 201, "{st}");
    Biz {
        id,
        staff: st["id"].as_i64().unwrap(),
        app,
        owner,
        sid,
    }
}

async fn with_google(backend: Backend) -> (Biz, Google) {
    let google = Google::start().await;
    let env = google.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &vars).await;
    (business(app, "a", "+97231234567").await, google)
}

async fn starts(b: &Biz, day: &str) -> (Vec<String>, Value) {
    let (s, v) = crm::get(
        &b.app,
        &format!(
            "/api/availability?service={}&from={day}T00:00&to={day}T23:59",
            b.sid
        ),
        &b.owner,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let list = v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["start"].as_str().unwrap()[11..16].to_string())
        .collect();
    (list, v)
}

async fn book(b: &Biz, hhmm: &str) -> (u16, Value) {
    crm::post(
        &b.app,
        "/api/appointments",
        &b.owner,
        json!({ "service_id": b.sid, "start": format!("{TUESDAY}T{hhmm}"),
                "customer_name": "דנה \"הכהנת\"; לוי, ת\"א", "customer_phone": "050-1234567" }),
    )
    .await
}

async fn connect(b: &Biz, calendar: Value) -> (u16, Value) {
    crm::call(
        &b.app,
        Method::PUT,
        &format!("/api/staff/{}", b.staff),
        Some(&b.owner),
        Some(json!({ "name": "רונית", "service_ids": [b.sid],
            "hours": (0..6).map(|d| json!({ "day": d, "from": "08:00", "to": "20:00" })).collect::<Vec<_>>(),
            "google_calendar_id": calendar })),
    )
    .await
}

async fn appointment(b: &Biz, id: i64) -> Value {
    let (s, a) = crm::get(&b.app, &format!("/api/appointments/{id}"), &b.owner).await;
    assert_eq!(s, 200, "{a}");
    a
}

async fn synced(b: &Biz, id: i64, secs: u64) -> Value {
    common::wait_for("the calendar sync", secs, || async {
        let a = appointment(b, id).await;
        (a["calendar_sync"] == "ok").then_some(a)
    })
    .await
}

async fn closures_remove_slots(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = business(app, "a", "+97231234567").await;
    let (before, _) = starts(&b, TUESDAY).await;
    assert!(before.contains(&"09:00".to_string()), "{before:?}");
    // Closed all day: no slot, no booking.
    let (s, c) = crm::post(
        &b.app,
        "/api/closures",
        &b.owner,
        json!({ "first_date": TUESDAY, "last_date": "2030-01-09", "note": "חופשה" }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["last_date"], "2030-01-09");
    let (none, _) = starts(&b, TUESDAY).await;
    assert!(none.is_empty(), "{none:?}");
    let (none, _) = starts(&b, "2030-01-09").await;
    assert!(none.is_empty(), "{none:?}");
    let (s, v) = book(&b, "09:00").await;
    assert_eq!(s, 422, "{v}");
    let (s, list) = crm::get(
        &b.app,
        "/api/closures?from=2030-01-01&to=2030-01-31",
        &b.owner,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["closures"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["closures"][0]["note"], "חופשה");
    let (s, _) = crm::delete(&b.app, &format!("/api/closures/{}", c["id"]), &b.owner).await;
    assert_eq!(s, 204);
    // Special hours: only 12:00–14:00 that day.
    let (s, c) = crm::post(
        &b.app,
        "/api/closures",
        &b.owner,
        json!({ "first_date": TUESDAY, "from": "12:00", "to": "14:00" }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(
        (c["from"].as_str(), c["to"].as_str()),
        (Some("12:00"), Some("14:00"))
    );
    let (short, _) = starts(&b, TUESDAY).await;
    assert!(!short.is_empty());
    assert!(
        short
            .iter()
            .all(|t| t.as_str() >= "12:00" && t.as_str() <= "13:30"),
        "{short:?}"
    );
    let (s, v) = book(&b, "09:00").await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = book(&b, "12:00").await;
    assert_eq!(s, 201, "{v}");
    // Refusals in Hebrew.
    for body in [
        json!({ "first_date": "2030-13-01" }),
        json!({ "first_date": TUESDAY, "last_date": "2030-01-01" }),
        json!({ "first_date": TUESDAY, "from": "12:00" }),
        json!({ "first_date": TUESDAY, "from": "14:00", "to": "12:00" }),
        json!({ "first_date": "2030-01-01", "last_date": "2031-06-01" }),
    ] {
        let (s, v) = crm::post(&b.app, "/api/closures", &b.owner, body.clone()).await;
        assert_eq!(s, 422, "{body}: {v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(
            m.chars().any(|c| ('\u{05d0}'..='\u{05ea}').contains(&c)),
            "{m}"
        );
    }
    // Another business can neither see nor remove it.
    let other = business(b.app, "b", "+97231234568").await;
    let (s, list) = crm::get(
        &other.app,
        "/api/closures?from=2030-01-01&to=2030-01-31",
        &other.owner,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["closures"], json!([]));
    let (s, _) = crm::delete(
        &other.app,
        &format!("/api/closures/{}", c["id"]),
        &other.owner,
    )
    .await;
    assert_eq!(s, 404);
}

async fn google_busy_blocks_slots_and_bookings(backend: Backend) {
    let (b, google) = with_google(backend).await;
    let (s, st) = connect(&b, json!("not a calendar")).await;
    assert_eq!(s, 422, "{st}");
    let (s, st) = connect(&b, json!(CAL)).await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["google_calendar_id"], CAL);
    google.set_busy(CAL, "2030-01-08T08:00:00Z", "2030-01-08T09:00:00Z"); // 10:00–11:00 in Israel
    let (slots, v) = starts(&b, TUESDAY).await;
    assert_eq!(v["google_calendar"], "ok", "{v}");
    assert!(
        slots.contains(&"09:00".to_string()) && slots.contains(&"11:00".to_string()),
        "{slots:?}"
    );
    assert!(
        !slots
            .iter()
            .any(|t| t.as_str() >= "10:00" && t.as_str() < "11:00"),
        "{slots:?}"
    );
    // 09:30 would run into the busy time with its buffer.
    assert!(!slots.contains(&"09:30".to_string()), "{slots:?}");
    let asked = google.requests("POST", "/freeBusy");
    assert_eq!(asked[0]["timeZone"], "Asia/Jerusalem");
    assert_eq!(asked[0]["items"], json!([{ "id": CAL }]));
    // A booking into the busy time is refused with the next free time.
    let (s, v) = book(&b, "10:15").await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "slot_taken");
    assert_eq!(
        v["error"]["next_free"]["start"], "2030-01-08T11:00:00+02:00",
        "{v}"
    );
    let (s, v) = book(&b, "11:00").await;
    assert_eq!(s, 201, "{v}");
    // One token served every call.
    assert_eq!(google.inner.lock().unwrap().token_requests, 1);
    // A calendar Google cannot see blocks nothing.
    google.inner.lock().unwrap().unknown.insert(CAL.into());
    let (slots, _) = starts(&b, TUESDAY).await;
    assert!(slots.contains(&"10:00".to_string()), "{slots:?}");
    assert!(google.bad().is_empty(), "{:?}", google.bad());
}

async fn bookings_become_events(backend: Backend) {
    let (b, google) = with_google(backend).await;
    assert_eq!(connect(&b, json!(CAL)).await.0, 200);
    let (s, a) = book(&b, "09:00").await;
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_i64().unwrap();
    let a = synced(&b, id, 20).await;
    assert_eq!(a["calendar_sync_error"], Value::Null);
    let events = google.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let ((cal, ev_id), ev) = &events[0];
    assert_eq!(cal, CAL);
    assert_eq!(
        ev["start"],
        json!({ "dateTime": "2030-01-08T09:00:00+02:00", "timeZone": "Asia/Jerusalem" })
    );
    assert_eq!(
        ev["end"],
        json!({ "dateTime": "2030-01-08T09:30:00+02:00", "timeZone": "Asia/Jerusalem" })
    );
    let summary = ev["summary"].as_str().unwrap();
    assert!(
        summary.contains("תספורת") && summary.contains("דנה"),
        "{summary}"
    );
    // Moved: the same event, patched.
    let (s, m) = crm::patch(
        &b.app,
        &format!("/api/appointments/{id}"),
        &b.owner,
        json!({ "start": format!("{TUESDAY}T13:00") }),
    )
    .await;
    assert_eq!(s, 200, "{m}");
    common::wait_for("the patched event", 20, || async {
        let ev = google.event(CAL, ev_id)?;
        (ev["start"]["dateTime"] == "2030-01-08T13:00:00+02:00").then_some(())
    })
    .await;
    assert_eq!(
        google.event(CAL, ev_id).unwrap()["end"]["dateTime"],
        "2030-01-08T13:30:00+02:00"
    );
    assert_eq!(google.requests("PATCH", ev_id).len(), 1);
    synced(&b, id, 20).await;
    // Cancelled: deleted.
    let (s, c) = crm::post(
        &b.app,
        &format!("/api/appointments/{id}/cancel"),
        &b.owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    common::wait_for("the deleted event", 20, || async {
        google.event(CAL, ev_id).is_none().then_some(())
    })
    .await;
    assert_eq!(google.requests("DELETE", ev_id).len(), 1);
    // A staff member with no calendar: nothing written, no sync state.
    assert_eq!(connect(&b, Value::Null).await.0, 200);
    let (s, a) = book(&b, "15:00").await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["calendar_sync"], Value::Null, "{a}");
    assert!(google.bad().is_empty(), "{:?}", google.bad());
}

async fn google_down_never_blocks_booking(backend: Backend) {
    let (b, google) = with_google(backend).await;
    assert_eq!(connect(&b, json!(CAL)).await.0, 200);
    google.set_busy(CAL, "2030-01-08T08:00:00Z", "2030-01-08T09:00:00Z");
    google.set_down(true);
    let (slots, v) = starts(&b, TUESDAY).await;
    assert_eq!(v["google_calendar"], "unavailable", "{v}");
    assert!(
        slots.contains(&"10:00".to_string()),
        "our own calendar only: {slots:?}"
    );
    let (s, a) = book(&b, "12:00").await;
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_i64().unwrap();
    let failed = common::wait_for("the failed sync", 20, || async {
        let a = appointment(&b, id).await;
        (a["calendar_sync"] == "failed").then_some(a)
    })
    .await;
    assert!(
        failed["calendar_sync_error"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{failed}"
    );
    assert!(google.events().is_empty());
    google.set_down(false);
    synced(&b, id, 30).await;
    let events = google.events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].1["start"]["dateTime"],
        "2030-01-08T12:00:00+02:00"
    );
    assert!(google.bad().is_empty(), "{:?}", google.bad());
}

async fn google_slow_is_not_waited_for(backend: Backend) {
    let (b, google) = with_google(backend).await;
    assert_eq!(connect(&b, json!(CAL)).await.0, 200);
    google.set_busy(CAL, "2030-01-08T08:00:00Z", "2030-01-08T09:00:00Z");
    // A first answer fetches the token, so the deadline below is Google's alone.
    let (_, v) = starts(&b, TUESDAY).await;
    assert_eq!(v["google_calendar"], "ok", "{v}");
    google.inner.lock().unwrap().slow = true;
    let began = std::time::Instant::now();
    let (slots, v) = starts(&b, TUESDAY).await;
    let took = began.elapsed();
    assert_eq!(v["google_calendar"], "unavailable", "{v}");
    assert!(
        took < std::time::Duration::from_millis(4000),
        "waited {took:?}"
    );
    assert!(slots.contains(&"10:00".to_string()), "{slots:?}");
    let began = std::time::Instant::now();
    let (s, a) = book(&b, "10:00").await;
    assert_eq!(s, 201, "{a}");
    assert!(began.elapsed() < std::time::Duration::from_millis(4000));
}

async fn another_tenant_cannot_touch_the_calendar(backend: Backend) {
    let (a, _google) = with_google(backend).await;
    assert_eq!(connect(&a, json!(CAL)).await.0, 200);
    let a_owner = a.owner.clone();
    let b = business(a.app, "b", "+97231234568").await;
    let a_staff = a.staff;
    let (s, _) = crm::get(&b.app, &format!("/api/staff/{a_staff}"), &b.owner).await;
    assert_eq!(s, 404);
    let (s, _) = crm::call(
        &b.app,
        Method::PUT,
        &format!("/api/staff/{a_staff}"),
        Some(&b.owner),
        Some(json!({ "name": "x", "google_calendar_id": "evil@group.calendar.google.com" })),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = crm::post(
        &b.app,
        &format!("/api/staff/{a_staff}/ics-token"),
        &b.owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 404);
    let (s, list) = crm::get(&b.app, "/api/staff", &b.owner).await;
    assert_eq!(s, 200);
    assert!(!list.to_string().contains(CAL), "{list}");
    let (s, mine) = crm::get(&b.app, &format!("/api/staff/{a_staff}"), &a_owner).await;
    assert_eq!(s, 200);
    assert_eq!(
        mine["google_calendar_id"], CAL,
        "unchanged by the other tenant"
    );
}

async fn ics_feed_at_a_secret_url(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let b = business(app, "a", "+97231234567").await;
    let (s, a1) = book(&b, "09:00").await;
    assert_eq!(s, 201, "{a1}");
    let (s, a2) = book(&b, "14:00").await;
    assert_eq!(s, 201, "{a2}");
    let (s, _) = crm::post(
        &b.app,
        &format!("/api/appointments/{}/cancel", a2["id"]),
        &b.owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, t) = crm::post(
        &b.app,
        &format!("/api/staff/{}/ics-token", b.staff),
        &b.owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let path = t["path"].as_str().unwrap().to_string();
    assert!(t["url"].as_str().unwrap().ends_with(&path));
    let res = b.app.get(&path).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let body = res.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n"), "{body}");
    assert!(body.contains("DTSTART:20300108T070000Z"), "{body}");
    assert!(body.contains("STATUS:CANCELLED"), "{body}");
    // Wrong, malformed or rotated secrets: a bare 404.
    for bad in [
        format!("/ics/staff/{}.ics", "0".repeat(64)),
        "/ics/staff/nope.ics".to_string(),
        path.trim_end_matches(".ics").to_string(),
    ] {
        let res = b.app.get(&bad).await;
        assert_eq!(res.status(), 404, "{bad}");
        assert!(res.text().await.unwrap().is_empty());
    }
    let (s, t2) = crm::post(
        &b.app,
        &format!("/api/staff/{}/ics-token", b.staff),
        &b.owner,
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b.app.get(&path).await.status(),
        404,
        "the old URL is revoked"
    );
    let path = t2["path"].as_str().unwrap().to_string();
    let body = b.app.get(&path).await.text().await.unwrap();
    let Some(python) = std::env::var("MOKDAN_ICAL_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
    else {
        eprintln!(
            "MOKDAN_ICAL_PYTHON unset: the feed is not checked with PyPI icalendar (scripts/test.sh sets it)"
        );
        return;
    };
    let file = b.app.dir.path().join("feed.ics");
    std::fs::write(&file, &body).unwrap();
    let script = r#"
import json, sys, icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
out = []
for ev in cal.walk('VEVENT'):
    out.append({
        'uid': str(ev['UID']),
        'summary': str(ev['SUMMARY']),
        'description': str(ev.get('DESCRIPTION', '')),
        'start': ev.decoded('DTSTART').isoformat(),
        'end': ev.decoded('DTEND').isoformat(),
        'status': str(ev.get('STATUS', '')),
    })
print(json.dumps({'name': str(cal.get('X-WR-CALNAME', cal.get('NAME', ''))), 'events': out}, ensure_ascii=False))
"#;
    let out = std::process::Command::new(&python)
        .args(["-c", script, file.to_str().unwrap()])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let events = parsed["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{parsed}");
    let booked = events.iter().find(|e| e["status"] == "CONFIRMED").unwrap();
    assert_eq!(booked["start"], "2030-01-08T07:00:00+00:00");
    assert_eq!(booked["end"], "2030-01-08T07:30:00+00:00");
    assert_eq!(
        booked["summary"], "תספורת – דנה \"הכהנת\"; לוי, ת\"א",
        "{booked}"
    );
    assert!(
        booked["description"]
            .as_str()
            .unwrap()
            .contains("+972501234567")
    );
    let cancelled = events.iter().find(|e| e["status"] == "CANCELLED").unwrap();
    assert_eq!(cancelled["start"], "2030-01-08T12:00:00+00:00");
    assert_ne!(booked["uid"], cancelled["uid"]);
    assert_eq!(parsed["name"], "רונית", "{parsed}");
}

async fn the_phone_tools_see_google_too(backend: Backend) {
    let (b, google) = with_google(backend).await;
    assert_eq!(connect(&b, json!(CAL)).await.0, 200);
    google.set_busy(CAL, "2030-01-08T08:00:00Z", "2030-01-08T09:00:00Z"); // 10:00–11:00
    let business_id = b.id;
    let tools = mokdan::appointments::host::for_call_with(
        &b.app.state.db,
        b.app.state.calls.google.clone(),
        business_id,
        None,
        Some("+972501234567"),
    )
    .await
    .expect("the business offers a service");
    let call = |name: &'static str, args: Value| {
        let tools = tools.clone();
        async move {
            match tools.call(name, &args).await {
                Ok(v) => v,
                Err(e) => json!({ "ok": false, "error": e }),
            }
        }
    };
    let found = call(
        "find_free_slots",
        json!({ "date": TUESDAY, "after": "10:00", "before": "11:00" }),
    )
    .await;
    assert!(!found.to_string().contains("2030-01-08T10:"), "{found}");
    let refused = call(
        "book_appointment",
        json!({ "start": format!("{TUESDAY}T10:00"), "name": "דני" }),
    )
    .await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(refused.to_string().contains("slot_taken"), "{refused}");
    let booked = call(
        "book_appointment",
        json!({ "start": format!("{TUESDAY}T11:00"), "name": "דני" }),
    )
    .await;
    let id = booked["appointment"]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{booked}"));
    synced(&b, id, 20).await;
    assert_eq!(
        google.events()[0].1["start"]["dateTime"],
        "2030-01-08T11:00:00+02:00"
    );
}

dual_test!(the_phone_tools_see_google_too);
dual_test!(google_slow_is_not_waited_for);
dual_test!(closures_remove_slots);
dual_test!(google_busy_blocks_slots_and_bookings);
dual_test!(bookings_become_events);
dual_test!(google_down_never_blocks_booking);
dual_test!(another_tenant_cannot_touch_the_calendar);
dual_test!(ics_feed_at_a_secret_url);
