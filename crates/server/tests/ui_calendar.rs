//! The web calendar (#19, C5, C4): appointments booked through the API appear on the day
//! and week pages in their slot in Israel's time (on both sides of a clock change), one
//! staff member's view shows only theirs, another business's never show, a caller's name
//! is escaped, closed days are named in Hebrew, and each appointment's cancel and move
//! forms point at the API routes that do it.

mod common;

use common::Backend;
use common::web::{World, get, world};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn api(w: &World, c: &Client, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = w.app.url(path);
    let req = match method {
        "POST" => c.post(url),
        "PATCH" => c.patch(url),
        "PUT" => c.put(url),
        _ => unreachable!(),
    };
    let res = req.json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A 30-minute service and a staff member giving it Sunday to Friday, 08:00–20:00:
/// `(service_id, staff_id)`.
async fn salon(w: &World, c: &Client, service: &str, staff: &str) -> (i64, i64) {
    let (s, v) = api(
        w,
        c,
        "POST",
        "/api/services",
        json!({ "name": service, "duration_minutes": 30 }),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let sid = v["id"].as_i64().unwrap();
    let hours: Vec<Value> = (0..6)
        .map(|d| json!({ "day": d, "from": "08:00", "to": "20:00" }))
        .collect();
    let (s, v) = api(
        w,
        c,
        "POST",
        "/api/staff",
        json!({ "name": staff, "service_ids": [sid], "hours": hours }),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    (sid, v["id"].as_i64().unwrap())
}

async fn book(
    w: &World,
    c: &Client,
    service: i64,
    staff: i64,
    start: &str,
    name: &str,
) -> (u16, Value) {
    api(
        w,
        c,
        "POST",
        "/api/appointments",
        json!({ "service_id": service, "staff_id": staff, "start": start,
                "customer_name": name, "customer_phone": "050-1234567" }),
    )
    .await
}

async fn page(w: &World, c: &Client, query: &str) -> String {
    let (status, _, body) = get(c, &w.app, &format!("/app/biz/calendar{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}");
    body
}

/// The HTML of one element, from `marker` (an attribute that opens it) to the next
/// element of the same kind.
fn block<'a>(body: &'a str, marker: &str, close: &str) -> &'a str {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not on the page"));
    let rest = &body[at..];
    let end = rest.find(close).unwrap_or(rest.len());
    &rest[..end]
}

/// One hour's row of a day view.
fn hour<'a>(body: &'a str, hh: &str) -> &'a str {
    block(body, &format!(r#"data-hour="{hh}""#), "</li>")
}

/// One day of a week view.
fn day<'a>(body: &'a str, date: &str) -> &'a str {
    block(body, &format!(r#"data-date="{date}""#), "</section>")
}

async fn bookings_show_in_their_slots(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let (sid, dana) = salon(&w, &owner, "תספורת", "דנה").await;
    let (color, yossi) = salon(&w, &owner, "צבע", "יוסי").await;
    let hostile = r#"<script>alert(1)</script> רונית "כהן""#;
    let (s, a) = book(&w, &owner, sid, dana, "2030-01-08T09:30", hostile).await;
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_i64().unwrap();

    // The day view: in the 09:00 row, with the service, the phone as a tel: link and the
    // name escaped.
    let body = page(&w, &owner, "?view=day&date=2030-01-08").await;
    let nine = hour(&body, "09:00");
    assert!(nine.contains(&format!(r#"id="appt-{id}""#)), "{nine}");
    assert!(
        nine.contains("09:30–10:00") && nine.contains("תספורת"),
        "{nine}"
    );
    assert!(nine.contains(r#"href="tel:+972501234567""#), "{nine}");
    assert!(nine.contains("050-123-4567"), "{nine}");
    assert!(
        !hour(&body, "10:00").contains("appt-"),
        "only in its own slot"
    );
    assert!(!body.contains("<script>alert"), "the name is escaped");
    assert!(
        body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{body}"
    );
    // Its actions are the API's own routes.
    assert!(nine.contains(&format!(r#"data-api="/api/appointments/{id}/cancel""#)));
    assert!(nine.contains(&format!(
        r#"data-api="/api/appointments/{id}" data-method="PATCH""#
    )));
    assert!(
        nine.contains(r#"value="2030-01-08T09:30""#),
        "the move form starts at it"
    );
    assert!(body.contains(r#"data-api="/api/appointments" data-reload="1""#));
    assert!(body.contains(r#"href="/app/biz/calendar" aria-current="page">יומן"#));

    // The week view (Sunday 6 to Saturday 12 January 2030) puts it on Tuesday.
    let week = page(&w, &owner, "?view=week&date=2030-01-10").await;
    assert!(
        week.contains(r#"data-date="2030-01-06""#),
        "the week starts on Sunday"
    );
    assert!(
        week.contains(r#"data-date="2030-01-12""#),
        "and ends on Saturday"
    );
    assert!(day(&week, "2030-01-08").contains(&format!(r#"id="appt-{id}""#)));
    assert!(!day(&week, "2030-01-09").contains("appt-"));
    assert!(week.contains("date=2030-01-03") && week.contains("date=2030-01-17"));

    // One staff member's calendar shows only theirs.
    let (s, b) = book(&w, &owner, color, yossi, "2030-01-08T09:00", "אבי").await;
    assert_eq!(s, 201, "{b}");
    let other = b["id"].as_i64().unwrap();
    let all = page(&w, &owner, "?view=day&date=2030-01-08").await;
    assert!(hour(&all, "09:00").contains(&format!(r#"id="appt-{other}""#)));
    let only = page(
        &w,
        &owner,
        &format!("?view=day&date=2030-01-08&staff={dana}"),
    )
    .await;
    assert!(only.contains(&format!(r#"id="appt-{id}""#)));
    assert!(!only.contains(&format!(r#"id="appt-{other}""#)), "{only}");
    // Dana's Saturday is closed: she has no hours then.
    let sat = page(
        &w,
        &owner,
        &format!("?view=week&date=2030-01-08&staff={dana}"),
    )
    .await;
    assert!(day(&sat, "2030-01-12").contains("day-closed"), "{sat}");

    // A taken time answers 409 with the next free time said in Hebrew.
    let (s, v) = book(&w, &owner, sid, dana, "2030-01-08T09:30", "שני").await;
    assert_eq!(s, 409, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("התור הפנוי הבא") && msg.contains("בשעה"),
        "{msg}"
    );

    // Moved to 11:00, it is in the 11:00 row; cancelled, it is struck through with no
    // actions left.
    let (s, v) = api(
        &w,
        &owner,
        "PATCH",
        &format!("/api/appointments/{id}"),
        json!({ "start": "2030-01-08T11:00" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let body = page(&w, &owner, "?view=day&date=2030-01-08").await;
    assert!(!hour(&body, "09:00").contains(&format!(r#"id="appt-{id}""#)));
    assert!(hour(&body, "11:00").contains(&format!(r#"id="appt-{id}""#)));
    let (s, v) = api(
        &w,
        &owner,
        "POST",
        &format!("/api/appointments/{id}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let body = page(&w, &owner, "?view=day&date=2030-01-08").await;
    let eleven = hour(&body, "11:00");
    assert!(eleven.contains(r#"class="appt cancelled""#), "{eleven}");
    assert!(eleven.contains("בוטל"));
    assert!(!eleven.contains(&format!("/api/appointments/{id}/cancel")));

    // An agent sees the calendar too; a bad date or staff id shows today, not an error.
    let agent = w.client("agent@a.test").await;
    page(&w, &agent, "?view=week&date=2030-01-08").await;
    page(&w, &owner, "?date=31.12.2030&staff=abc&view=%3Cx%3E").await;
    page(&w, &owner, "?date=9999-12-31").await;
    w.app.shutdown().await.unwrap();
}
dual_test!(bookings_show_in_their_slots);

async fn israel_time_across_the_clock_changes(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    let (sid, dana) = salon(&w, &owner, "בדיקה", "דנה").await;
    // 2030: summer time from Friday 29 March 02:00; winter time from Sunday 27 October
    // 02:00. The same wall-clock hour on each side of each change.
    let mut ids = Vec::new();
    for (start, offset) in [
        ("2030-03-28T09:00", "+02:00"),
        ("2030-03-29T09:00", "+03:00"),
        ("2030-10-25T09:00", "+03:00"),
        ("2030-10-27T09:00", "+02:00"),
    ] {
        let (s, a) = book(&w, &owner, sid, dana, start, "לקוח").await;
        assert_eq!(s, 201, "{start}: {a}");
        assert_eq!(a["start"], format!("{start}:00{offset}"));
        ids.push((start, a["id"].as_i64().unwrap()));
    }
    for (start, id) in &ids {
        let date = &start[..10];
        let body = page(&w, &owner, &format!("?view=day&date={date}")).await;
        let nine = hour(&body, "09:00");
        assert!(
            nine.contains(&format!(r#"id="appt-{id}""#)),
            "{start}: {nine}"
        );
        assert!(nine.contains("09:00–09:30"), "{start}: {nine}");
        // The week that holds the change shows it on its own day.
        let week = page(&w, &owner, &format!("?view=week&date={date}")).await;
        assert!(
            day(&week, date).contains(&format!(r#"id="appt-{id}""#)),
            "{start}"
        );
    }
    w.app.shutdown().await.unwrap();
}
dual_test!(israel_time_across_the_clock_changes);

async fn closed_days_are_named(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;
    salon(&w, &owner, "תספורת", "דנה").await;
    let (s, v) = api(
        &w,
        &owner,
        "PUT",
        &format!("/api/businesses/{}/appointment-settings", w.biz_a),
        json!({ "location": "tel_aviv", "closed_on_holy_days": true, "slot_step_minutes": 15 }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // Rosh Hashana 5791 is Saturday 28 and Sunday 29 September 2030; Yom Kippur Monday
    // 7 October.
    let week = page(&w, &owner, "?view=week&date=2030-09-27").await;
    let sat = day(&week, "2030-09-28");
    assert!(sat.contains("day-closed") && sat.contains("שבת"), "{sat}");
    let next = page(&w, &owner, "?view=week&date=2030-09-29").await;
    let sun = day(&next, "2030-09-29");
    assert!(
        sun.contains("day-closed") && sun.contains("ראש השנה ב׳"),
        "{sun}"
    );
    // It opens again at nightfall.
    assert!(sun.contains(r#"פתוח <bdi dir="ltr">19:"#), "{sun}");
    // Friday closes at candle-lighting: open hours end before sunset.
    let fri = day(&week, "2030-09-27");
    assert!(!fri.contains("day-closed"), "{fri}");
    assert!(fri.contains(r#"פתוח <bdi dir="ltr">00:00–18:"#), "{fri}");
    let yk = page(&w, &owner, "?view=day&date=2030-10-07").await;
    assert!(yk.contains(r#"id="cal-closed""#), "{yk}");
    assert!(yk.contains("יום כיפור"));
    w.app.shutdown().await.unwrap();
}
dual_test!(closed_days_are_named);

async fn another_business_never_shows(backend: Backend) {
    let w = world(backend).await;
    let owner_a = w.client("owner@a.test").await;
    let owner_b = w.client("owner@b.test").await;
    let (sid_a, staff_a) = salon(&w, &owner_a, "תספורת", "דנה").await;
    let (sid_b, staff_b) = salon(&w, &owner_b, "טיפול לרכב", "מכונאי של המוסך").await;
    let (s, a) = book(
        &w,
        &owner_a,
        sid_a,
        staff_a,
        "2030-01-08T09:00",
        "לקוחה של המרפאה",
    )
    .await;
    assert_eq!(s, 201, "{a}");
    let (s, b) = book(
        &w,
        &owner_b,
        sid_b,
        staff_b,
        "2030-01-08T09:00",
        "לקוח של המוסך",
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let theirs = b["id"].as_i64().unwrap();
    for query in [
        "?view=day&date=2030-01-08".to_string(),
        "?view=week&date=2030-01-08".to_string(),
        format!("?view=week&date=2030-01-08&staff={staff_b}"),
    ] {
        let body = page(&w, &owner_a, &query).await;
        assert!(body.contains("לקוחה של המרפאה"), "{query}");
        assert!(!body.contains("לקוח של המוסך"), "{query}");
        assert!(!body.contains("מכונאי של המוסך"), "{query}");
        assert!(!body.contains("טיפול לרכב"), "{query}");
        assert!(!body.contains(&format!("appt-{theirs}\"")), "{query}");
    }
    // Nor can its appointment be cancelled or moved from the other business.
    let (s, _) = api(
        &w,
        &owner_a,
        "POST",
        &format!("/api/appointments/{theirs}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(s, 404);
    w.app.shutdown().await.unwrap();
}
dual_test!(another_business_never_shows);
