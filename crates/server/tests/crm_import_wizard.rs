//! The import wizard over HTTP (C3, #20): the preview reads a file (Windows-1255 or UTF-8,
//! Hebrew headers) and says what each row would do while writing nothing; an import with
//! an explicit mapping takes a file whose headers say nothing, reads only the mapped
//! columns, reports rejected rows by line, and touches no other business's leads.

mod common;

use common::crm;
use common::{Backend, TestApp};
use mokdan::store::users::Role;
use serde_json::{Value, json};

async fn owner(app: &TestApp, name: &str, number: &str, email: &str) -> String {
    let bid = crm::add_business(app, name, number).await;
    crm::add_user(app, email, Role::Owner, Some(bid)).await;
    crm::login(app, email).await
}

async fn send(app: &TestApp, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn with_mapping(path: &str, mapping: &str) -> String {
    let q: String = url::form_urlencoded::byte_serialize(mapping.as_bytes()).collect();
    format!("{path}?mapping={q}")
}

async fn everything(app: &TestApp, token: &str) -> Value {
    let (s, v) = crm::get(app, "/api/customers?per_page=100", token).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn preview_reads_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = owner(&app, "מספרה", "+97231234567", "o@example.com").await;
    crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "משה", "phone": "050-0000001", "status": "contacted" }),
    )
    .await;
    let csv = "שם,טלפון,אימייל,סטטוס,תגיות,הערות,עיר\r\n\
               משה כהן,050-0000001,,,,,חיפה\r\n\
               דנה,050-0000002,dana@example.co.il,מתעניין,vip,שיחה ראשונה,\r\n\
               בלי טלפון,,,,,,\r\n\
               משה,0500000001,,נוצר קשר,,,\r\n\
               דנה לוי,+972500000002,,,,,\r\n";
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1255.encode(csv);
    assert!(!unmappable);
    let before = everything(&app, &t).await;
    let (s, p) = send(&app, "/api/customers/import/preview", &t, bytes.to_vec()).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["encoding"], "windows-1255");
    assert_eq!(p["total_rows"], 5);
    assert_eq!(p["ready"], true);
    assert_eq!(
        p["mapping"],
        json!([
            "name", "phone", "email", "status", "tags", "notes", "ignore"
        ])
    );
    assert_eq!(p["columns"][0]["header"], "שם");
    assert_eq!(p["columns"][1]["suggested"], "phone");
    assert_eq!(p["columns"][6]["suggested"], "ignore");
    assert_eq!(p["columns"][6]["samples"], json!(["חיפה"]));
    assert_eq!(
        p["fields"][1],
        json!({ "field": "phone", "label": "טלפון" })
    );
    let rows = p["rows"].as_array().unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["update", "create", "reject", "update", "update"],
        "{p}"
    );
    let lines: Vec<i64> = rows.iter().map(|r| r["row"].as_i64().unwrap()).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    assert_eq!(rows[0]["changes"], json!(["name"]));
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("שם הליד ישתנה מ„משה” ל„משה כהן”"),
        "{p}"
    );
    assert_eq!(rows[1]["reason"], "ליד חדש");
    assert_eq!(rows[1]["phone"], "+972500000002");
    assert_eq!(rows[2]["reason"], "חסר מספר טלפון");
    // A phone repeated in the file is the lead its earlier row makes, as the import does.
    assert_eq!(rows[3]["changes"], json!(["name"]), "{p}");
    assert_eq!(rows[4]["changes"], json!(["name"]), "{p}");
    assert_eq!(
        everything(&app, &t).await,
        before,
        "the preview wrote nothing"
    );

    // The same file in UTF-8 with a byte-order mark reads the same.
    let (s, p2) = send(
        &app,
        "/api/customers/import/preview",
        &t,
        format!("\u{feff}{csv}").into_bytes(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(p2["encoding"], "utf-8-bom");
    assert_eq!(p2["rows"], p["rows"]);

    // Headers naming nothing: columns to map, and it says the phone is missing.
    let (s, p) = send(
        &app,
        "/api/customers/import/preview",
        &t,
        "Contact,Cell\nרונית,052-7654321\n".into(),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["encoding"], "utf-8");
    assert_eq!(p["ready"], false);
    assert_eq!(p["mapping"], json!(["ignore", "ignore"]));
    assert_eq!(
        p["problems"][0]["reason"],
        "יש לבחור את העמודה של מספר הטלפון"
    );
    assert_eq!(p["rows"][0]["action"], "reject");
    // …and with a mapping, what it would do.
    let (s, p) = send(
        &app,
        &with_mapping("/api/customers/import/preview", "name,phone"),
        &t,
        "Contact,Cell\nרונית,052-7654321\n".into(),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["ready"], true);
    assert_eq!(p["rows"][0]["action"], "create");
    assert_eq!(p["rows"][0]["name"], "רונית");
    assert_eq!(everything(&app, &t).await, before);

    // Odd input answers 422, never 5xx.
    for (path, body) in [
        ("/api/customers/import/preview", ""),
        ("/api/customers/import/preview", "a,\"b\n"),
        (
            "/api/customers/import/preview?mapping=phone,phone",
            "a,b\n1,2\n",
        ),
        ("/api/customers/import/preview?mapping=city", "a\n1\n"),
        ("/api/customers/import/preview?mapping=,,phone", "a\n1\n"),
    ] {
        let (s, v) = send(&app, path, &t, body.into()).await;
        assert_eq!(s, 422, "{path} {body:?}: {v}");
        assert_eq!(crm::error_code(&v), "invalid");
    }
    // A hostile file: a header of many columns is refused; long rows are cut to the header.
    let wide = format!("{}\n", ",".repeat(5000));
    let (s, v) = send(&app, "/api/customers/import/preview", &t, wide.into()).await;
    assert_eq!(s, 422, "{v}");
    let long = format!("טלפון,שם\n050-0000009,דנה{}\n", ",x".repeat(50_000));
    let (s, v) = send(&app, "/api/customers/import/preview", &t, long.into()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rows"][0]["cells"], json!(["050-0000009", "דנה"]));
    assert_eq!(v["rows"][0]["action"], "create");
    let r = app
        .http
        .post(app.url("/api/customers/import/preview"))
        .bearer_auth(&t)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = app
        .http
        .post(app.url("/api/customers/import/preview"))
        .header("content-type", "text/csv")
        .body("טלפון\n0501234567\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
dual_test!(preview_reads_and_writes_nothing);

async fn a_mapped_import_reads_only_the_mapped_columns(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = owner(&app, "מספרה", "+97231234567", "o@example.com").await;
    let other = owner(&app, "מוסך", "+97237654321", "other@example.com").await;
    let (_, existing) = crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "משה כהן", "phone": "050-0000001", "email": "moshe@example.com",
                "status": "qualified", "notes": "לקוח ותיק" }),
    )
    .await;
    // The other business has a lead with the same phone; it must stay as it is.
    crm::post(
        &app,
        "/api/customers",
        &other,
        json!({ "name": "של המוסך", "phone": "050-0000001", "status": "won" }),
    )
    .await;
    let other_before = everything(&app, &other).await;

    // Headers no suggestion knows, and a column ("מצב רוח") that looks like nothing.
    let csv = "איש קשר,מס' סלולרי,Remarks,מצב רוח,E-Mail Address\r\n\
               משה,050-0000001,התקשר שוב,שמח,new@example.com\r\n\
               שרה,052-1111111,,עצוב,sara@example.com\r\n\
               ,abc,,,\r\n\
               יוסי,,,,\r\n";
    // Unmapped, nothing names a phone: refused as today.
    let (s, v) = send(&app, "/api/customers/import", &t, csv.into()).await;
    assert_eq!(s, 422, "{v}");
    // Mapped: name, phone and notes; the mood and the e-mail columns are ignored.
    let path = with_mapping("/api/customers/import", "שם,phone,notes,ignore,");
    let (s, report) = send(&app, &path, &t, csv.into()).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    let errors = report["errors"].as_array().unwrap();
    let lines: Vec<i64> = errors.iter().map(|e| e["row"].as_i64().unwrap()).collect();
    assert_eq!(lines, [4, 5], "{report}");
    assert_eq!(errors[0]["reason"], "מספר הטלפון אינו תקין");
    assert_eq!(errors[1]["reason"], "חסר מספר טלפון");
    assert_eq!(
        errors[1]["cells"],
        json!(["יוסי", "", "", "", ""]),
        "a rejected row's cells, to fix and send again"
    );
    assert!(report["notices"][0].get("cells").is_none(), "{report}");
    assert_eq!(
        report["notices"][0]["row"], 2,
        "the rename is said: {report}"
    );

    let id = existing["id"].as_i64().unwrap();
    let (_, c) = crm::get(&app, &format!("/api/customers/{id}"), &t).await;
    assert_eq!(c["name"], "משה");
    assert_eq!(c["notes"], "התקשר שוב");
    assert_eq!(
        c["email"], "moshe@example.com",
        "the unmapped e-mail is untouched"
    );
    assert_eq!(c["status"], "qualified", "no status column mapped");
    let (_, list) = crm::get(&app, "/api/customers?q=0521111111", &t).await;
    assert_eq!(list["items"][0]["name"], "שרה");
    assert_eq!(list["items"][0]["email"], Value::Null);
    assert_eq!(list["items"][0]["status"], "new");

    // Another business: same phone, untouched; and its token sees none of these leads.
    assert_eq!(everything(&app, &other).await, other_before);
    assert_eq!(other_before["total"], 1);
    let (s, _) = crm::get(&app, &format!("/api/customers/{id}"), &other).await;
    assert_eq!(s, 404);

    // A mapping naming a column the file lacks, or a field twice: 422, nothing written.
    let before = everything(&app, &t).await;
    for mapping in [
        "ignore,ignore,ignore,ignore,ignore,phone",
        "phone,phone",
        "city",
    ] {
        let (s, v) = send(
            &app,
            &with_mapping("/api/customers/import", mapping),
            &t,
            csv.into(),
        )
        .await;
        assert_eq!(s, 422, "{mapping}: {v}");
    }
    let (s, v) = send(
        &app,
        &with_mapping("/api/customers/import", "name,ignore"),
        &t,
        csv.into(),
    )
    .await;
    assert_eq!(s, 422, "no phone mapped: {v}");
    assert_eq!(everything(&app, &t).await, before);
}
dual_test!(a_mapped_import_reads_only_the_mapped_columns);

async fn the_api_export_adds_iso_dates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = owner(&app, "מספרה", "+97231234567", "o@example.com").await;
    let (_, c) = crm::post(
        &app,
        "/api/customers",
        &t,
        json!({ "name": "דנה", "phone": "050-0000001" }),
    )
    .await;
    let r = app
        .http
        .get(app.url("/api/customers/export"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    let mut lines = text.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "\u{feff}name,phone,email,status,tags,notes,created_at,updated_at,created_at_iso,updated_at_iso"
    );
    let cells: Vec<&str> = lines.next().unwrap().split(',').collect();
    let created = c["created_at"].as_i64().unwrap();
    assert_eq!(cells[6], created.to_string());
    let iso = cells[8];
    let parsed: jiff::Timestamp = iso.parse().unwrap();
    assert_eq!(parsed.as_second(), created / 1000, "{iso}");
    let zoned = parsed.to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Jerusalem").unwrap());
    let offset = zoned.offset().seconds() / 3600;
    assert!(
        iso.ends_with(&format!("+0{offset}:00")) && (offset == 2 || offset == 3),
        "Israel's offset: {iso}"
    );
    assert_eq!(iso.len(), "2026-12-07T13:05:00+02:00".len(), "{iso}");
}
dual_test!(the_api_export_adds_iso_dates);

async fn the_openapi_document_describes_the_wizard(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: Value = app
        .http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in ["/api/customers/import", "/api/customers/import/preview"] {
        let params = doc["paths"][path]["post"]["parameters"].as_array().unwrap();
        assert!(
            params.iter().any(|p| p["name"] == "mapping"),
            "{path}: {params:?}"
        );
    }
    let preview = &doc["components"]["schemas"]["ImportPreview"]["properties"];
    assert_eq!(
        preview["fields"]["items"]["properties"]["label"]["type"],
        "string"
    );
    assert_eq!(
        preview["problems"]["items"]["required"],
        json!(["message", "reason"])
    );
    assert_eq!(
        preview["rows"]["items"]["properties"]["action"]["enum"],
        json!(["create", "update", "unchanged", "reject"])
    );
}
dual_test!(the_openapi_document_describes_the_wizard);
