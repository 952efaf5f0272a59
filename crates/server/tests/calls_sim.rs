//! Whole calls through the sim, our local Twilio: conversation, watchdog, `*`, barge-in,
//! outbound (V1–V9, V11, S3). The sim fails a call that breaks Twilio's protocol.

mod common;

use std::time::Duration;

use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use mokdan::store::calls;
use sim::{CallSpec, CallerScript, Sim, SimConfig, TimelineKind};
use telephony::twiml::Verb;

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

struct World {
    app: TestApp,
    sim: Sim,
    business_id: i64,
}

async fn world(backend: Backend) -> World {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let api = sim.api_base();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_API_BASE", api.as_str()),
            ("MOKDAN_WATCHDOG_START_SECS", "2"),
            ("MOKDAN_WATCHDOG_MEDIA_SECS", "1.5"),
        ],
    )
    .await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    let business_id =
        mokdan::store::businesses::create(&app.state.db, "מרפאת השיניים של ד\"ר לוי", &phone)
            .await
            .unwrap();
    World {
        app,
        sim,
        business_id,
    }
}

impl World {
    fn spec(&self, script: CallerScript) -> CallSpec {
        CallSpec::new(self.app.base.clone(), NUMBER, CALLER, script)
    }

    /// The REST Calls updates the server made for a call.
    fn redirects(&self, call_sid: &str) -> Vec<sim::RestRequest> {
        self.sim
            .rest_log()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/Calls/{call_sid}.json")))
            .collect()
    }

    /// Asserts the call was redirected exactly once, with the account's Basic auth, to the
    /// inline fallback TwiML: the business's spoken prompt (served by us), `<Record>` posting to
    /// `/webhook/handle_recording`, then `<Hangup/>`.
    async fn assert_one_fallback_redirect(&self, report: &sim::CallReport) {
        let redirects = self.redirects(&report.call_sid);
        assert_eq!(
            redirects.len(),
            1,
            "exactly one redirect:\n{}",
            report.print_timeline()
        );
        let r = &redirects[0];
        assert!(
            r.basic_auth_ok,
            "the redirect uses the account's Basic auth"
        );
        let twiml = telephony::twiml::parse(r.param("Twiml").expect("inline TwiML")).unwrap();
        let Some(Verb::Play(prompt)) = twiml.verbs.first() else {
            panic!("the fallback starts with its prompt: {:?}", twiml.verbs)
        };
        assert!(
            prompt.url.starts_with(&self.app.url("/static/tts/")),
            "{}",
            prompt.url
        );
        // The business's own fallback prompt (V2), not the one for no business.
        let ours = self
            .app
            .state
            .calls
            .prompts
            .name_for(Some(self.business_id), mokdan::prompts::text::FALLBACK);
        assert!(prompt.url.ends_with(&ours), "{} is not {ours}", prompt.url);
        let audio = self.app.http.get(&prompt.url).send().await.unwrap();
        assert_eq!(audio.status(), 200, "the prompt is served: {}", prompt.url);
        let record = twiml.verbs.iter().find_map(|v| match v {
            Verb::Record(r) => Some(r),
            _ => None,
        });
        assert_eq!(
            record.and_then(|r| r.action.as_deref()),
            Some(self.app.url("/webhook/handle_recording").as_str())
        );
        assert!(matches!(twiml.verbs.last(), Some(Verb::Hangup)));
    }

    async fn row(&self, call_sid: &str) -> calls::CallRow {
        calls::by_sid(&self.app.state.db, call_sid)
            .await
            .unwrap()
            .expect("call row")
    }
}

fn assert_clean(report: &sim::CallReport) {
    assert!(
        report.is_clean(),
        "protocol errors: {:?}\n{}",
        report.protocol_errors,
        report.print_timeline()
    );
    assert_eq!(report.messages_before_start, 0);
}

