//! A call the business places runs its own script (V4): the person called hears who is
//! calling and why (the purpose from `POST /api/calls`), not the inbound "you have reached
//! …, what is your name?"; the agent knows the call's direction and the number it called.

mod common;

use std::time::Duration;

use common::ai::Ai;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use sim::{CallerScript, Sim, SimConfig};

const NUMBER: &str = "+97231234567";
const CALLED: &str = "+972541112222";
const PURPOSE: &str = "תזכורת לתור מחר בעשר";
const BUSINESS: &str = "מרפאת השיניים של ד\"ר לוי";

struct World {
    app: TestApp,
    sim: Sim,
    business_id: i64,
    token: String,
}

async fn world(backend: Backend, extra: &[(&str, String)]) -> World {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let mut vars = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()),
        ("TWILIO_API_BASE", sim.api_base()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &vars).await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    let business_id = mokdan::store::businesses::create(&app.state.db, BUSINESS, &phone)
        .await
        .unwrap();
    common::crm::add_user(
        &app,
        "owner@example.com",
        mokdan::store::users::Role::Owner,
        Some(business_id),
    )
    .await;
    let token = common::crm::login(&app, "owner@example.com").await;
    World {
        app,
        sim,
        business_id,
        token,
    }
}

impl World {
    /// Places a call to [`CALLED`] with this body; the answer's status and JSON.
    async fn place(&self, purpose: Option<&str>) -> (u16, serde_json::Value) {
        let mut body = serde_json::json!({"to": "054-1112222", "business_id": self.business_id});
        if let Some(p) = purpose {
            body["purpose"] = serde_json::json!(p);
        }
        let r = self
            .app
            .http
            .post(self.app.url("/api/calls"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }

    /// Places the call, lets the person called answer, and returns the agent's lines.
    async fn call(&self, purpose: Option<&str>) -> (String, Vec<String>) {
        self.sim.set_callee_script(
            CallerScript::new()
                .wait_for_agent(Duration::from_secs(20))
                .say("כן, זה אני")
                .wait_for_agent(Duration::from_secs(20))
                .hang_up()
                .max_duration(Duration::from_secs(60)),
        );
        let (status, body) = self.place(purpose).await;
        assert_eq!(status, 201, "{body}");
        let sid = body["call_sid"].as_str().unwrap().to_string();
        let report = self
            .sim
            .wait_for_call(&sid, Duration::from_secs(60))
            .await
            .expect("the call ran");
        assert!(report.is_clean(), "{}", report.print_timeline());
        let said: Vec<(Option<String>,)> = sqlx::query_as(
            "SELECT agent_text FROM call_turns WHERE call_sid = $1 ORDER BY turn_index",
        )
        .bind(&sid)
        .fetch_all(&self.app.state.db.pool)
        .await
        .unwrap();
        (sid, said.into_iter().filter_map(|(t,)| t).collect())
    }
}

async fn the_person_called_hears_who_calls_and_why(backend: Backend) {
    let w = world(backend, &[]).await;
    let (sid, said) = w.call(Some(PURPOSE)).await;
    let opening = said.first().expect("the agent spoke first");
    assert!(
        opening.starts_with(&format!("שלום, מדברים מ{BUSINESS}.")),
        "who calls: {opening}"
    );
    let row = mokdan::store::calls::by_sid(&w.app.state.db, &sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.business_id, Some(w.business_id));
    assert!(opening.contains(PURPOSE), "why: {opening}");
    assert!(
        !opening.contains("הגעתם") && !opening.contains("מה השם שלך"),
        "not the inbound script: {opening}"
    );
    let purpose: (Option<String>,) =
        sqlx::query_as("SELECT purpose FROM call_logs WHERE call_sid = $1")
            .bind(&sid)
            .fetch_one(&w.app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(purpose.0.as_deref(), Some(PURPOSE));

    // A purpose too long to say, or with control characters, is refused clearly.
    let (status, body) = w.place(Some(&"א".repeat(201))).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = w.place(Some("שורה\u{7}")).await;
    assert_eq!(status, 422, "{body}");
    w.app.shutdown().await.unwrap();
}
dual_test!(the_person_called_hears_who_calls_and_why);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_agent_is_told_it_placed_the_call_and_to_whom() {
    let ai = Ai::start().await;
    let mut env: Vec<(&str, String)> = ai.env().into_iter().collect();
    env.push(("MOKDAN_TTS", "openai".to_string()));
    let w = world(Backend::Sqlite, &env).await;
    let (_, said) = w.call(Some(PURPOSE)).await;
    let opening = said.first().expect("the agent spoke first");
    assert!(
        opening.contains(PURPOSE) && opening.contains("זה זמן נוח לדבר?"),
        "{opening}"
    );
    let spoken = ai.spoken.lock().unwrap().clone();
    assert!(
        spoken.iter().any(|s| s.contains(PURPOSE)),
        "the person called heard the opening: {spoken:?}"
    );
    let chat = ai
        .last_chat
        .lock()
        .unwrap()
        .clone()
        .expect("the agent replied");
    let system = chat["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(system.contains("שיחה יוצאת"), "{system}");
    assert!(system.contains(PURPOSE), "{system}");
    assert!(
        system.contains(&format!("מספר הטלפון אליו התקשרת: {CALLED}")),
        "the other party's number: {system}"
    );
    w.app.shutdown().await.unwrap();
}
