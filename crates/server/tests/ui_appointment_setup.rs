//! The appointment set-up page (#19, C5, C4): `/app/biz/settings/appointments` lists the
//! services, staff (their services and weekly hours), closures and booking settings the API
//! made, prices in shekels; an agent gets the "no permission" page; another business's
//! services and staff never show; hostile names are escaped; and every form posts to the
//! API route, with the method, that does the write. The settings page and an empty
//! calendar link to it.

mod common;

use common::Backend;
use common::web::{World, get, world};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const PAGE: &str = "/app/biz/settings/appointments";

async fn api(w: &World, c: &Client, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = w.app.url(path);
    let req = match method {
        "POST" => c.post(url),
        "PUT" => c.put(url),
        _ => unreachable!(),
    };
    let res = req.json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn created(w: &World, c: &Client, method: &str, path: &str, body: Value) -> i64 {
    let (s, v) = api(w, c, method, path, body).await;
    assert!(s == 200 || s == 201, "{path}: {s} {v}");
    v["id"].as_i64().unwrap_or_default()
}

async fn page(w: &World, c: &Client) -> String {
    let (status, _, body) = get(c, &w.app, PAGE).await;
    assert_eq!(status, StatusCode::OK);
    body
}

/// A date `days` from today in Israel: `(YYYY-MM-DD, d.m.yyyy)` (the closures list looks a
/// year ahead).
fn ahead(days: i64) -> (String, String) {
    let d = jiff::Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Jerusalem").unwrap())
        .date()
        .checked_add(jiff::Span::new().days(days))
        .unwrap();
    (
        d.to_string(),
        format!("{}.{}.{}", d.day(), d.month(), d.year()),
    )
}

/// The HTML from `marker` to the next `close`.
fn block<'a>(body: &'a str, marker: &str, close: &str) -> &'a str {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not on the page"));
    let rest = &body[at..];
    &rest[..rest.find(close).unwrap_or(rest.len())]
}

