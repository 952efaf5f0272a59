//! Whole calls over the Realtime engine (#18.1, #18.3; V6, V7, V8, V12): the sim plays
//! Twilio and a local stand-in plays OpenAI's Realtime service, following its published
//! events. A Hebrew call with stored turns and timings, the greeting at once, barge-in
//! truncated at the millisecond the caller heard, a function whose result goes back to the
//! model, the service failing mid-call, and a refused key.

mod common;

use std::time::Duration;

use common::realtime::{Fault, KEY, Realtime, Reply, VOICE_BYTE};
use common::twilio::{ACCOUNT_SID, AUTH_TOKEN};
use common::{Backend, TestApp};
use sim::{CallSpec, CallerScript, Sim, SimConfig, TimelineKind};

const NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";
const BUSINESS: &str = "מרפאת השיניים של ד\"ר לוי";

struct World {
    app: TestApp,
    sim: Sim,
    rt: Realtime,
}

async fn world(backend: Backend, replies: Vec<Reply>, fault: Fault) -> World {
    let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
        .await
        .unwrap();
    let rt = Realtime::start(replies, fault).await;
    let api = sim.api_base();
    let mut vars: Vec<(&str, String)> = vec![
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.into()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()),
        ("TWILIO_API_BASE", api),
        ("MOKDAN_WATCHDOG_START_SECS", "2".into()),
        ("MOKDAN_WATCHDOG_MEDIA_SECS", "1.5".into()),
    ];
    vars.extend(rt.env());
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(backend, &vars).await;
    let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
    mokdan::store::businesses::create(&app.state.db, BUSINESS, &phone)
        .await
        .unwrap();
    // As at start-up for every business: the greeting is cached before the first call.
    mokdan::calls::conversation::prewarm_all(app.state.calls.clone()).await;
    World { app, sim, rt }
}

impl World {
    fn spec(&self, script: CallerScript) -> CallSpec {
        CallSpec::new(self.app.base.clone(), NUMBER, CALLER, script)
    }

    fn redirects(&self, call_sid: &str) -> usize {
        self.sim
            .rest_log()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/Calls/{call_sid}.json")))
            .count()
    }

    async fn turns(
        &self,
        call_sid: &str,
    ) -> Vec<(
        String,
        String,
        String,
        i64,
        Option<i64>,
        Option<i64>,
        Option<String>,
    )> {
        sqlx::query_as(
            "SELECT COALESCE(caller_text, ''), COALESCE(agent_text, ''), COALESCE(heard_text, ''), \
             barged_in, tts_first_audio_ms, first_frame_out_ms, tool_calls \
             FROM call_turns WHERE call_sid = $1 ORDER BY turn_index",
        )
        .bind(call_sid)
        .fetch_all(&self.app.state.db.pool)
        .await
        .unwrap()
    }

    async fn fallback_reason(&self, call_sid: &str) -> Option<String> {
        mokdan::store::calls::by_sid(&self.app.state.db, call_sid)
            .await
            .unwrap()
            .expect("call row")
            .fallback_reason
    }
}

fn reply(heard: &str, transcript: &str, audio_ms: u32) -> Reply {
    Reply {
        heard: heard.into(),
        transcript: transcript.into(),
        audio_ms,
        tool: None,
    }
}

/// From the stream's `start` to the first agent audio the caller hears.
fn greeting_delay(report: &sim::CallReport) -> Duration {
    let start = report
        .entries(TimelineKind::Stream)
        .find(|e| e.detail.contains("start"))
        .expect("stream start")
        .at;
    let audio = report
        .entries(TimelineKind::AgentAudio)
        .next()
        .expect("agent audio")
        .at;
    audio.saturating_sub(start)
}

/// Milliseconds of the stand-in's voice the caller heard (whole frames of its byte).
fn voice_heard_ms(report: &sim::CallReport) -> u32 {
    report
        .heard_mulaw
        .chunks(160)
        .filter(|f| f.len() == 160 && f.iter().all(|&b| b == VOICE_BYTE))
        .count() as u32
        * 20
}

