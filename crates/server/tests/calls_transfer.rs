//! The agent's actions carried out on a whole call through the sim (V7, V8): a transfer
//! hands the live call to the business's number with a REST Calls update to `<Dial>` once
//! the caller heard the agent's last words; a business without a transfer number keeps the
//! request as a call-back; a call-back request shows on the call and the customer in the CRM.

mod common;

use std::time::Duration;

use common::ai::Ai;
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp, crm};
use mokdan::calls::actions::{self, ASKED_FOR_A_PERSON, CALLBACK_ASAP};
use mokdan::store::{businesses, calls, users::Role};
use sim::{CallSpec, CallerScript, Sim, SimConfig, TimelineKind};
use telephony::twiml::Verb;
use voice::AgentAction;

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";
const TRANSFER_TO: &str = "+972541112222";

struct World {
    app: TestApp,
    sim: Sim,
    business_id: i64,
}

async fn world(backend: Backend, ai: &Ai, transfer_number: Option<&str>) -> World {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let env = ai.env();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_API_BASE", api.as_str()),
            (env[0].0, env[0].1.as_str()),
            (env[1].0, env[1].1.as_str()),
        ],
    )
    .await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    let business_id = businesses::create(&app.state.db, "מרפאת השיניים", &phone)
        .await
        .unwrap();
    if let Some(n) = transfer_number {
        let b = businesses::get(&app.state.db, business_id)
            .await
            .unwrap()
            .unwrap();
        let settings = businesses::Settings {
            name: b.name,
            transfer_number: Some(n.to_string()),
            business_hours: Some(r#"{"sun": ["08:00", "17:00"]}"#.into()),
            auto_reply: true,
            recording_retention_days: b.recording_retention_days,
            ..Default::default()
        };
        assert!(
            businesses::update(&app.state.db, business_id, &settings, None)
                .await
                .unwrap()
        );
    }
    World {
        app,
        sim,
        business_id,
    }
}

fn script() -> CallerScript {
    CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("אני רוצה לדבר עם מישהו בבקשה")
        .wait_for_agent(Duration::from_secs(20))
        .silence(Duration::from_secs(6))
        .max_duration(Duration::from_secs(60))
}

impl World {
    async fn call(&self) -> sim::CallReport {
        let spec = CallSpec::new(self.app.base.clone(), NUMBER, CALLER, script());
        self.sim.call(spec).await.unwrap()
    }

    fn updates(&self, call_sid: &str) -> Vec<sim::RestRequest> {
        self.sim
            .rest_log()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/Calls/{call_sid}.json")))
            .collect()
    }

    async fn row(&self, call_sid: &str) -> calls::CallRow {
        calls::by_sid(&self.app.state.db, call_sid)
            .await
            .unwrap()
            .expect("call row")
    }
}

