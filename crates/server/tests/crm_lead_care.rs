//! Leads for daily work over the API (#20; C2, C4), on SQLite and PostgreSQL: deleting is
//! soft and undone by restore, and a deleted lead that calls again comes back; two leads of
//! one person merge with everything on them; many leads change status at once; a follow-up
//! and tasks make "my tasks today"; saved filters are each user's own. Another business's
//! leads are never touched by any of it, and bad input is refused in Hebrew.

mod common;

use common::crm::{add_business, add_user, delete, get, login, post};
use common::{Backend, TestApp};
use mokdan::domain::Phone;
use mokdan::store::users::Role;
use serde_json::{Value, json};

struct Shop {
    app: TestApp,
    biz: i64,
    owner: String,
    agent: String,
    agent_id: i64,
    /// The other business's owner.
    stranger: String,
}

async fn shop(backend: Backend) -> Shop {
    let app = TestApp::spawn(backend).await;
    let biz = add_business(&app, "מספרה", "+97231234567").await;
    let other = add_business(&app, "מוסך", "+97239876543").await;
    add_user(&app, "owner@shop.test", Role::Owner, Some(biz)).await;
    let agent_id = add_user(&app, "agent@shop.test", Role::Agent, Some(biz)).await;
    add_user(&app, "owner@other.test", Role::Owner, Some(other)).await;
    Shop {
        owner: login(&app, "owner@shop.test").await,
        agent: login(&app, "agent@shop.test").await,
        stranger: login(&app, "owner@other.test").await,
        app,
        biz,
        agent_id,
    }
}