async fn a_whole_hebrew_call_is_speech_to_speech(backend: Backend) {
    let w = world(
        backend,
        vec![
            reply("שלום, שמי דנה כהן", "נעים מאוד דנה. במה אפשר לעזור?", 1200),
            reply("אני רוצה לקבוע תור", "בשמחה. מתי נוח לך?", 1000),
        ],
        Fault::None,
    )
    .await;
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(15))
        .say("שלום, קוראים לי דנה כהן")
        .wait_for_agent(Duration::from_secs(15))
        .say("אני רוצה לקבוע תור")
        .wait_for_agent(Duration::from_secs(15))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert!(
        report.is_clean(),
        "{:?}\n{}",
        report.protocol_errors,
        report.print_timeline()
    );
    // The cached greeting starts at once, while the socket opens.
    let greeting = greeting_delay(&report);
    assert!(
        greeting <= Duration::from_millis(300),
        "greeting after {greeting:?}\n{}",
        report.print_timeline()
    );
    // The model's mu-law reached the caller unchanged, both replies whole.
    assert_eq!(voice_heard_ms(&report), 2200, "{}", report.print_timeline());
    assert_eq!(
        w.redirects(&report.call_sid),
        0,
        "a healthy call is never redirected"
    );

    // The session: the business's Hebrew instructions, mu-law both ways, Hebrew
    // transcription, the voice, semantic turn detection, the tools; then the greeting.
    let update = &w.rt.events("session.update")[0]["session"];
    assert_eq!(update["type"], "realtime");
    assert_eq!(update["audio"]["input"]["format"]["type"], "audio/pcmu");
    assert_eq!(update["audio"]["output"]["format"]["type"], "audio/pcmu");
    assert_eq!(update["audio"]["output"]["voice"], "marin");
    assert_eq!(
        update["audio"]["input"]["transcription"]["model"],
        "gpt-4o-transcribe"
    );
    assert_eq!(update["audio"]["input"]["transcription"]["language"], "he");
    assert_eq!(
        update["audio"]["input"]["turn_detection"]["type"],
        "semantic_vad"
    );
    let instructions = update["instructions"].as_str().unwrap();
    assert!(instructions.contains(BUSINESS), "{instructions}");
    assert!(instructions.contains("שעון ישראל"), "{instructions}");
    assert_eq!(update["tools"].as_array().unwrap().len(), 4);
    let said = &w.rt.events("conversation.item.create")[0]["item"];
    assert_eq!(said["role"], "assistant");
    assert!(
        said["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("שלום"),
        "{said}"
    );

    // Each turn stored: the caller's transcript, the agent's, and the timings.
    let turns = w.turns(&report.call_sid).await;
    let replies: Vec<_> = turns.iter().filter(|t| !t.0.is_empty()).collect();
    assert_eq!(replies.len(), 2, "{turns:?}");
    assert_eq!(replies[0].0, "שלום, שמי דנה כהן");
    assert_eq!(replies[0].1, "נעים מאוד דנה. במה אפשר לעזור?");
    assert_eq!(replies[0].2, replies[0].1, "heard whole");
    assert_eq!(replies[1].1, "בשמחה. מתי נוח לך?");
    for t in &replies {
        let (audio, frame) = (t.4.expect("first audio"), t.5.expect("first frame"));
        assert!(audio >= 250 && frame >= audio, "{t:?}");
    }
    w.app.shutdown().await.unwrap();
}
dual_test!(a_whole_hebrew_call_is_speech_to_speech);

