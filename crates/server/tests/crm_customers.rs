//! Customers and leads over the API (C2, C4): CRUD, phone normalisation, uniqueness,
//! search and paging, CSV import and export with Hebrew, the timeline, and the audit log.

mod common;

use common::crm;
use common::{Backend, TestApp};
use mokdan::store::users::Role;
use serde_json::{Value, json};

async fn owner_app(backend: Backend) -> (TestApp, i64, String) {
    let app = TestApp::spawn(backend).await;
    let bid = crm::add_business(&app, "מרפאה", "+97231234567").await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    let token = crm::login(&app, "owner@example.com").await;
    (app, bid, token)
}

async fn phones_are_normalised_and_unique(backend: Backend) {
    let (app, _, t) = owner_app(backend).await;
    let (s, c) = crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "דנה", "phone": "050-1234567" }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["phone"], "+972501234567");
    assert_eq!(c["phone_display"], "050-123-4567");
    assert_eq!(c["status"], "new");
    // The same number in every other form is the same customer: 409.
    for form in [
        "+972 50 123 4567",
        "00972501234567",
        "0501234567",
        "+972-050-1234567",
        "972501234567",
    ] {
        let (s, v) = crm::post(&app, "/api/customers", &t, json!({ "phone": form })).await;
        assert_eq!(s, 409, "{form}: {v}");
        assert_eq!(crm::error_code(&v), "conflict");
    }
    let (s, c2) = crm::post(&app, "/api/customers", &t, json!({ "phone": "03-1234567" })).await;
    assert_eq!(s, 201);
    assert_eq!(c2["phone"], "+97231234567");
    for bad in ["", "abc", "12", "050-123"] {
        let (s, v) = crm::post(&app, "/api/customers", &t, json!({ "phone": bad })).await;
        assert_eq!(s, 422, "{bad:?}: {v}");
    }
    // PATCH onto an existing phone is 409 too; onto a new form is normalised.
    let id2 = c2["id"].as_i64().unwrap();
    let (s, _) = crm::patch(
        &app,
        &format!("/api/customers/{id2}"),
        &t,
        json!({ "phone": "+972501234567" }),
    )
    .await;
    assert_eq!(s, 409);
    let (s, v) = crm::patch(
        &app,
        &format!("/api/customers/{id2}"),
        &t,
        json!({ "phone": "00972 52 765 4321" }),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["phone"], "+972527654321");
    // The same phone in another business is fine (unique per business).
    let other = crm::add_business(&app, "אחר", "+97239999999").await;
    crm::add_user(&app, "o2@example.com", Role::Owner, Some(other)).await;
    let t2 = crm::login(&app, "o2@example.com").await;
    let (s, _) = crm::post(
        &app,
        "/api/customers",
        &t2,
        json!({ "phone": "050-1234567" }),
    )
    .await;
    assert_eq!(s, 201);
}
dual_test!(phones_are_normalised_and_unique);