async fn a_transfer_dials_the_business_number_after_the_last_words(backend: Backend) {
    let ai = Ai::start().await;
    // The agent names a number of its own: the business's number is dialled regardless.
    ai.call_tool("transfer_call", r#"{"number": "+15550001111"}"#);
    let w = world(backend, &ai, Some(TRANSFER_TO)).await;
    let report = w.call().await;
    assert!(report.is_clean(), "{}", report.print_timeline());
    let updates = w.updates(&report.call_sid);
    assert_eq!(updates.len(), 1, "one update:\n{}", report.print_timeline());
    assert!(updates[0].basic_auth_ok);
    let twiml = telephony::twiml::parse(updates[0].param("Twiml").expect("inline TwiML")).unwrap();
    let Some(Verb::Dial(dial)) = twiml.verbs.first() else {
        panic!("a <Dial>: {twiml:?}");
    };
    assert_eq!(dial.number, TRANSFER_TO);
    assert_eq!(
        dial.action.as_deref(),
        Some(w.app.url("/webhook/transfer_ended").as_str())
    );

    // Every mark the server placed before the update came back first: the caller heard
    // the greeting and the agent's reply before being handed over.
    let t = &report.timeline;
    let update_at = t
        .iter()
        .position(|e| e.kind == TimelineKind::RestUpdate)
        .expect("the update in the timeline");
    let count = |kind: TimelineKind| t[..update_at].iter().filter(|e| e.kind == kind).count();
    let sent = count(TimelineKind::MarkSent);
    assert!(
        sent >= 2,
        "greeting and reply:\n{}",
        report.print_timeline()
    );
    assert_eq!(
        count(TimelineKind::MarkEchoed),
        sent,
        "{}",
        report.print_timeline()
    );
    assert!(
        t[update_at..]
            .iter()
            .any(|e| e.kind == TimelineKind::Transfer && e.detail.contains(TRANSFER_TO)),
        "{}",
        report.print_timeline()
    );

    // The socket records its end just after the hand-over, racing the sim's end of call.
    let mut row = w.row(&report.call_sid).await;
    for _ in 0..50 {
        if row.stream_end_reason.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        row = w.row(&report.call_sid).await;
    }
    assert_eq!(row.business_id, Some(w.business_id));
    assert_eq!(row.stream_end_reason.as_deref(), Some("transferred"));
    assert!(row.fallback_reason.is_none(), "{:?}", row.fallback_reason);
    let (heard,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM call_turns WHERE call_sid = $1 AND heard_text = $2")
            .bind(&report.call_sid)
            .bind(common::ai::REPLY)
            .fetch_one(&w.app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(heard, 1, "the reply was heard in full");

    // The agent was told where calls go and when the business is open.
    let chat = ai.last_chat.lock().unwrap().clone().expect("a live chat");
    let system = chat["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(system.contains(TRANSFER_TO), "{system}");
    assert!(system.contains("ראשון: 08:00–17:00"), "{system}");
    w.app.shutdown().await.unwrap();
}
dual_test!(a_transfer_dials_the_business_number_after_the_last_words);

async fn without_a_transfer_number_nothing_is_dialled(backend: Backend) {
    let ai = Ai::start().await;
    ai.call_tool("transfer_call", r#"{"number": "+15550001111"}"#);
    let w = world(backend, &ai, None).await;
    let report = w.call().await;
    assert!(report.is_clean(), "{}", report.print_timeline());
    assert!(
        w.updates(&report.call_sid).is_empty(),
        "{}",
        report.print_timeline()
    );
    assert!(
        !report
            .timeline
            .iter()
            .any(|e| e.kind == TimelineKind::Transfer)
    );
    let row = w.row(&report.call_sid).await;
    assert_ne!(row.stream_end_reason.as_deref(), Some("transferred"));
    w.app.shutdown().await.unwrap();
}
dual_test!(without_a_transfer_number_nothing_is_dialled);

/// A call row of the business, from the customer's phone; its id.
async fn a_call(app: &TestApp, business_id: i64, sid: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO call_logs (call_sid, business_id, from_number, to_number, direction, \
         status, created_at, updated_at) VALUES ($1, $2, $3, $4, 'inbound', 'in-progress', \
         1700000000000, 1700000000000) RETURNING id",
    )
    .bind(sid)
    .bind(business_id)
    .bind(CALLER)
    .bind(NUMBER)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    id
}

/// The call's stored reason and call-back time.
async fn asked(app: &TestApp, sid: &str) -> (Option<String>, Option<String>) {
    sqlx::query_as("SELECT caller_reason, callback_time FROM call_logs WHERE call_sid = $1")
        .bind(sid)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn callback_requests_show_on_the_call_and_the_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bid = crm::add_business(&app, "קפה", NUMBER).await;
    crm::add_user(&app, "owner@example.com", Role::Owner, Some(bid)).await;
    let token = crm::login(&app, "owner@example.com").await;
    let (s, customer) = crm::post(
        &app,
        "/api/customers",
        &token,
        serde_json::json!({ "name": "דנה", "phone": CALLER }),
    )
    .await;
    assert_eq!(s, 201, "{customer}");

    // The agent's call-back request is stored as said.
    let first = a_call(&app, bid, "CA00000000000000000000000000000001").await;
    let sid = "CA00000000000000000000000000000001";
    actions::act(
        &app.state.calls,
        sid,
        &AgentAction::CallBack {
            when: "מחר בעשר".into(),
        },
    )
    .await;
    let (s, call) = crm::get(&app, &format!("/api/calls/{first}"), &token).await;
    assert_eq!(s, 200, "{call}");
    assert_eq!(call["callback_time"], "מחר בעשר");

    // A transfer with no number to transfer to becomes a call-back request; details the
    // agent saves later still win.
    a_call(&app, bid, "CA00000000000000000000000000000002").await;
    let sid2 = "CA00000000000000000000000000000002";
    actions::act(
        &app.state.calls,
        sid2,
        &AgentAction::Transfer {
            number: "+15550001111".into(),
        },
    )
    .await;
    let (reason, when) = asked(&app, sid2).await;
    assert_eq!(when.as_deref(), Some(CALLBACK_ASAP));
    assert_eq!(reason.as_deref(), Some(ASKED_FOR_A_PERSON));
    actions::act(
        &app.state.calls,
        sid2,
        &AgentAction::SaveDetails {
            name: Some("דנה".into()),
            reason: Some("תור".into()),
            callback_time: None,
            urgency: None,
        },
    )
    .await;
    let (reason, when) = asked(&app, sid2).await;
    assert_eq!(reason.as_deref(), Some("תור"));
    assert_eq!(when.as_deref(), Some(CALLBACK_ASAP));

    // The customer's timeline shows both requests.
    let cid = customer["id"].as_i64().unwrap();
    let (s, timeline) = crm::get(&app, &format!("/api/customers/{cid}/timeline"), &token).await;
    assert_eq!(s, 200, "{timeline}");
    let times: Vec<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "call")
        .filter_map(|i| i["call"]["callback_time"].as_str())
        .collect();
    assert!(times.contains(&"מחר בעשר"), "{timeline}");
    assert!(times.contains(&CALLBACK_ASAP), "{timeline}");
    app.shutdown().await.unwrap();
}
dual_test!(callback_requests_show_on_the_call_and_the_customer);

async fn an_unanswered_transfer_lets_the_caller_leave_a_message(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ],
    )
    .await;
    let bid = crm::add_business(&app, "קפה", NUMBER).await;
    let form = |sid: &str, status: &str| {
        let mut f = common::twilio::call_params(sid, CALLER, NUMBER);
        f.push(("DialCallStatus".into(), status.into()));
        f
    };
    // Answered: the conversation happened; the call ends with it.
    let talked = "CA00000000000000000000000000000003";
    a_call(&app, bid, talked).await;
    let t = app
        .twiml("/webhook/transfer_ended", &form(talked, "completed"))
        .await;
    assert_eq!(t.verbs, vec![Verb::Hangup]);
    assert_eq!(asked(&app, talked).await.1, None);

    // Nobody answered: record a message (once), and keep a call-back request.
    let missed = "CA00000000000000000000000000000004";
    a_call(&app, bid, missed).await;
    let t = app
        .twiml("/webhook/transfer_ended", &form(missed, "no-answer"))
        .await;
    let record = t.verbs.iter().find_map(|v| match v {
        Verb::Record(r) => Some(r),
        _ => None,
    });
    assert_eq!(
        record.and_then(|r| r.action.as_deref()),
        Some(app.url("/webhook/handle_recording").as_str()),
        "{t:?}"
    );
    assert_eq!(asked(&app, missed).await.1.as_deref(), Some(CALLBACK_ASAP));
    let row = calls::by_sid(&app.state.db, missed).await.unwrap().unwrap();
    assert_eq!(row.fallback_reason.as_deref(), Some("transfer_unanswered"));
    let again = app
        .twiml("/webhook/transfer_ended", &form(missed, "busy"))
        .await;
    assert_eq!(again.verbs, vec![Verb::Hangup], "never loops");
    app.shutdown().await.unwrap();
}
dual_test!(an_unanswered_transfer_lets_the_caller_leave_a_message);

/// A transfer number outside the business's calling policy (stored before the policy, say:
/// the API refuses to set one now) is never dialled: the transfer is a leg the service
/// pays for, so it is checked when made too, and the caller's wish is kept as a call-back
/// request (#16.2).
async fn a_transfer_outside_the_calling_policy_is_not_dialled(backend: Backend) {
    let ai = Ai::start().await;
    ai.call_tool("transfer_call", r#"{"number": "+15550001111"}"#);
    let w = world(backend, &ai, Some("+442079460958")).await;
    let report = w.call().await;
    for update in w.updates(&report.call_sid) {
        let twiml = update.param("Twiml").unwrap_or_default();
        assert!(
            !twiml.contains("<Dial"),
            "no dial abroad: {twiml}\n{}",
            report.print_timeline()
        );
    }
    assert!(
        !report
            .timeline
            .iter()
            .any(|e| e.kind == TimelineKind::Transfer),
        "{}",
        report.print_timeline()
    );
    let row = w.row(&report.call_sid).await;
    assert_ne!(row.stream_end_reason.as_deref(), Some("transferred"));
    // A call-back is asked for (the post-call summary may fill in a time of its own).
    assert!(asked(&w.app, &report.call_sid).await.1.is_some());
    w.app.shutdown().await.unwrap();
}
dual_test!(a_transfer_outside_the_calling_policy_is_not_dialled);

/// Transfers count against the business's call quotas like outbound calls: with its quota
/// used up (here set to none at all by the operator), an allowed transfer number is not
/// dialled either (#16.2).
async fn a_transfer_past_the_call_quota_is_not_dialled(backend: Backend) {
    let ai = Ai::start().await;
    ai.call_tool("transfer_call", r#"{"number": "+15550001111"}"#);
    let w = world(backend, &ai, Some(TRANSFER_TO)).await;
    let policy = mokdan::calls::policy::Policy {
        per_hour: 0,
        ..Default::default()
    };
    mokdan::calls::policy::save(&w.app.state.db, w.business_id, &policy)
        .await
        .unwrap();
    let report = w.call().await;
    for update in w.updates(&report.call_sid) {
        let twiml = update.param("Twiml").unwrap_or_default();
        assert!(!twiml.contains("<Dial"), "{twiml}");
    }
    assert!(
        !report
            .timeline
            .iter()
            .any(|e| e.kind == TimelineKind::Transfer),
        "{}",
        report.print_timeline()
    );
    assert!(asked(&w.app, &report.call_sid).await.1.is_some());
    w.app.shutdown().await.unwrap();
}
dual_test!(a_transfer_past_the_call_quota_is_not_dialled);