impl Shop {
    async fn lead(&self, name: &str, phone: &str, extra: Value) -> i64 {
        let mut body = json!({ "name": name, "phone": phone });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, c) = post(&self.app, "/api/customers", &self.owner, body).await;
        assert_eq!(s, 201, "{c}");
        c["id"].as_i64().unwrap()
    }

    async fn names(&self, path: &str) -> Vec<String> {
        let (s, v) = get(&self.app, path, &self.owner).await;
        assert_eq!(s, 200, "{v}");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

async fn a_deleted_lead_is_restored(backend: Backend) {
    let s = shop(backend).await;
    let dana = s.lead("דנה", "050-1111111", json!({})).await;
    s.lead("יוסי", "050-2222222", json!({})).await;

    // Another business cannot delete it, nor restore it.
    let (st, _) = delete(&s.app, &format!("/api/customers/{dana}"), &s.stranger).await;
    assert_eq!(st, 404);
    let (st, _) = delete(&s.app, &format!("/api/customers/{dana}"), &s.owner).await;
    assert_eq!(st, 204);
    assert_eq!(
        s.names("/api/customers").await,
        ["יוסי"],
        "gone from the list"
    );
    let (st, _) = get(&s.app, &format!("/api/customers/{dana}"), &s.owner).await;
    assert_eq!(st, 404);
    assert_eq!(s.names("/api/customers/deleted").await, ["דנה"]);
    let (st, _) = get(&s.app, "/api/customers/deleted", &s.stranger).await;
    assert_eq!(st, 200);
    assert!(s.names("/api/customers/deleted").await.len() == 1);
    let (st, _) = post(
        &s.app,
        &format!("/api/customers/{dana}/restore"),
        &s.stranger,
        json!({}),
    )
    .await;
    assert_eq!(st, 404, "another business's lead");

    // Undo: back in the list with its id; restoring twice finds nothing to restore.
    let (st, c) = post(
        &s.app,
        &format!("/api/customers/{dana}/restore"),
        &s.owner,
        json!({}),
    )
    .await;
    assert_eq!((st, c["id"].as_i64()), (200, Some(dana)), "{c}");
    let mut names = s.names("/api/customers").await;
    names.sort();
    assert_eq!(names, ["דנה", "יוסי"]);
    let (st, _) = post(
        &s.app,
        &format!("/api/customers/{dana}/restore"),
        &s.owner,
        json!({}),
    )
    .await;
    assert_eq!(st, 404);

    // Deleted again, then she calls: the call finds her, and she is back with her history.
    delete(&s.app, &format!("/api/customers/{dana}"), &s.owner).await;
    let phone = Phone::parse("050-1111111").unwrap();
    let again = mokdan::store::customers::upsert_by_phone(
        &s.app.state.db,
        s.biz,
        &phone,
        Some("מישהי"),
        "call",
    )
    .await
    .unwrap();
    assert_eq!(again, dana, "the same lead, not a new one");
    let (st, c) = get(&s.app, &format!("/api/customers/{dana}"), &s.owner).await;
    assert_eq!((st, c["name"].as_str()), (200, Some("דנה")), "{c}");

    // Deleted again, then added again by hand: the same lead comes back with the new details.
    delete(&s.app, &format!("/api/customers/{dana}"), &s.owner).await;
    let (st, c) = post(
        &s.app,
        "/api/customers",
        &s.owner,
        json!({ "name": "דנה לוי", "phone": "+972501111111" }),
    )
    .await;
    assert_eq!(
        (st, c["id"].as_i64(), c["name"].as_str()),
        (201, Some(dana), Some("דנה לוי")),
        "{c}"
    );

    // Only owners delete; an agent is refused and the lead stays.
    let (st, _) = delete(&s.app, &format!("/api/customers/{dana}"), &s.agent).await;
    assert_eq!(st, 403);
    s.app.shutdown().await.unwrap();
}
dual_test!(a_deleted_lead_is_restored);

async fn two_leads_merge_with_everything_on_them(backend: Backend) {
    let s = shop(backend).await;
    let db = &s.app.state.db;
    let keep = s
        .lead(
            "דנה כהן",
            "050-1111111",
            json!({ "tags": "vip", "notes": "מעדיפה בוקר" }),
        )
        .await;
    let from = s
        .lead(
            "",
            "052-3333333",
            json!({ "email": "dana@example.com", "tags": "צבע", "notes": "מספר העבודה" }),
        )
        .await;
    // On the lead merged away: a call, a note, a task and an appointment.
    let sid = "CAmerge0000000000000000000000000001";
    mokdan::store::calls::insert(
        db,
        &mokdan::store::calls::NewCall {
            call_sid: sid,
            business_id: Some(s.biz),
            from: Some("+972523333333"),
            to: Some("+97231234567"),
            direction: mokdan::domain::CallDirection::Inbound,
            status: mokdan::domain::CallStatus::Ringing,
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE call_logs SET customer_id = $1 WHERE call_sid = $2")
        .bind(from)
        .bind(sid)
        .execute(&db.pool)
        .await
        .unwrap();
    let (st, _) = post(
        &s.app,
        &format!("/api/customers/{from}/notes"),
        &s.owner,
        json!({ "body": "התקשרה מהעבודה" }),
    )
    .await;
    assert_eq!(st, 201);
    let (st, task) = post(
        &s.app,
        &format!("/api/customers/{from}/tasks"),
        &s.owner,
        json!({ "title": "לשלוח הצעת מחיר" }),
    )
    .await;
    assert_eq!(st, 201, "{task}");

    // Another business cannot merge into or out of these leads, nor a lead into itself.
    for (path, token, body) in [
        (
            format!("/api/customers/{keep}/merge"),
            &s.stranger,
            json!({ "from_id": from }),
        ),
        (
            format!("/api/customers/{keep}/merge"),
            &s.owner,
            json!({ "from_id": 999_999 }),
        ),
    ] {
        let (st, v) = post(&s.app, &path, token, body).await;
        assert_eq!(st, 404, "{v}");
    }
    let (st, v) = post(
        &s.app,
        &format!("/api/customers/{keep}/merge"),
        &s.owner,
        json!({ "from_id": keep }),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("עצמו"),
        "{v}"
    );

    let (st, v) = post(
        &s.app,
        &format!("/api/customers/{keep}/merge"),
        &s.owner,
        json!({ "from_id": from }),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["moved"],
        json!({ "calls": 1, "messages": 0, "notes": 1, "appointments": 0, "tasks": 1 })
    );
    let c = &v["customer"];
    assert_eq!(c["name"], "דנה כהן", "the kept name");
    assert_eq!(c["email"], "dana@example.com", "taken from the merged lead");
    assert_eq!(c["tags"], json!(["vip", "צבע"]));
    let notes = c["notes"].as_str().unwrap();
    assert!(
        notes.contains("מעדיפה בוקר")
            && notes.contains("052-333-3333")
            && notes.contains("מספר העבודה"),
        "{notes}"
    );
    let (st, _) = get(&s.app, &format!("/api/customers/{from}"), &s.owner).await;
    assert_eq!(st, 404, "the merged lead is gone");
    // Its call, note and task are the kept lead's now.
    let (_, timeline) = get(&s.app, &format!("/api/customers/{keep}/timeline"), &s.owner).await;
    let kinds: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"call") && kinds.contains(&"note"),
        "{timeline}"
    );
    let (_, tasks) = get(&s.app, &format!("/api/customers/{keep}/tasks"), &s.owner).await;
    assert_eq!(tasks["items"][0]["title"], "לשלוח הצעת מחיר");
    s.app.shutdown().await.unwrap();
}
dual_test!(two_leads_merge_with_everything_on_them);

async fn many_leads_change_status_at_once(backend: Backend) {
    let s = shop(backend).await;
    let a = s.lead("א", "050-1111111", json!({})).await;
    let b = s.lead("ב", "050-2222222", json!({})).await;
    s.lead("ג", "050-3333333", json!({})).await;
    let (st, theirs) = post(
        &s.app,
        "/api/customers",
        &s.stranger,
        json!({ "name": "זר", "phone": "050-4444444" }),
    )
    .await;
    assert_eq!(st, 201);
    let theirs = theirs["id"].as_i64().unwrap();

    let (st, v) = post(
        &s.app,
        "/api/customers/bulk-status",
        &s.agent,
        json!({ "ids": [a, b, theirs], "status": "contacted" }),
    )
    .await;
    assert_eq!((st, &v["changed"]), (200, &json!(2)), "{v}");
    let (_, list) = get(&s.app, "/api/customers?status=contacted", &s.owner).await;
    let mut ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [a, b], "the third stays new");
    let (_, other) = get(&s.app, &format!("/api/customers/{theirs}"), &s.stranger).await;
    assert_eq!(
        other["status"], "new",
        "another business's lead is untouched"
    );

    for body in [
        json!({ "ids": [], "status": "won" }),
        json!({ "ids": [a], "status": "maybe" }),
    ] {
        let (st, v) = post(&s.app, "/api/customers/bulk-status", &s.owner, body).await;
        assert_eq!(st, 422, "{v}");
    }
    s.app.shutdown().await.unwrap();
}
dual_test!(many_leads_change_status_at_once);