async fn crud_and_validation(backend: Backend) {
    let (app, bid, t) = owner_app(backend).await;
    let agent = crm::add_user(&app, "agent@example.com", Role::Agent, Some(bid)).await;
    let (s, c) = crm::post(&app, "/api/customers", &t, json!({
        "name": "  יוסי לוי ", "phone": "052-1112233", "email": "yossi@example.co.il",
        "status": "qualified", "tags": ["vip", "חדש", "vip"], "notes": "מעוניין בתור", "owner_user_id": agent,
    })).await;
    assert_eq!(s, 201, "{c}");
    assert_eq!(c["name"], "יוסי לוי");
    assert_eq!(c["tags"], json!(["vip", "חדש"]));
    assert_eq!(c["owner_user_id"], agent);
    let id = c["id"].as_i64().unwrap();
    let (s, got) = crm::get(&app, &format!("/api/customers/{id}"), &t).await;
    assert_eq!((s, &got), (200, &c));
    // PATCH: absent keeps, null clears.
    let (s, p) = crm::patch(
        &app,
        &format!("/api/customers/{id}"),
        &t,
        json!({ "status": "won", "email": null, "tags": "a, b" }),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["status"], "won");
    assert_eq!(p["email"], Value::Null);
    assert_eq!(p["name"], "יוסי לוי");
    assert_eq!(p["tags"], json!(["a", "b"]));
    for (body, what) in [
        (json!({ "status": "maybe" }), "status"),
        (json!({ "email": "not-an-email" }), "email"),
        (json!({ "owner_user_id": 99999 }), "owner_user_id"),
        (json!({ "surprise": 1 }), "unknown field"),
    ] {
        let (s, v) = crm::patch(&app, &format!("/api/customers/{id}"), &t, body).await;
        assert_eq!(s, 422, "{what}: {v}");
        crm::error_code(&v);
    }
    // An owner of another business is not a valid lead owner here.
    let other = crm::add_business(&app, "אחר", "+97239999999").await;
    let stranger = crm::add_user(&app, "x@example.com", Role::Owner, Some(other)).await;
    let (s, _) = crm::patch(
        &app,
        &format!("/api/customers/{id}"),
        &t,
        json!({ "owner_user_id": stranger }),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = crm::delete(&app, &format!("/api/customers/{id}"), &t).await;
    assert_eq!(s, 204);
    let (s, _) = crm::get(&app, &format!("/api/customers/{id}"), &t).await;
    assert_eq!(s, 404);

    // The audit log has create, update and delete, with who and what.
    let (s, log) = crm::get(&app, "/api/audit", &t).await;
    assert_eq!(s, 200);
    let rows: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entity"] == "customer" && r["entity_id"] == id)
        .collect();
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["delete", "update", "create"]);
    let me: Value = crm::get(&app, "/api/auth/me", &t).await.1;
    assert!(rows.iter().all(|r| r["actor_user_id"] == me["user"]["id"]));
    let changes: Value = serde_json::from_str(rows[1]["changes"].as_str().unwrap()).unwrap();
    assert_eq!(changes["status"], json!(["qualified", "won"]));
    assert!(
        changes.get("name").is_none(),
        "only changed fields: {changes}"
    );
}
dual_test!(crud_and_validation);

async fn search_filter_and_pages(backend: Backend) {
    let (app, _, t) = owner_app(backend).await;
    for i in 0..120 {
        let status = ["new", "contacted", "won"][i % 3];
        let (s, _) = crm::post(&app, "/api/customers", &t, json!({
            "name": format!("לקוח מספר {i}"), "phone": format!("+9725410{i:05}"), "status": status,
        })).await;
        assert_eq!(s, 201);
    }
    crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "Sarah Cohen", "phone": "058-9998877" }),
    )
    .await;
    let (_, p1) = crm::get(&app, "/api/customers?per_page=50", &t).await;
    assert_eq!(p1["total"], 121);
    assert_eq!(p1["items"].as_array().unwrap().len(), 50);
    assert_eq!(p1["items"][0]["name"], "Sarah Cohen", "newest first");
    assert_eq!(p1["items"][1]["name"], "לקוח מספר 119");
    let (_, p3) = crm::get(&app, "/api/customers?per_page=50&page=3", &t).await;
    assert_eq!(p3["items"].as_array().unwrap().len(), 21);
    assert_eq!(p3["items"][20]["name"], "לקוח מספר 0");
    let (s, _) = crm::get(&app, "/api/customers?per_page=101", &t).await;
    assert_eq!(s, 422);
    let (s, _) = crm::get(&app, "/api/customers?page=0", &t).await;
    assert_eq!(s, 422);
    let (_, won) = crm::get(&app, "/api/customers?status=won&per_page=100", &t).await;
    assert_eq!(won["total"], 40);
    assert!(
        won["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "won")
    );
    // By name (Hebrew, and case-insensitive Latin), by phone in any form.
    let (_, q) = crm::get(&app, "/api/customers?q=%D7%9E%D7%A1%D7%A4%D7%A8%2011", &t).await;
    let names: Vec<&str> = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "לקוח מספר 119",
            "לקוח מספר 118",
            "לקוח מספר 117",
            "לקוח מספר 116",
            "לקוח מספר 115",
            "לקוח מספר 114",
            "לקוח מספר 113",
            "לקוח מספר 112",
            "לקוח מספר 111",
            "לקוח מספר 110",
            "לקוח מספר 11"
        ]
    );
    let (_, q) = crm::get(&app, "/api/customers?q=sarah", &t).await;
    assert_eq!(q["total"], 1);
    for form in ["058-9998877", "0589998877", "+972589998877", "99988"] {
        let (_, q) = crm::get(&app, &format!("/api/customers?q={}", urlencode(form)), &t).await;
        assert_eq!(q["total"], 1, "{form}");
        assert_eq!(q["items"][0]["name"], "Sarah Cohen");
    }
    // LIKE wildcards in q are literal.
    let (_, q) = crm::get(&app, "/api/customers?q=%25", &t).await;
    assert_eq!(q["total"], 0);
}
dual_test!(search_filter_and_pages);

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(' ', "%20")
}