async fn a_full_intake_conversation(backend: Backend) {
    let w = world(backend).await;
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say("שלום, קוראים לי דנה כהן")
        .wait_for_agent(Duration::from_secs(20))
        .say("אני רוצה לקבוע תור לבדיקה")
        .wait_for_agent(Duration::from_secs(20))
        .say("מחר בבוקר")
        .wait_for_agent(Duration::from_secs(20))
        .max_duration(Duration::from_secs(120));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert_clean(&report);
    assert!(
        report.heard_duration() > Duration::from_secs(3),
        "{}",
        report.print_timeline()
    );
    assert!(
        report.marks_echoed.len() >= 4,
        "greeting and three questions: {:?}",
        report.marks_echoed
    );
    assert!(
        report.turn_latencies.len() >= 3,
        "{:?}",
        report.turn_latencies
    );
    assert!(
        w.redirects(&report.call_sid).is_empty(),
        "a healthy call is never redirected"
    );

    let row = w.row(&report.call_sid).await;
    assert_eq!(row.business_id, Some(w.business_id));
    assert_eq!(
        row.stream_end_reason.as_deref(),
        Some("conversation_complete"),
        "{}",
        report.print_timeline()
    );
    assert!(row.fallback_reason.is_none());
    // Completed, or already past it: the whole call's recording came in (V11).
    assert!(
        ["completed", "recorded", "transcribed"].contains(&row.status.as_str()),
        "{:?}",
        row.status
    );
    let (turns, with_audio): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(caller_audio_path) FROM call_turns WHERE call_sid = $1",
    )
    .bind(&report.call_sid)
    .fetch_one(&w.app.state.db.pool)
    .await
    .unwrap();
    assert!(turns >= 4, "turns stored: {turns}");
    assert!(
        with_audio >= 3,
        "without speech-to-text the caller's answers are kept as audio: {with_audio}"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(a_full_intake_conversation);

async fn no_stream_start_redirects_once_to_recording(backend: Backend) {
    let w = world(backend).await;
    let script = CallerScript::new()
        .never_connect_socket()
        // The sim runs at 3× speed: this covers the 2 s watchdog and the fallback prompt.
        .silence(Duration::from_secs(18))
        .say("שלום, זו הודעה מוקלטת. תחזרו אליי בבקשה")
        .silence(Duration::from_secs(2))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    w.assert_one_fallback_redirect(&report).await;
    let row = w.row(&report.call_sid).await;
    assert_eq!(row.fallback_reason.as_deref(), Some("no_stream_start"));
    assert!(
        row.recording_url.is_some(),
        "the caller's message was recorded:\n{}",
        report.print_timeline()
    );
    assert_eq!(row.status, "recorded");
    w.app.shutdown().await.unwrap();
}
dual_test!(no_stream_start_redirects_once_to_recording);

async fn media_that_stops_redirects_once(backend: Backend) {
    let w = world(backend).await;
    let script = CallerScript::new()
        .stop_media_after(Duration::from_millis(500))
        .silence(Duration::from_secs(12))
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    w.assert_one_fallback_redirect(&report).await;
    assert_eq!(
        w.row(&report.call_sid).await.fallback_reason.as_deref(),
        Some("media_timeout")
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(media_that_stops_redirects_once);

async fn star_sends_the_caller_to_recording(backend: Backend) {
    let w = world(backend).await;
    let script = CallerScript::new()
        .silence(Duration::from_millis(800))
        .dtmf('*')
        .silence(Duration::from_secs(3))
        .say("אני משאיר הודעה")
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert_clean(&report);
    w.assert_one_fallback_redirect(&report).await;
    let row = w.row(&report.call_sid).await;
    assert_eq!(row.fallback_reason.as_deref(), Some("dtmf_star"));
    w.app.shutdown().await.unwrap();
}
dual_test!(star_sends_the_caller_to_recording);

async fn barge_in_clears_playback(backend: Backend) {
    let w = world(backend).await;
    let script = CallerScript::new()
        .silence(Duration::from_millis(600))
        .say("סליחה, אני רוצה לדבר עם מישהו עכשיו")
        .wait_for_agent(Duration::from_secs(20))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert_clean(&report);
    assert!(
        report.clears >= 1,
        "the caller spoke over the greeting:\n{}",
        report.print_timeline()
    );
    // After the clear, nothing more of the greeting may reach the caller. The socket is
    // ordered and the server's sender writes `clear` after the last chunk it had sent, so
    // the audio that was in flight arrives before the clear: none may arrive after it
    // until the caller has finished speaking and a reply can start.
    let clear_at = report
        .entries(TimelineKind::Clear)
        .next()
        .expect("a clear on the timeline")
        .at;
    let turn_end = report
        .entries(TimelineKind::CallerTurnEnd)
        .map(|e| e.at)
        .find(|at| *at > clear_at)
        .expect("the caller's turn ends after the clear");
    let stale: Vec<Duration> = report
        .agent_media_at
        .iter()
        .copied()
        .filter(|at| *at > clear_at && *at < turn_end)
        .collect();
    assert!(
        stale.is_empty(),
        "{} agent media messages after the clear (at {clear_at:?}): {stale:?}\n{}",
        stale.len(),
        report.print_timeline()
    );
    assert!(
        report.agent_media_at.iter().any(|at| *at < clear_at),
        "the greeting was playing before the clear"
    );
    let (barged,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM call_turns WHERE call_sid = $1 AND barged_in = 1")
            .bind(&report.call_sid)
            .fetch_one(&w.app.state.db.pool)
            .await
            .unwrap();
    assert!(barged >= 1);
    w.app.shutdown().await.unwrap();
}
dual_test!(barge_in_clears_playback);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_call_runs_the_same_stream() {
    let w = world(Backend::Sqlite).await;
    common::crm::add_user(
        &w.app,
        "owner@example.com",
        mokdan::store::users::Role::Owner,
        Some(w.business_id),
    )
    .await;
    let token = common::crm::login(&w.app, "owner@example.com").await;
    w.sim.set_callee_script(
        CallerScript::new()
            .wait_for_agent(Duration::from_secs(20))
            .say("הלו, מי זה?")
            .wait_for_agent(Duration::from_secs(10))
            .hang_up()
            .max_duration(Duration::from_secs(60)),
    );
    let r = w
        .app
        .http
        .post(w.app.url("/api/calls"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"to": "054-1112222", "business_id": w.business_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let body: serde_json::Value = r.json().await.unwrap();
    let sid = body["call_sid"].as_str().unwrap().to_string();
    let report = w
        .sim
        .wait_for_call(&sid, Duration::from_secs(60))
        .await
        .expect("the call ran");
    assert_clean(&report);
    assert_eq!(report.direction, "outbound-api");
    assert!(report.heard_duration() > Duration::from_secs(1));
    let create = w
        .sim
        .rest_log()
        .into_iter()
        .find(|r| r.path.ends_with("/Calls.json"))
        .unwrap();
    assert_eq!(
        create.param("Record"),
        Some("true"),
        "native recording is on (V11)"
    );
    assert_eq!(
        create.param("RecordingChannels"),
        Some("dual"),
        "both sides apart, as inbound calls are recorded"
    );
    assert_eq!(
        create.param("Url"),
        Some(w.app.url("/webhook/outbound_call").as_str())
    );
    let row = w.row(&sid).await;
    assert_eq!(row.direction, "outbound-api");
    assert_eq!(row.business_id, Some(w.business_id));
    assert_eq!(row.to_number.as_deref(), Some("+972541112222"));

    let unauth = w
        .app
        .http
        .post(w.app.url("/api/calls"))
        .json(&serde_json::json!({"to": "054-1112222", "business_id": w.business_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    w.app.shutdown().await.unwrap();
}