async fn my_tasks_today(backend: Backend) {
    let s = shop(backend).await;
    let dana = s.lead("דנה", "050-1111111", json!({})).await;
    let yossi = s.lead("יוסי", "050-2222222", json!({})).await;
    let now = jiff::Timestamp::now();
    let hour_ago = (now - jiff::SignedDuration::from_hours(1)).to_string();
    let in_three_days = (now + jiff::SignedDuration::from_hours(72)).to_string();

    // The owner gives the agent a task due an hour ago and one in three days; the agent
    // takes one with no due time for herself.
    for (lead, body, token) in [
        (
            dana,
            json!({ "title": "לחזור אליה", "due_at": hour_ago, "assignee_user_id": s.agent_id }),
            &s.owner,
        ),
        (
            yossi,
            json!({ "title": "הצעת מחיר", "due_at": in_three_days, "assignee_user_id": s.agent_id }),
            &s.owner,
        ),
        (yossi, json!({ "title": "לבדוק מלאי" }), &s.agent),
        (dana, json!({ "title": "משימה של הבעלים" }), &s.owner),
    ] {
        let (st, t) = post(&s.app, &format!("/api/customers/{lead}/tasks"), token, body).await;
        assert_eq!(st, 201, "{t}");
    }
    // A follow-up on Yossi for the agent, this morning.
    let (st, c) = post(
        &s.app,
        &format!("/api/customers/{yossi}/follow-up"),
        &s.owner,
        json!({ "follow_up_at": hour_ago, "assignee_user_id": s.agent_id }),
    )
    .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["owner_user_id"], s.agent_id);
    assert!(c["follow_up_at"].as_i64().is_some());

    let (st, mine) = get(&s.app, "/api/tasks/mine", &s.agent).await;
    assert_eq!(st, 200, "{mine}");
    let titles: Vec<&str> = mine["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["לחזור אליה", "לבדוק מלאי"],
        "overdue first; not the future one, not the owner's"
    );
    assert_eq!(mine["tasks"][0]["lead_name"], "דנה");
    assert_eq!(mine["follow_ups"][0]["id"], yossi);

    // Done: it leaves the list; another business cannot tick it.
    let done_id = mine["tasks"][0]["task"]["id"].as_i64().unwrap();
    let (st, _) = post(
        &s.app,
        &format!("/api/tasks/{done_id}/done"),
        &s.stranger,
        json!({}),
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = post(
        &s.app,
        &format!("/api/tasks/{done_id}/done"),
        &s.agent,
        json!({}),
    )
    .await;
    assert_eq!(st, 204);
    let (_, mine) = get(&s.app, "/api/tasks/mine", &s.agent).await;
    assert_eq!(mine["tasks"].as_array().unwrap().len(), 1);

    // Bad input, in Hebrew; a stranger as assignee is refused.
    let other_owner = mokdan::store::users::by_email(&s.app.state.db, "owner@other.test")
        .await
        .unwrap()
        .unwrap()
        .id;
    for body in [
        json!({ "title": "  " }),
        json!({ "title": "x", "due_at": "מחר" }),
        json!({ "title": "x", "assignee_user_id": other_owner }),
    ] {
        let (st, v) = post(
            &s.app,
            &format!("/api/customers/{dana}/tasks"),
            &s.owner,
            body,
        )
        .await;
        assert_eq!(st, 422, "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.chars().any(|c| ('\u{5d0}'..='\u{5ea}').contains(&c)),
            "{msg}"
        );
    }
    s.app.shutdown().await.unwrap();
}
dual_test!(my_tasks_today);