async fn csv_round_trips_hebrew_with_bom(backend: Backend) {
    let (app, _, t) = owner_app(backend).await;
    let people = [
        (
            "שרה לוי, \"הבכירה\"",
            "050-1234567",
            "sara@example.co.il",
            "won",
            "vip,חדש",
            "שורה ראשונה\nשורה שנייה",
        ),
        (
            "=cmd|' /C calc'!A0",
            "+972 52 765 4321",
            "",
            "new",
            "",
            "-2+3",
        ),
        ("אבי", "03-7654321", "", "contacted", "", ""),
    ];
    for (name, phone, email, status, tags, notes) in people {
        let mut body =
            json!({ "name": name, "phone": phone, "status": status, "tags": tags, "notes": notes });
        if !email.is_empty() {
            body["email"] = json!(email);
        }
        let (s, v) = crm::post(&app, "/api/customers", &t, body).await;
        assert_eq!(s, 201, "{v}");
    }
    let r = app
        .http
        .get(app.url("/api/customers/export"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 BOM for Excel");
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains("\"שרה לוי, \"\"הבכירה\"\"\""), "{text}");
    assert!(text.contains("'=cmd"), "formula defused: {text}");
    assert!(text.contains("'-2+3"), "arithmetic defused too: {text}");

    // Into a fresh business: everything comes back exactly.
    let other = crm::add_business(&app, "עותק", "+97238888888").await;
    crm::add_user(&app, "copy@example.com", Role::Owner, Some(other)).await;
    let t2 = crm::login(&app, "copy@example.com").await;
    let report = import(&app, &t2, bytes.to_vec()).await;
    assert_eq!(report, json!({ "created": 3, "updated": 0, "errors": [] }));
    let (_, a) = crm::get(&app, "/api/customers", &t).await;
    let (_, b) = crm::get(&app, "/api/customers", &t2).await;
    let strip = |v: &Value| -> Vec<Value> {
        let mut out: Vec<Value> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                json!([
                    c["name"],
                    c["phone"],
                    c["email"],
                    c["status"],
                    c["tags"],
                    c["notes"]
                ])
            })
            .collect();
        out.sort_by_key(|x| x.to_string());
        out
    };
    assert_eq!(strip(&a), strip(&b));
    // Importing the same file again only updates (dedup by phone).
    let report = import(&app, &t2, bytes.to_vec()).await;
    assert_eq!(report, json!({ "created": 0, "updated": 3, "errors": [] }));
    let (_, b) = crm::get(&app, "/api/customers", &t2).await;
    assert_eq!(b["total"], 3);
}
dual_test!(csv_round_trips_hebrew_with_bom);