async fn barge_in_truncates_at_the_heard_millisecond(backend: Backend) {
    let w = world(
        backend,
        vec![reply(
            "מה שעות הפתיחה?",
            "אנחנו פתוחים בימים ראשון עד חמישי משמונה בבוקר עד שש בערב, ובימי שישי משמונה עד אחת בצהריים, ובשבת סגור.",
            6000,
        )],
        Fault::None,
    )
    .await;
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(15))
        .say("מה שעות הפתיחה?")
        .wait_for_agent_speech(Duration::from_millis(1500), Duration::from_secs(15))
        .say("רגע, סליחה, רק בשישי")
        .silence(Duration::from_secs(2))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert!(
        report.is_clean(),
        "{:?}\n{}",
        report.protocol_errors,
        report.print_timeline()
    );
    assert!(report.clears >= 1, "{}", report.print_timeline());
    assert_eq!(
        w.rt.events("response.cancel").len(),
        1,
        "the reply was still being generated"
    );
    let truncates = w.rt.events("conversation.item.truncate");
    assert_eq!(truncates.len(), 1, "{truncates:?}");
    let t = &truncates[0];
    assert_eq!(t["content_index"], 0);
    let said = t["audio_end_ms"].as_u64().unwrap() as i64;
    let heard = i64::from(voice_heard_ms(&report));
    assert!(
        heard > 1000 && heard < 6000,
        "heard {heard} ms\n{}",
        report.print_timeline()
    );
    eprintln!("truncated at {said} ms, the caller heard {heard} ms");
    // The sim counts a frame as heard when it starts playing, and keeps playing until the
    // `clear` arrives: the truncation (the end of the frame playing when the caller's speech
    // was detected) is that frame, or one frame behind when the clear's way to Twilio
    // crossed into the next.
    assert!(
        said <= heard && heard - said <= 20,
        "truncated at {said} ms, the caller heard {heard} ms"
    );
    // The stored transcript keeps only what was heard.
    let turns = w.turns(&report.call_sid).await;
    let cut = turns.iter().find(|t| t.3 == 1).expect("a barged-in turn");
    assert!(
        cut.1.starts_with(&cut.2) && cut.2.len() < cut.1.len() && !cut.2.is_empty(),
        "{cut:?}"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(barge_in_truncates_at_the_heard_millisecond);

async fn a_tool_returns_its_result_to_the_model(backend: Backend) {
    let w = world(
        backend,
        vec![
            Reply {
                tool: Some(("request_callback".into(), r#"{"when":"מחר בעשר"}"#.into())),
                ..reply("תחזרו אליי מחר בעשר", "רשמתי, נחזור אלייך מחר בעשר.", 800)
            },
            Reply {
                tool: Some(("request_callback".into(), "{}".into())),
                ..reply(
                    "ואולי גם ביום שני",
                    "סליחה, לא הצלחתי לרשום. נחזור אלייך מחר.",
                    800,
                )
            },
        ],
        Fault::None,
    )
    .await;
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(15))
        .say("תחזרו אליי מחר בעשר")
        .wait_for_agent(Duration::from_secs(15))
        .say("ואולי גם ביום שני")
        .wait_for_agent(Duration::from_secs(15))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert!(
        report.is_clean(),
        "{:?}\n{}",
        report.protocol_errors,
        report.print_timeline()
    );
    // The result went back to the model, then a response was asked for.
    let items = w.rt.events("conversation.item.create");
    let outputs: Vec<_> = items
        .iter()
        .filter(|i| i["item"]["type"] == "function_call_output")
        .collect();
    assert_eq!(outputs.len(), 2, "{items:?}");
    let first: serde_json::Value =
        serde_json::from_str(outputs[0]["item"]["output"].as_str().unwrap()).unwrap();
    assert_eq!(first["ok"], true, "{first}");
    let second: serde_json::Value =
        serde_json::from_str(outputs[1]["item"]["output"].as_str().unwrap()).unwrap();
    assert_eq!(
        second["ok"], false,
        "a bad call comes back as an error: {second}"
    );
    assert!(
        outputs[0]["item"]["call_id"]
            .as_str()
            .unwrap()
            .starts_with("call_")
    );
    assert_eq!(w.rt.events("response.create").len(), 2);
    // The spoken results were heard, and the action was carried out.
    assert_eq!(voice_heard_ms(&report), 1600, "{}", report.print_timeline());
    let (when,): (Option<String>,) =
        sqlx::query_as("SELECT callback_time FROM call_logs WHERE call_sid = $1")
            .bind(&report.call_sid)
            .fetch_one(&w.app.state.db.pool)
            .await
            .unwrap();
    assert_eq!(when.as_deref(), Some("מחר בעשר"));
    // Tool calls and results are stored with their turns.
    let turns = w.turns(&report.call_sid).await;
    let tools: Vec<serde_json::Value> = turns
        .iter()
        .filter_map(|t| t.6.as_deref())
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    assert_eq!(tools.len(), 2, "{turns:?}");
    assert_eq!(tools[0][0]["name"], "request_callback");
    assert_eq!(tools[0][0]["ok"], true);
    assert_eq!(tools[1][0]["ok"], false);
    assert!(
        turns.iter().any(|t| t.1 == "רשמתי, נחזור אלייך מחר בעשר."),
        "{turns:?}"
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(a_tool_returns_its_result_to_the_model);

/// The service fails at the caller's second turn: the apology plays, then one redirect to
/// the recording fallback, whose recording is kept.
async fn failing_mid_call(backend: Backend, fault: Fault) {
    let w = world(
        backend,
        vec![reply("שלום", "שלום, במה אפשר לעזור?", 800)],
        fault,
    )
    .await;
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(15))
        .say("שלום")
        .wait_for_agent(Duration::from_secs(15))
        .say("אני רוצה לקבוע תור")
        .wait_for_agent(Duration::from_secs(15))
        .silence(Duration::from_secs(8))
        .say("זו הודעה, תחזרו אליי")
        .silence(Duration::from_secs(2))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert_eq!(
        w.redirects(&report.call_sid),
        1,
        "exactly one fallback\n{}",
        report.print_timeline()
    );
    assert_eq!(
        w.fallback_reason(&report.call_sid).await.as_deref(),
        Some("agent_failure")
    );
    // Not silence: agent audio (the apology) between the caller's turn and the redirect.
    let turn_end = report
        .entries(TimelineKind::CallerTurnEnd)
        .nth(1)
        .expect("second turn")
        .at;
    let redirect = report
        .entries(TimelineKind::RestUpdate)
        .next()
        .expect("the redirect")
        .at;
    assert!(
        report
            .agent_media_at
            .iter()
            .any(|at| *at > turn_end && *at < redirect),
        "the apology plays before the fallback\n{}",
        report.print_timeline()
    );
    w.app.shutdown().await.unwrap();
}

async fn a_close_mid_call_apologises_and_falls_back_once(backend: Backend) {
    failing_mid_call(backend, Fault::CloseAfter(1)).await
}
dual_test!(a_close_mid_call_apologises_and_falls_back_once);

async fn an_error_event_apologises_and_falls_back_once(backend: Backend) {
    failing_mid_call(backend, Fault::ErrorAfter(1)).await
}
dual_test!(an_error_event_apologises_and_falls_back_once);

async fn a_refused_key_shows_in_readyz_and_the_call_falls_back(backend: Backend) {
    let w = world(backend, Vec::new(), Fault::RefuseKey).await;
    let ready: serde_json::Value = w.app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["engine"], "realtime", "{ready}");
    assert_eq!(ready["realtime"], "unauthorized", "{ready}");
    assert!(!ready.to_string().contains(KEY), "the key never shows");
    let script = CallerScript::new()
        .silence(Duration::from_secs(10))
        .say("זו הודעה, תחזרו אליי")
        .silence(Duration::from_secs(2))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert_eq!(
        w.redirects(&report.call_sid),
        1,
        "exactly one fallback\n{}",
        report.print_timeline()
    );
    assert!(
        report.heard_duration() > Duration::from_secs(1),
        "the greeting and the apology, not silence\n{}",
        report.print_timeline()
    );
    w.app.shutdown().await.unwrap();
}
dual_test!(a_refused_key_shows_in_readyz_and_the_call_falls_back);

/// Every client event mokdan sends (a call with a function, a barge-in and audio) checked
/// against OpenAI's own Python SDK types (`openai.types.realtime.RealtimeClientEvent`,
/// with pydantic, and no field the SDK does not know). scripts/test.sh installs the SDK
/// and sets `MOKDAN_OPENAI_PYTHON`; without it this test says so and passes.
async fn every_client_event_matches_openais_sdk_types(backend: Backend) {
    let Some(python) = std::env::var_os("MOKDAN_OPENAI_PYTHON") else {
        eprintln!(
            "skipped: MOKDAN_OPENAI_PYTHON is not set (scripts/test.sh installs OpenAI's Python SDK)"
        );
        return;
    };
    let w = world(
        backend,
        vec![
            Reply {
                tool: Some(("request_callback".into(), r#"{"when":"מחר בעשר"}"#.into())),
                ..reply("תחזרו אליי מחר בעשר", "רשמתי, נחזור אלייך מחר בעשר.", 600)
            },
            reply(
                "ומה השעות?",
                "אנחנו פתוחים בימים ראשון עד חמישי משמונה עד שש.",
                5000,
            ),
        ],
        Fault::None,
    )
    .await;
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(15))
        .say("תחזרו אליי מחר בעשר")
        .wait_for_agent(Duration::from_secs(15))
        .say("ומה השעות?")
        .wait_for_agent_speech(Duration::from_millis(1000), Duration::from_secs(15))
        .say("רגע, סליחה")
        .silence(Duration::from_secs(2))
        .hang_up()
        .max_duration(Duration::from_secs(60));
    let report = w.sim.call(w.spec(script)).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.protocol_errors);
    let events = w.rt.received.lock().unwrap().clone();
    let kinds: std::collections::BTreeSet<&str> =
        events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in [
        "session.update",
        "input_audio_buffer.append",
        "conversation.item.create",
        "response.create",
        "response.cancel",
        "conversation.item.truncate",
    ] {
        assert!(kinds.contains(kind), "{kind} was sent: {kinds:?}");
    }
    common::realtime::assert_sdk_accepts(&python, &events);
    w.app.shutdown().await.unwrap();
}
dual_test!(every_client_event_matches_openais_sdk_types);