async fn saved_filters_are_each_users_own(backend: Backend) {
    let s = shop(backend).await;
    let (st, f) = post(
        &s.app,
        "/api/saved-filters",
        &s.owner,
        json!({ "name": "חדשים שלי", "query": "?status=new&assignee=me&sort=name" }),
    )
    .await;
    assert_eq!(st, 201, "{f}");
    assert_eq!(f["query"], "status=new&assignee=me&sort=name");
    // The same name again replaces it.
    let (st, g) = post(
        &s.app,
        "/api/saved-filters",
        &s.owner,
        json!({ "name": "חדשים שלי", "query": "status=contacted" }),
    )
    .await;
    assert_eq!((st, &g["id"]), (201, &f["id"]));
    let (_, list) = get(&s.app, "/api/saved-filters", &s.owner).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["query"], "status=contacted");
    let (_, theirs) = get(&s.app, "/api/saved-filters", &s.agent).await;
    assert_eq!(
        theirs["items"],
        json!([]),
        "another user's filters are not shown"
    );
    let id = f["id"].as_i64().unwrap();
    let (st, _) = delete(&s.app, &format!("/api/saved-filters/{id}"), &s.agent).await;
    assert_eq!(st, 404, "nor deleted by them");
    // Only the list's own parameters are kept.
    let (st, v) = post(
        &s.app,
        "/api/saved-filters",
        &s.owner,
        json!({ "name": "x", "query": "status=new&redirect=https://evil.example" }),
    )
    .await;
    assert_eq!(st, 422, "{v}");
    let (st, _) = delete(&s.app, &format!("/api/saved-filters/{id}"), &s.owner).await;
    assert_eq!(st, 204);
    s.app.shutdown().await.unwrap();
}
dual_test!(saved_filters_are_each_users_own);