async fn import(app: &TestApp, token: &str, body: Vec<u8>) -> Value {
    let r = app
        .http
        .post(app.url("/api/customers/import"))
        .bearer_auth(token)
        .header("content-type", "text/csv; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn import_reports_each_bad_row(backend: Backend) {
    let (app, _, t) = owner_app(backend).await;
    crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "קיים", "phone": "050-0000001" }),
    )
    .await;
    let csv = "Name,Phone,Status,Email\r\n\
               חדש,050-0000002,new,\r\n\
               קיים מעודכן,+972500000001,contacted,\r\n\
               בלי טלפון,,new,\r\n\
               טלפון שבור,12ab,new,\r\n\
               סטטוס,050-0000003,maybe,\r\n\
               מייל,050-0000004,new,nope\r\n\
               כפול,0500000002,won,\r\n";
    let report = import(&app, &t, csv.as_bytes().to_vec()).await;
    assert_eq!(report["created"], 1);
    assert_eq!(report["updated"], 2);
    let rows: Vec<i64> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_i64().unwrap())
        .collect();
    assert_eq!(rows, [4, 5, 6, 7], "{report}");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("phone")
    );
    assert!(
        report["errors"][2]["message"]
            .as_str()
            .unwrap()
            .contains("status")
    );
    let (_, list) = crm::get(&app, "/api/customers?q=0500000001", &t).await;
    assert_eq!(list["items"][0]["name"], "קיים מעודכן");
    assert_eq!(list["items"][0]["status"], "contacted");
    let (_, list) = crm::get(&app, "/api/customers?q=0500000002", &t).await;
    assert_eq!(
        list["items"][0]["status"], "won",
        "a repeated phone updates the first row"
    );
    // No phone column, or not CSV at all.
    let r = app
        .http
        .post(app.url("/api/customers/import"))
        .bearer_auth(&t)
        .header("content-type", "text/csv")
        .body("name\nx\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .http
        .post(app.url("/api/customers/import"))
        .bearer_auth(&t)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}
dual_test!(import_reports_each_bad_row);

async fn timeline_has_calls_and_notes_newest_first(backend: Backend) {
    let (app, bid, t) = owner_app(backend).await;
    let (_, c) = crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "רחל", "phone": "050-4444444" }),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    // A call matched by phone (before the link), and one linked by id from another number.
    for (sid, from, at, linked) in [
        ("CA1", "+972504444444", 1_000, false),
        ("CA2", "+97237777777", 3_000, true),
    ] {
        sqlx::query("INSERT INTO call_logs (call_sid, business_id, from_number, to_number, direction, status, created_at, updated_at, customer_id, call_summary) VALUES ($1, $2, $3, '+97231234567', 'inbound', 'completed', $4, $4, $5, 'סיכום')")
            .bind(sid).bind(bid).bind(from).bind(at as i64).bind(if linked { Some(id) } else { None })
            .execute(&app.state.db.pool).await.unwrap();
    }
    // A call of another customer must not appear.
    sqlx::query("INSERT INTO call_logs (call_sid, business_id, from_number, direction, status, created_at, updated_at) VALUES ('CA3', $1, '+972505555555', 'inbound', 'completed', 2000, 2000)")
        .bind(bid).execute(&app.state.db.pool).await.unwrap();
    let (s, n) = crm::post(
        &app,
        &format!("/api/customers/{id}/notes"),
        &t,
        json!({ "body": "להתקשר שוב" }),
    )
    .await;
    assert_eq!(s, 201, "{n}");
    let (s, tl) = crm::get(&app, &format!("/api/customers/{id}/timeline"), &t).await;
    assert_eq!(s, 200, "{tl}");
    let kinds: Vec<&str> = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["note", "call", "call"], "{tl}");
    assert_eq!(tl["items"][1]["call"]["call_sid"], "CA2", "linked by id");
    assert_eq!(
        tl["items"][2]["call"]["call_sid"], "CA1",
        "matched by phone"
    );
    assert_eq!(tl["items"][0]["note"]["body"], "להתקשר שוב");
    let ats: Vec<i64> = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["at"].as_i64().unwrap())
        .collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    assert_eq!(
        tl["whatsapp_available"], false,
        "no WhatsApp provider is configured"
    );
    let (s, _) = crm::post(
        &app,
        &format!("/api/customers/{id}/notes"),
        &t,
        json!({ "body": "  " }),
    )
    .await;
    assert_eq!(s, 422);
}
dual_test!(timeline_has_calls_and_notes_newest_first);