async fn lists_what_the_api_made(backend: Backend) {
    let w = world(backend).await;
    let owner = w.client("owner@a.test").await;

    // Nothing yet: the calendar sends the owner here, and the page says what is missing.
    let (_, _, cal) = get(&owner, &w.app, "/app/biz/calendar").await;
    assert!(
        cal.contains(r#"id="setup-link""#) && cal.contains(PAGE),
        "{cal}"
    );
    let body = page(&w, &owner).await;
    assert!(body.contains(r#"id="no-services""#) && body.contains(r#"id="no-staff""#));
    let (_, _, settings) = get(&owner, &w.app, "/app/biz/settings").await;
    assert!(
        settings.contains(&format!(r#"href="{PAGE}""#)),
        "{settings}"
    );

    let cut = created(
        &w,
        &owner,
        "POST",
        "/api/services",
        json!({ "name": "תספורת", "duration_minutes": 45, "buffer_after_minutes": 10,
                "price_agorot": 12050 }),
    )
    .await;
    let hostile = r#"<script>alert(1)</script> צבע "מיוחד""#;
    let color = created(
        &w,
        &owner,
        "POST",
        "/api/services",
        json!({ "name": hostile, "duration_minutes": 60 }),
    )
    .await;
    let dana = created(
        &w,
        &owner,
        "POST",
        "/api/staff",
        json!({ "name": "דנה <b>כהן</b>", "service_ids": [cut],
                "hours": [{ "day": 0, "from": "09:00", "to": "13:00" },
                          { "day": 0, "from": "14:00", "to": "18:00" },
                          { "day": 3, "from": "10:00", "to": "16:00" }],
                "google_calendar_id": "dana@group.calendar.google.com" }),
    )
    .await;
    let ((first, first_shown), (last, last_shown)) = (ahead(30), ahead(39));
    let (short_day, short_shown) = ahead(60);
    let closure = created(
        &w,
        &owner,
        "POST",
        "/api/closures",
        json!({ "first_date": first, "last_date": last, "note": "חופשת <i>קיץ</i>" }),
    )
    .await;
    let short = created(
        &w,
        &owner,
        "POST",
        "/api/closures",
        json!({ "first_date": short_day, "from": "08:00", "to": "12:00" }),
    )
    .await;
    let (s, v) = api(
        &w,
        &owner,
        "PUT",
        &format!("/api/businesses/{}/appointment-settings", w.biz_a),
        json!({ "location": "jerusalem", "closed_on_holy_days": true, "slot_step_minutes": 20,
                "hours": [{ "day": 1, "from": "08:00", "to": "19:00" }],
                "reminder_time": "17:30", "reminders": false,
                "confirm_template": "appt_confirm_he" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let body = page(&w, &owner).await;
    assert!(body.contains(r#"data-page="appointment-setup""#));
    // Services, the price in shekels and never in agorot.
    let svc = block(&body, &format!(r#"data-service="{cut}""#), "</li>");
    assert!(svc.contains("תספורת") && svc.contains("45 דקות"), "{svc}");
    assert!(svc.contains("הפסקה של 10 דקות"), "{svc}");
    assert!(
        svc.contains("120.50 ₪") && svc.contains(r#"value="120.50""#),
        "{svc}"
    );
    assert!(!body.contains("12050"), "agorot never shown");
    assert!(svc.contains(r#"data-type="agorot""#));
    // Hostile names are escaped, in the list and in the staff's checkboxes.
    assert!(!body.contains("<script>alert"), "escaped");
    assert!(body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(!body.contains("<b>כהן</b>") && !body.contains("<i>קיץ</i>"));
    // Staff: what they give, their week (both Sunday ranges kept), their calendar.
    let st = block(&body, &format!(r#"data-staff="{dana}""#), "</li>");
    assert!(st.contains("דנה &#60;b&#62;כהן&#60;/b&#62;"), "{st}");
    assert!(
        st.contains(concat!(
            r#"א׳ <bdi dir="ltr">09:00–13:00</bdi> · א׳ <bdi dir="ltr">14:00–18:00</bdi>"#,
            r#" · ד׳ <bdi dir="ltr">10:00–16:00</bdi>"#
        )),
        "{st}"
    );
    assert!(st.contains("dana@group.calendar.google.com"));
    let cut_box =
        format!(r#"name="service_ids" value="{cut}" data-type="number" data-list="1" checked"#);
    let color_box =
        format!(r#"name="service_ids" value="{color}" data-type="number" data-list="1">"#);
    assert!(st.contains(&cut_box) && st.contains(&color_box), "{st}");
    assert!(st.contains(r#"value="14:00""#) && st.contains(r#"value="18:00""#));
    // Closures: the range, the special hours, the note.
    let c = block(&body, &format!(r#"data-closure="{closure}""#), "</li>");
    assert!(
        c.contains(&format!("{first_shown}–{last_shown}")) && c.contains("סגור כל היום"),
        "{c}"
    );
    assert!(c.contains("חופשת &#60;i&#62;קיץ&#60;/i&#62;"), "{c}");
    let c = block(&body, &format!(r#"data-closure="{short}""#), "</li>");
    assert!(c.contains(&short_shown) && c.contains("08:00–12:00"), "{c}");
    // Settings as saved.
    let set = block(&body, r#"id="booking-settings""#, "</form>");
    assert!(set.contains(r#"value="jerusalem" selected"#), "{set}");
    assert!(set.contains(r#"id="set-holy-days" data-type="bool" checked"#));
    assert!(set.contains(r#"value="20" selected"#));
    assert!(
        set.contains(r#"id="set-reminders" data-type="bool">"#),
        "off"
    );
    assert!(set.contains(r#"value="17:30""#));
    assert!(set.contains(r#"value="appt_confirm_he""#));
    assert!(
        set.contains(r#"data-day="1""#) && set.contains(r#"value="19:00""#),
        "the business's own hours, so saving keeps them"
    );

    // Every form points at the API route and method that does it.
    let p = w.biz_a;
    for form in [
        r#"id="service-add" data-api="/api/services" data-reload="1""#.to_string(),
        format!(r#"data-api="/api/services/{cut}" data-method="PATCH""#),
        format!(
            r#"data-api="/api/services/{cut}" data-method="DELETE" data-reload="1" data-confirm="#
        ),
        r#"id="staff-add" data-api="/api/staff" data-reload="1""#.to_string(),
        format!(r#"data-api="/api/staff/{dana}" data-method="PUT""#),
        format!(
            r#"data-api="/api/staff/{dana}" data-method="DELETE" data-reload="1" data-confirm="#
        ),
        format!(r#"data-api="/api/staff/{dana}/ics-token" data-show="url""#),
        r#"id="closure-add" data-api="/api/closures" data-reload="1""#.to_string(),
        format!(r#"data-api="/api/closures/{closure}" data-method="DELETE""#),
        format!(
            r#"id="booking-settings" data-api="/api/businesses/{p}/appointment-settings" data-method="PUT""#
        ),
    ] {
        assert!(body.contains(&form), "{form}");
    }
    // The calendar no longer asks for a set-up.
    let (_, _, cal) = get(&owner, &w.app, "/app/biz/calendar").await;
    assert!(!cal.contains(r#"id="setup-link""#));
    w.app.shutdown().await.unwrap();
}
dual_test!(lists_what_the_api_made);

async fn owners_only_and_one_business(backend: Backend) {
    let w = world(backend).await;
    let owner_a = w.client("owner@a.test").await;
    let owner_b = w.client("owner@b.test").await;
    created(
        &w,
        &owner_a,
        "POST",
        "/api/services",
        json!({ "name": "בדיקת שיניים", "duration_minutes": 30 }),
    )
    .await;
    let theirs = created(
        &w,
        &owner_b,
        "POST",
        "/api/services",
        json!({ "name": "החלפת שמן", "duration_minutes": 30 }),
    )
    .await;
    let mechanic = created(
        &w,
        &owner_b,
        "POST",
        "/api/staff",
        json!({ "name": "מכונאי של המוסך", "service_ids": [theirs],
                "hours": [{ "day": 0, "from": "07:00", "to": "15:00" }] }),
    )
    .await;
    created(
        &w,
        &owner_b,
        "POST",
        "/api/closures",
        json!({ "first_date": ahead(20).0, "note": "סגירה של המוסך" }),
    )
    .await;
    let body = page(&w, &owner_a).await;
    assert!(body.contains("בדיקת שיניים"));
    for other in ["החלפת שמן", "מכונאי של המוסך", "סגירה של המוסך"]
    {
        assert!(!body.contains(other), "{other}");
    }
    assert!(!body.contains(&format!("/api/staff/{mechanic}")));
    assert!(!body.contains(&format!(r#"value="{theirs}""#)));
    assert!(!body.contains(&format!("/api/businesses/{}/", w.biz_b)));

    // An agent: the app's "no permission" page, and no link to it on the calendar.
    let agent = w.client("agent@a.test").await;
    let (status, _, body) = get(&agent, &w.app, PAGE).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("אין לך הרשאה"), "{body}");
    assert!(!body.contains("בדיקת שיניים"));
    let (_, _, cal) = get(&agent, &w.app, "/app/biz/calendar").await;
    assert!(!cal.contains(r#"id="setup-link""#));
    assert!(cal.contains(r#"id="setup-needed""#), "no staff yet: said");
    // Nobody signed in: the login page.
    let nobody = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (status, headers, _) = get(&nobody, &w.app, PAGE).await;
    assert!(status.is_redirection(), "{status}");
    assert!(
        headers["location"]
            .to_str()
            .unwrap()
            .starts_with("/app/login"),
        "{headers:?}"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(owners_only_and_one_business);