async fn the_web_list_sorts_filters_and_keeps_other_businesses_out(backend: Backend) {
    let s = shop(backend).await;
    let db = &s.app.state.db;
    for (name, phone) in [
        ("בתיה", "050-1111111"),
        ("אלון", "050-2222222"),
        ("גדי", "050-3333333"),
    ] {
        s.lead(name, phone, json!({})).await;
    }
    let (_, theirs) = post(
        &s.app,
        "/api/customers",
        &s.stranger,
        json!({ "name": "אבא של מישהו אחר", "phone": "050-4444444" }),
    )
    .await;
    assert!(theirs["id"].is_i64());
    // Gadi is the agent's, and came from a call.
    let gadi = mokdan::store::customers::by_phone(db, s.biz, &Phone::parse("050-3333333").unwrap())
        .await
        .unwrap()
        .unwrap();
    sqlx::query("UPDATE customers SET owner_user_id = $1, source = 'call' WHERE id = $2")
        .bind(s.agent_id)
        .bind(gadi.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let web = common::web::sign_in(&s.app, "agent@shop.test", common::crm::PASSWORD).await;
    let names = |page: &str| -> Vec<String> {
        page.split("<td data-label=\"שם\"><a href=\"/app/biz/leads/")
            .skip(1)
            .map(|r| {
                r.split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let (st, _, page) = common::web::get(&web, &s.app, "/app/biz/leads?sort=name&dir=asc").await;
    assert_eq!(st, 200);
    assert_eq!(
        names(&page),
        ["אלון", "בתיה", "גדי"],
        "by name, and none of the other business's"
    );
    assert!(page.contains("aria-sort=\"ascending\""));
    let (_, _, page) = common::web::get(&web, &s.app, "/app/biz/leads?sort=name&dir=desc").await;
    assert_eq!(names(&page), ["גדי", "בתיה", "אלון"]);
    let (_, _, page) = common::web::get(&web, &s.app, "/app/biz/leads?assignee=me").await;
    assert_eq!(names(&page), ["גדי"], "my leads");
    let (_, _, page) = common::web::get(
        &web,
        &s.app,
        "/app/biz/leads?assignee=none&sort=name&dir=asc",
    )
    .await;
    assert_eq!(names(&page), ["אלון", "בתיה"]);
    let (_, _, page) = common::web::get(&web, &s.app, "/app/biz/leads?source=call").await;
    assert_eq!(names(&page), ["גדי"]);
    let (_, _, page) =
        common::web::get(&web, &s.app, "/app/biz/leads?from=2001-01-01&to=2001-01-31").await;
    assert!(names(&page).is_empty(), "created before then: none");
    let (_, _, page) = common::web::get(&web, &s.app, "/app/biz/leads?from=1.1.2001").await;
    assert!(
        page.contains("תאריך ההתחלה אינו תאריך תקין"),
        "a bad date is said in Hebrew"
    );
    // The current filter is what "save" keeps.
    let (_, _, page) =
        common::web::get(&web, &s.app, "/app/biz/leads?assignee=me&sort=name&dir=asc").await;
    assert!(
        page.contains("name=\"query\" value=\"assignee=me&#38;sort=name&#38;dir=asc\""),
        "{page}"
    );
    s.app.shutdown().await.unwrap();
}
dual_test!(the_web_list_sorts_filters_and_keeps_other_businesses_out);