/// The timeline holds the customer's WhatsApp conversation as the WhatsApp module stores it:
/// an inbound message recorded the way the webhooks record one (linked by the business's
/// number and the sender's phone) and the business's reply recorded the way a send is,
/// newest first among the calls and notes; another business's or customer's messages
/// never show.
async fn timeline_shows_the_whatsapp_conversation(backend: Backend) {
    use mokdan::domain::Phone;
    use mokdan::store::whatsapp::{self as wa, NewInbound, NewOutbound};
    let app = TestApp::spawn_with(
        backend,
        &[
            ("WHATSAPP_PROVIDER", "twilio"),
            ("TWILIO_ACCOUNT_SID", common::twilio::ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", common::twilio::AUTH_TOKEN),
            // Nothing is meant to reach Twilio here.
            ("TWILIO_API_BASE", "http://127.0.0.1:9"),
        ],
    )
    .await;
    let bid = crm::add_business(&app, "מרפאה", "+97231234567").await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    let t = crm::login(&app, "owner@example.com").await;
    let other = crm::add_business(&app, "מספרה", "+97239999999").await;
    let (_, c) = crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "phone": "050-4444444" }),
    )
    .await;
    let id = c["id"].as_i64().unwrap();
    let (s, n) = crm::post(
        &app,
        &format!("/api/customers/{id}/notes"),
        &t,
        json!({ "body": "לקוח חדש" }),
    )
    .await;
    assert_eq!(s, 201, "{n}");
    let (_, tl) = crm::get(&app, &format!("/api/customers/{id}/timeline"), &t).await;
    assert_eq!(tl["whatsapp_available"], true, "WhatsApp is configured");
    assert_eq!(tl["items"].as_array().unwrap().len(), 1, "{tl}");

    let from = Phone::parse("050-4444444").unwrap();
    let inbound = |mid: &str, body: &str| NewInbound {
        provider: "twilio",
        provider_message_id: mid.to_string(),
        from_number: from.as_str().to_string(),
        body: Some(body.to_string()),
        ..Default::default()
    };
    // Written to this business: linked to the existing customer by phone.
    let to = Phone::parse("+97231234567").unwrap();
    let receipt = wa::record_inbound(
        &app.state.db,
        Some(&to),
        &from,
        &inbound("SM1", "שלום, אפשר תור?"),
    )
    .await
    .unwrap();
    let linked = receipt.linked.expect("linked to the business");
    assert_eq!((linked.business_id, linked.customer_id), (bid, id));
    // The same person writing to another business: that business's customer, not ours.
    let elsewhere = Phone::parse("+97239999999").unwrap();
    let receipt = wa::record_inbound(
        &app.state.db,
        Some(&elsewhere),
        &from,
        &inbound("SM2", "הודעה לעסק אחר"),
    )
    .await
    .unwrap();
    assert_eq!(receipt.linked.unwrap().business_id, other);
    // Another customer of this business.
    let stranger = Phone::parse("050-5555555").unwrap();
    wa::record_inbound(
        &app.state.db,
        Some(&to),
        &stranger,
        &NewInbound {
            from_number: stranger.as_str().to_string(),
            ..inbound("SM3", "הודעה של לקוח אחר")
        },
    )
    .await
    .unwrap();
    // The business's reply, recorded as a send is (queued), then accepted by the provider.
    let (reply, inserted) = wa::insert_outbound(
        &app.state.db,
        bid,
        &NewOutbound {
            customer_id: id,
            provider: "twilio",
            from_number: Some("+97231234567".into()),
            to_number: from.as_str().to_string(),
            body: Some("בטח, מחר ב-10:00".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(inserted);
    assert!(wa::claim(&app.state.db, reply).await.unwrap());
    wa::accepted(
        &app.state.db,
        reply,
        "SM4",
        "sent",
        mokdan::whatsapp::status::SENT,
    )
    .await
    .unwrap();

    let (s, tl) = crm::get(&app, &format!("/api/customers/{id}/timeline"), &t).await;
    assert_eq!(s, 200, "{tl}");
    assert_eq!(tl["whatsapp_available"], true);
    let items = tl["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["whatsapp", "whatsapp", "note"], "{tl}");
    let (out, inn) = (&items[0]["message"], &items[1]["message"]);
    assert_eq!(out["direction"], "out");
    assert_eq!(out["body"], "בטח, מחר ב-10:00");
    assert_eq!(out["status"], "sent");
    assert_eq!(out["id"], reply);
    assert_eq!(inn["direction"], "in");
    assert_eq!(inn["body"], "שלום, אפשר תור?");
    assert_eq!(inn["status"], "received");
    assert_eq!(inn["from"], "+972504444444");
    for item in &items[..2] {
        assert_eq!(item["at"], item["message"]["created_at"]);
        assert_eq!(item["message"]["customer_id"], id);
    }
    let ats: Vec<i64> = items.iter().map(|i| i["at"].as_i64().unwrap()).collect();
    assert!(
        ats.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {ats:?}"
    );
    let text = tl.to_string();
    assert!(!text.contains("הודעה לעסק אחר") && !text.contains("הודעה של לקוח אחר"));
}
dual_test!(timeline_shows_the_whatsapp_conversation);

/// A phone another customer of the business has is a 409 that names the field, whether
/// the customer is created, edited or imported (#17).
async fn a_phone_clash_names_the_field(backend: Backend) {
    let (app, _, t) = owner_app(backend).await;
    let (s, c) = crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "phone": "050-1234567" }),
    )
    .await;
    assert_eq!(s, 201, "{c}");
    let (s, other) = crm::post(&app, "/api/customers", &t, json!({ "phone": "03-7654321" })).await;
    assert_eq!(s, 201, "{other}");
    let (s, v) = crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "phone": "+972501234567" }),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(crm::error_code(&v), "conflict");
    assert_eq!(v["error"]["field"], "phone", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("phone"),
        "{v}"
    );
    let (s, v) = crm::patch(
        &app,
        &format!("/api/customers/{}", other["id"]),
        &t,
        json!({ "phone": "0501234567" }),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["field"], "phone", "{v}");
}
dual_test!(a_phone_clash_names_the_field);

