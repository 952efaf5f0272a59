//! Businesses and users over the API (C2, C3): the operator's CRUD, numbers unique across
//! tenants (voice and WhatsApp numbers alike, so no tenant can take in another's callers or
//! messages), an owner's own settings, and user management by role.

mod common;

use common::crm;
use common::{Backend, TestApp};
use mokdan::domain::Phone;
use mokdan::store::users::Role;
use serde_json::{Value, json};

async fn operator_app(backend: Backend) -> (TestApp, String) {
    let app = TestApp::spawn(backend).await;
    crm::add_user(&app, "ops@example.com", Role::Operator, None).await;
    let t = crm::login(&app, "ops@example.com").await;
    (app, t)
}

async fn operators_manage_businesses(backend: Backend) {
    let (app, ops) = operator_app(backend).await;
    let (s, b) = crm::post(
        &app,
        "/api/businesses",
        &ops,
        json!({
            "name": "מספרת רחל", "numbers": ["03-1234567", "+972 3 1234567", "077-1234567"],
            "greeting": "שלום, הגעתם למספרת רחל", "agent_prompt": "את פקידת קבלה",
            "business_hours": { "sun": ["09:00", "18:00"] }, "transfer_number": "050-1234567",
            "whatsapp_number": "+972501234567", "auto_reply": false, "recording_retention_days": 14,
        }),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(
        b["numbers"],
        json!(["+97231234567", "+972771234567"]),
        "normalised, deduplicated, in order"
    );
    assert_eq!(b["business_hours"], json!({ "sun": ["09:00", "18:00"] }));
    assert_eq!(b["transfer_number"], "+972501234567");
    assert_eq!(b["auto_reply"], false);
    assert_eq!(b["recording_retention_days"], 14);
    let id = b["id"].as_i64().unwrap();
    // A number another business owns: 409, nothing created or changed.
    let (s, v) = crm::post(
        &app,
        "/api/businesses",
        &ops,
        json!({ "name": "אחר", "numbers": ["+97231234567"] }),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    let (_, all) = crm::get(&app, "/api/businesses", &ops).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let (s, b2) = crm::post(
        &app,
        "/api/businesses",
        &ops,
        json!({ "name": "אחר", "numbers": ["04-5555555"] }),
    )
    .await;
    assert_eq!(s, 201);
    let id2 = b2["id"].as_i64().unwrap();
    let (s, _) = crm::patch(
        &app,
        &format!("/api/businesses/{id2}"),
        &ops,
        json!({ "numbers": ["077-1234567"] }),
    )
    .await;
    assert_eq!(s, 409);
    let (_, b2now) = crm::get(&app, &format!("/api/businesses/{id2}"), &ops).await;
    assert_eq!(
        b2now["numbers"],
        json!(["+97245555555"]),
        "a refused change changes nothing"
    );
    // Incoming calls route by the new numbers.
    let (s, p) = crm::patch(
        &app,
        &format!("/api/businesses/{id}"),
        &ops,
        json!({ "numbers": ["077-1234567", "02-6666666"], "greeting": null }),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["numbers"], json!(["+972771234567", "+97226666666"]));
    assert_eq!(p["greeting"], Value::Null);
    let found = mokdan::store::businesses::by_number(
        &app.state.db,
        &mokdan::domain::Phone::parse("02-6666666").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(found.id, id);
    for (body, what) in [
        (json!({ "name": "" }), "empty name"),
        (json!({ "numbers": ["nope"] }), "bad number"),
        (json!({ "recording_retention_days": 0 }), "retention"),
        (json!({ "business_hours": "{not json" }), "hours"),
        (json!({ "transfer_number": "x" }), "transfer"),
    ] {
        let (s, v) = crm::patch(&app, &format!("/api/businesses/{id}"), &ops, body).await;
        assert_eq!(s, 422, "{what}: {v}");
    }
    let (s, _) = crm::delete(&app, &format!("/api/businesses/{id2}"), &ops).await;
    assert_eq!(s, 204);
    let (s, _) = crm::get(&app, &format!("/api/businesses/{id2}"), &ops).await;
    assert_eq!(s, 404);
    let (_, log) = crm::get(&app, "/api/audit?per_page=100", &ops).await;
    let acts: Vec<String> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entity"] == "business")
        .map(|r| format!("{}:{}", r["action"].as_str().unwrap(), r["entity_id"]))
        .collect();
    assert!(
        acts.contains(&format!("delete:{id2}"))
            && acts.contains(&format!("update:{id}"))
            && acts.contains(&format!("create:{id}")),
        "{acts:?}"
    );
}
dual_test!(operators_manage_businesses);

async fn owners_edit_their_settings_but_not_numbers(backend: Backend) {
    let (app, _) = operator_app(backend).await;
    let bid = crm::add_business(&app, "קפה", "+97231234567").await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    crm::add_user(&app, "agent@example.com", Role::Agent, Some(bid)).await;
    let owner = crm::login(&app, "owner@example.com").await;
    let agent = crm::login(&app, "agent@example.com").await;
    let (s, b) = crm::get(&app, &format!("/api/businesses/{bid}"), &agent).await;
    assert_eq!(s, 200, "agents read their business");
    assert_eq!(b["name"], "קפה");
    let (s, p) = crm::patch(
        &app,
        &format!("/api/businesses/{bid}"),
        &owner,
        json!({ "greeting": "ברוכים הבאים", "auto_reply": false }),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["greeting"], "ברוכים הבאים");
    let (s, _) = crm::patch(
        &app,
        &format!("/api/businesses/{bid}"),
        &owner,
        json!({ "numbers": ["03-9999999"] }),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = crm::post(&app, "/api/businesses", &owner, json!({ "name": "x" })).await;
    assert_eq!(s, 403);
    let (s, _) = crm::delete(&app, &format!("/api/businesses/{bid}"), &owner).await;
    assert_eq!(s, 403);
}
dual_test!(owners_edit_their_settings_but_not_numbers);

/// A WhatsApp number is one business's: not another's WhatsApp number, not another's voice
/// number (and a voice number is not another's WhatsApp number). Only operators set it.
async fn a_number_is_one_business_s_and_only_operators_assign_it(backend: Backend) {
    let (app, ops) = operator_app(backend).await;
    let a = crm::add_business(&app, "א", "+97231111111").await;
    let b = crm::add_business(&app, "ב", "+97232222222").await;
    crm::add_user(&app, "owner-b@example.com", Role::Owner, Some(b)).await;
    let owner_b = crm::login(&app, "owner-b@example.com").await;
    let path_a = format!("/api/businesses/{a}");
    let path_b = format!("/api/businesses/{b}");
    // An owner sets no WhatsApp number at all (A's voice number least of all)...
    for wa in [json!("03-1111111"), json!("+972509999999")] {
        let (s, v) = crm::patch(&app, &path_b, &owner_b, json!({ "whatsapp_number": wa })).await;
        assert_eq!(s, 403, "{wa}: {v}");
        assert_eq!(crm::error_code(&v), "forbidden");
    }
    // ...though sending back the business's own value unchanged is no change.
    let (s, v) = crm::patch(
        &app,
        &path_b,
        &owner_b,
        json!({ "whatsapp_number": null, "auto_reply": true }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // ...and still edits its other settings.
    let (s, v) = crm::patch(&app, &path_b, &owner_b, json!({ "greeting": "שלום" })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["whatsapp_number"], Value::Null);
    // The operator cannot give B A's voice number as its WhatsApp number.
    let (s, v) = crm::patch(
        &app,
        &path_b,
        &ops,
        json!({ "whatsapp_number": "03-1111111" }),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(crm::error_code(&v), "conflict");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("whatsapp_number"),
        "{v}"
    );
    // Nor A's WhatsApp number, to B or to a new business, as either kind of number.
    let (s, v) = crm::patch(
        &app,
        &path_a,
        &ops,
        json!({ "whatsapp_number": "050-1110000" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["whatsapp_number"], "+972501110000");
    for (path, body) in [
        (&path_b, json!({ "whatsapp_number": "+972501110000" })),
        (
            &path_b,
            json!({ "numbers": ["+97232222222", "0501110000"] }),
        ),
        (&path_b, json!({ "numbers": ["+97231111111"] })),
    ] {
        let (s, v) = crm::patch(&app, path, &ops, body.clone()).await;
        assert_eq!(s, 409, "{body}: {v}");
        assert_eq!(crm::error_code(&v), "conflict");
    }
    for body in [
        json!({ "name": "ג", "numbers": ["04-3333333"], "whatsapp_number": "+972501110000" }),
        json!({ "name": "ג", "numbers": ["04-3333333"], "whatsapp_number": "03-1111111" }),
        json!({ "name": "ג", "numbers": ["+972501110000"] }),
    ] {
        let (s, v) = crm::post(&app, "/api/businesses", &ops, body.clone()).await;
        assert_eq!(s, 409, "{body}: {v}");
        assert_eq!(crm::error_code(&v), "conflict");
    }
    let (_, all) = crm::get(&app, "/api/businesses", &ops).await;
    assert_eq!(all.as_array().unwrap().len(), 2, "nothing created");
    let (_, bnow) = crm::get(&app, &path_b, &ops).await;
    assert_eq!(bnow["numbers"], json!(["+97232222222"]), "nothing changed");
    assert_eq!(bnow["whatsapp_number"], Value::Null);
    // A business's own voice number may be its WhatsApp number, and may move between them.
    let (s, v) = crm::patch(
        &app,
        &path_b,
        &ops,
        json!({ "whatsapp_number": "03-2222222" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let body = json!({ "numbers": ["04-3333333"], "whatsapp_number": "+97232222222" });
    let (s, v) = crm::patch(&app, &path_b, &ops, body).await;
    assert_eq!(s, 200, "{v}");
    // The database holds the rule too, whoever writes.
    let db = &app.state.db;
    for (sql, number, id) in [
        (
            "UPDATE businesses SET whatsapp_number = $1 WHERE id = $2",
            "+972501110000",
            b,
        ),
        (
            "UPDATE businesses SET whatsapp_number = $1 WHERE id = $2",
            "+97231111111",
            b,
        ),
        (
            "INSERT INTO business_numbers (number, business_id, created_at) VALUES ($1, $2, 0)",
            "+972501110000",
            b,
        ),
        (
            "UPDATE business_numbers SET number = $1 WHERE business_id = $2",
            "+972501110000",
            b,
        ),
    ] {
        let e = sqlx::query(sql)
            .bind(number)
            .bind(id)
            .execute(&db.pool)
            .await;
        let e = e.expect_err(&format!("{sql} {number}"));
        assert!(mokdan::store::is_unique_violation(&e), "{sql}: {e}");
    }
    // So a message to A's numbers links to A, and B's people see none of it.
    let from = Phone::parse("054-7777777").unwrap();
    for (i, to) in ["+972501110000", "+97231111111"].into_iter().enumerate() {
        let m = mokdan::store::whatsapp::NewInbound {
            provider: "twilio",
            provider_message_id: format!("SM{i:032x}"),
            from_number: from.to_string(),
            to_number: Some(to.into()),
            body: Some("שלום".into()),
            ..Default::default()
        };
        let to = Phone::parse(to).unwrap();
        let got = mokdan::store::whatsapp::record_inbound(db, Some(&to), &from, &m)
            .await
            .unwrap();
        assert_eq!(got.linked.map(|l| l.business_id), Some(a), "{to}");
    }
    let (s, v) = crm::get(&app, "/api/customers", &owner_b).await;
    assert_eq!(s, 200, "{v}");
    assert!(!v.to_string().contains("+972547777777"), "{v}");
}
dual_test!(a_number_is_one_business_s_and_only_operators_assign_it);

async fn intake_questions_are_edited_and_validated(backend: Backend) {
    let (app, ops) = operator_app(backend).await;
    let bid = crm::add_business(&app, "קפה", "+97231234567").await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    let owner = crm::login(&app, "owner@example.com").await;
    let path = format!("/api/businesses/{bid}");
    let (_, b) = crm::get(&app, &path, &owner).await;
    assert_eq!(b["intake_questions"], Value::Null, "the defaults");

    let (s, b) = crm::patch(
        &app,
        &path,
        &owner,
        json!({ "intake_questions": [" איך קוראים לך? ", "What brings you here?"] }),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["intake_questions"],
        json!(["איך קוראים לך?", "What brings you here?"])
    );
    let stored = mokdan::store::businesses::get(&app.state.db, bid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.questions(),
        ["איך קוראים לך?", "What brings you here?"]
    );

    // Refused, and nothing changes: none, more than ten, an empty one, a long one, not text.
    let long = "ש".repeat(201);
    for bad in [
        json!([]),
        json!(vec!["שאלה?"; 11]),
        json!(["שאלה?", "  "]),
        json!([long]),
        json!([1, 2]),
        json!("שאלה?"),
    ] {
        let (s, e) = crm::patch(&app, &path, &owner, json!({ "intake_questions": bad })).await;
        assert_eq!(s, 422, "{bad}: {e}");
    }
    let (_, b) = crm::get(&app, &path, &owner).await;
    assert_eq!(b["intake_questions"].as_array().unwrap().len(), 2);
    let (s, b) = crm::patch(
        &app,
        &path,
        &owner,
        json!({ "intake_questions": vec!["ש".repeat(200); 10] }),
    )
    .await;
    assert_eq!(s, 200, "ten of 200 characters: {b}");

    // Other changes keep them; null goes back to the defaults. Operators create with them.
    let (_, b) = crm::patch(&app, &path, &owner, json!({ "greeting": "שלום" })).await;
    assert_eq!(b["intake_questions"].as_array().unwrap().len(), 10);
    let (_, b) = crm::patch(&app, &path, &owner, json!({ "intake_questions": null })).await;
    assert_eq!(b["intake_questions"], Value::Null);
    let (s, b) = crm::post(
        &app,
        "/api/businesses",
        &ops,
        json!({ "name": "מוסך", "numbers": ["04-5555555"], "intake_questions": ["מה הבעיה ברכב?"] }),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["intake_questions"], json!(["מה הבעיה ברכב?"]));
}
dual_test!(intake_questions_are_edited_and_validated);

async fn users_are_managed_by_role(backend: Backend) {
    let (app, ops) = operator_app(backend).await;
    let bid = crm::add_business(&app, "קפה", "+97231234567").await;
    let other = crm::add_business(&app, "אחר", "+97232222222").await;
    // The operator adds the owner; the owner adds an agent.
    let (s, o) = crm::post(&app, "/api/users", &ops, json!({
        "email": "Owner@Cafe.co.il", "password": "owner-password", "role": "owner", "business_id": bid, "name": "מיכל",
    })).await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["email"], "owner@cafe.co.il");
    assert!(o.get("password_hash").is_none() && !o.to_string().contains("argon2"));
    let owner = crm::login_with(&app, "owner@cafe.co.il", "owner-password").await;
    let (s, a) = crm::post(
        &app,
        "/api/users",
        &owner,
        json!({
            "email": "agent@cafe.co.il", "password": "agent-password", "role": "agent",
        }),
    )
    .await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["business_id"], bid, "an owner's users join its business");
    let aid = a["id"].as_i64().unwrap();
    let (s, _) = crm::post(
        &app,
        "/api/users",
        &owner,
        json!({
            "email": "agent@cafe.co.il", "password": "agent-password", "role": "agent",
        }),
    )
    .await;
    assert_eq!(s, 409, "email taken");
    let (s, _) = crm::post(
        &app,
        "/api/users",
        &owner,
        json!({
            "email": "x@cafe.co.il", "password": "short", "role": "agent",
        }),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = crm::post(&app, "/api/users", &owner, json!({
        "email": "x@cafe.co.il", "password": "long-enough", "role": "agent", "business_id": other,
    })).await;
    assert_eq!(s, 404, "another business");
    let (s, _) = crm::post(
        &app,
        "/api/users",
        &ops,
        json!({
            "email": "y@cafe.co.il", "password": "long-enough", "role": "agent",
        }),
    )
    .await;
    assert_eq!(s, 422, "an operator must say which business");
    // Lists: the owner sees its business; the operator sees all or one.
    let (_, mine) = crm::get(&app, "/api/users", &owner).await;
    let emails: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["owner@cafe.co.il", "agent@cafe.co.il"]);
    let (_, all) = crm::get(&app, "/api/users", &ops).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let (_, one) = crm::get(&app, &format!("/api/users?business_id={bid}"), &ops).await;
    assert_eq!(one.as_array().unwrap().len(), 2);
    // Promote, then delete; an owner cannot delete itself.
    let (s, p) = crm::patch(
        &app,
        &format!("/api/users/{aid}"),
        &owner,
        json!({ "role": "owner", "name": "דני" }),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["role"], "owner");
    let (s, _) = crm::patch(
        &app,
        &format!("/api/users/{aid}"),
        &owner,
        json!({ "role": "operator" }),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = crm::patch(
        &app,
        &format!("/api/users/{aid}"),
        &owner,
        json!({ "business_id": other }),
    )
    .await;
    assert_eq!(s, 403);
    let me = o["id"].as_i64().unwrap();
    let (s, _) = crm::delete(&app, &format!("/api/users/{me}"), &owner).await;
    assert_eq!(s, 422);
    let (s, _) = crm::delete(&app, &format!("/api/users/{aid}"), &owner).await;
    assert_eq!(s, 204);
    let (_, log) = crm::get(&app, "/api/audit", &owner).await;
    let acts: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["entity"] == "user" && r["entity_id"] == aid)
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(acts, ["delete", "update", "create"]);
    assert!(
        !log.to_string().contains("argon2"),
        "no hashes in the audit log"
    );
}
dual_test!(users_are_managed_by_role);

/// An owner adding a user learns nothing about other businesses' users: an address taken in
/// their own business is 409, one taken elsewhere gets the same refusal as any unusable
/// address. And changing one's own password takes the current one (#16.9).
async fn user_writes_leak_nothing_and_guard_own_passwords(backend: Backend) {
    let (app, ops) = operator_app(backend).await;
    let a = crm::add_business(&app, "קפה", "+97231234567").await;
    let b = crm::add_business(&app, "אחר", "+97232222222").await;
    crm::add_user(&app, "owner@a.example", Role::Owner, Some(a)).await;
    crm::add_user(&app, "agent@a.example", Role::Agent, Some(a)).await;
    let me = crm::add_user(&app, "owner@b.example", Role::Owner, Some(b)).await;
    let owner_b = crm::login(&app, "owner@b.example").await;
    let new_user =
        |email: &str| json!({ "email": email, "password": "long-enough", "role": "agent" });

    let (s, v) = crm::post(&app, "/api/users", &owner_b, new_user("agent@a.example")).await;
    assert_eq!(s, 422, "{v}");
    let message = v["error"]["message"].as_str().unwrap().to_string();
    assert!(!message.contains("exist"), "{message}");
    // Renaming one's user to another business's address: the same refusal.
    let (s, mine) = crm::post(&app, "/api/users", &owner_b, new_user("agent@b.example")).await;
    assert_eq!(s, 201);
    let path = format!("/api/users/{}", mine["id"]);
    let (s, v) = crm::patch(&app, &path, &owner_b, json!({ "email": "owner@a.example" })).await;
    assert_eq!(
        (s, v["error"]["message"].as_str().unwrap()),
        (422, message.as_str())
    );
    // Within the business, and for the operator, a taken address is a plain conflict.
    let (s, _) = crm::post(&app, "/api/users", &owner_b, new_user("agent@b.example")).await;
    assert_eq!(s, 409);
    let mut by_ops = new_user("agent@a.example");
    by_ops["business_id"] = json!(b);
    assert_eq!(crm::post(&app, "/api/users", &ops, by_ops).await.0, 409);

    // One's own password: the current one is required and checked.
    let own = format!("/api/users/{me}");
    let (s, v) = crm::patch(
        &app,
        &own,
        &owner_b,
        json!({ "password": "new-password-1" }),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("current_password")
    );
    let (s, _) = crm::patch(
        &app,
        &own,
        &owner_b,
        json!({ "password": "new-password-1", "current_password": "not-it-at-all" }),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(
        crm::get(&app, "/api/auth/me", &owner_b).await.0,
        200,
        "nothing changed"
    );
    let (s, v) = crm::patch(
        &app,
        &own,
        &owner_b,
        json!({ "password": "new-password-1", "current_password": crm::PASSWORD }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    crm::login_with(&app, "owner@b.example", "new-password-1").await;
    // Another user's password (the owner's agent) needs no such proof, as before.
    let owner_b = crm::login_with(&app, "owner@b.example", "new-password-1").await;
    let (s, _) = crm::patch(
        &app,
        &path,
        &owner_b,
        json!({ "password": "agent-new-pass" }),
    )
    .await;
    assert_eq!(s, 200);
}
dual_test!(user_writes_leak_nothing_and_guard_own_passwords);

/// A refused duplicate says which field clashed, by the constraint that refused it (#17):
/// a number, a WhatsApp number, a Meta sender id, an e-mail; the database names the same
/// fields on both backends. An address another business's user has stays the neutral 422.
async fn clashes_name_their_field(backend: Backend) {
    let (app, ops) = operator_app(backend).await;
    let a = crm::add_business(&app, "קפה", "+97231111111").await;
    let (s, v) = crm::patch(
        &app,
        &format!("/api/businesses/{a}"),
        &ops,
        json!({ "whatsapp_number": "050-1110000", "meta_phone_number_id": "111000" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let clash = |v: &Value, field: &str| {
        assert_eq!(crm::error_code(v), "conflict", "{v}");
        assert_eq!(v["error"]["field"], field, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(field),
            "{v}"
        );
    };
    let (s, v) = crm::post(
        &app,
        "/api/businesses",
        &ops,
        json!({ "name": "אחר", "numbers": ["03-1111111"] }),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    clash(&v, "numbers");
    let b = crm::add_business(&app, "אחר", "+97232222222").await;
    let path_b = format!("/api/businesses/{b}");
    for (body, field) in [
        (json!({ "numbers": ["03-1111111"] }), "numbers"),
        (
            json!({ "whatsapp_number": "+972501110000" }),
            "whatsapp_number",
        ),
        (
            json!({ "meta_phone_number_id": "111000" }),
            "meta_phone_number_id",
        ),
    ] {
        let (s, v) = crm::patch(&app, &path_b, &ops, body.clone()).await;
        assert_eq!(s, 409, "{body}: {v}");
        clash(&v, field);
    }
    // Users: within reach, the e-mail is named; another business's stays unexplained.
    crm::add_user(&app, "owner@b.example", Role::Owner, Some(b)).await;
    crm::add_user(&app, "agent@a.example", Role::Agent, Some(a)).await;
    let owner_b = crm::login(&app, "owner@b.example").await;
    let new_user =
        |email: &str| json!({ "email": email, "password": "long-enough", "role": "agent" });
    let (s, v) = crm::post(&app, "/api/users", &owner_b, new_user("owner@b.example")).await;
    assert_eq!(s, 409, "{v}");
    clash(&v, "email");
    let (s, v) = crm::post(&app, "/api/users", &owner_b, new_user("agent@a.example")).await;
    assert_eq!(s, 422, "{v}");
    assert!(v["error"].get("field").is_none(), "{v}");

    // The database itself: each constraint maps to its field on either backend.
    let db = &app.state.db;
    for (sql, value, id, field) in [
        (
            "INSERT INTO business_numbers (number, business_id, created_at) VALUES ($1, $2, 0)",
            "+97232222222",
            b,
            Some("numbers"),
        ),
        (
            "UPDATE businesses SET meta_phone_number_id = $1 WHERE id = $2",
            "111000",
            b,
            Some("meta_phone_number_id"),
        ),
        (
            "UPDATE users SET email = $1 WHERE business_id = $2",
            "agent@a.example",
            b,
            Some("email"),
        ),
        // The number claims are a trigger's, which names no constraint.
        (
            "INSERT INTO business_numbers (number, business_id, created_at) VALUES ($1, $2, 0)",
            "+972501110000",
            b,
            None,
        ),
    ] {
        let e = sqlx::query(sql)
            .bind(value)
            .bind(id)
            .execute(&db.pool)
            .await
            .expect_err(sql);
        assert!(mokdan::store::is_unique_violation(&e), "{sql}: {e}");
        assert_eq!(mokdan::store::unique_field(&e), field, "{sql}: {e}");
    }
}
dual_test!(clashes_name_their_field);