/// A spreadsheet from Excel in Hebrew (#20): Windows-1255, Hebrew headers and statuses; a
/// row that renames an existing lead says so; every rejected row has its line and a Hebrew
/// reason.
async fn a_hebrew_excel_file_imports(backend: Backend) {
    let (app, _, t) = owner_app(backend).await;
    crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "משה כהן", "phone": "050-0000001" }),
    )
    .await;
    let csv = "שם מלא,טלפון נייד,דוא\"ל,סטטוס,עיר\r\n\
               דנה לוי,050-0000002,dana@example.co.il,נוצר קשר,חיפה\r\n\
               משה כהן-לוי,050-0000001,,,תל אביב\r\n\
               בלי טלפון,,,חדש,\r\n\
               סטטוס מוזר,050-0000003,,אולי,\r\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1255.encode(csv);
    assert!(!unmappable);
    let report = import(&app, &t, bytes.to_vec()).await;
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{report}");
    assert_eq!(errors[0]["row"], 4);
    assert_eq!(errors[0]["reason"], "חסר מספר טלפון");
    assert_eq!(errors[1]["row"], 5);
    assert!(
        errors[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("סטטוס לא מוכר")
    );
    let notices = report["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{report}");
    assert_eq!(notices[0]["row"], 3);
    assert!(notices[0]["reason"].as_str().unwrap().contains("משה כהן"));
    let (_, list) = crm::get(&app, "/api/customers?q=0500000002", &t).await;
    assert_eq!(list["items"][0]["name"], "דנה לוי");
    assert_eq!(list["items"][0]["status"], "contacted", "a Hebrew status");
    assert_eq!(list["items"][0]["email"], "dana@example.co.il");
    let (_, list) = crm::get(&app, "/api/customers?q=0500000001", &t).await;
    assert_eq!(
        list["items"][0]["status"], "new",
        "an empty cell keeps what is known"
    );
}
dual_test!(a_hebrew_excel_file_imports);
