//! The fake REST API as the server's Twilio client meets it: Basic auth and Twilio's
//! 401 body, Calls update cutting into a live stream (the watchdog's fallback to
//! Record), recordings served behind auth, outbound calls, and message callbacks.

mod common;

use std::time::Duration;

use common::{ACCOUNT, Behaviour, TOKEN, VoiceServer, field, sim_config, tone_wav_16k};
use sim::{CallSpec, CallerScript, Sim, TimelineKind};
use telephony::media::StreamEvent;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn api(sim: &Sim, rest: &str) -> String {
    format!("{}/2010-04-01/Accounts/{ACCOUNT}/{rest}", sim.api_base())
}

#[tokio::test]
async fn wrong_credentials_get_twilios_401_json_and_are_logged() {
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let resp = client()
        .post(api(&sim, "Calls.json"))
        .basic_auth(ACCOUNT, Some("wrong-token"))
        .form(&[
            ("To", "+972501234567"),
            ("From", "+97231234567"),
            ("Url", "http://x/y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401})
    );
    let resp = client()
        .get(api(&sim, "Recordings.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let log = sim.rest_log();
    assert_eq!(log.len(), 2);
    assert!(!log[0].basic_auth_ok && !log[1].basic_auth_ok);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].param("To"), Some("+972501234567"));
    assert!(sim.calls().is_empty());
}

#[tokio::test]
async fn calls_update_interrupts_the_stream_and_runs_record_fallback() {
    let server = VoiceServer::start(Behaviour::default()).await;
    let sim = Sim::start(sim_config(2.0)).await.unwrap();
    // The caller waits for the fallback prompt and beep, leaves a message, then is silent.
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(10))
        .wav(tone_wav_16k(1000))
        .silence(Duration::from_secs(3))
        .hang_up();
    let call = sim
        .start_call(CallSpec::new(
            &server.base,
            "+972501234567",
            "+972541112222",
            script,
        ))
        .await
        .unwrap();
    let sid = call.call_sid().to_owned();
    for _ in 0..100 {
        if server.started() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(server.started());
    let b = &server.base;
    let fallback = format!(
        r#"<Response><Play>{b}/static/greeting.wav</Play><Record action="{b}/webhook/handle_recording" maxLength="30" timeout="1"/><Hangup/></Response>"#
    );
    let resp = client()
        .post(api(&sim, &format!("Calls/{sid}.json")))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("Twiml", fallback.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["sid"], sid.as_str());
    assert_eq!(json["status"], "in-progress");

    let report = call.finish().await;
    let text = report.print_timeline();
    assert!(report.is_clean(), "{text}");
    assert_eq!(
        report.entries(TimelineKind::RestUpdate).count(),
        1,
        "{text}"
    );
    // Twilio ended the stream with `stop`, and did not request the Connect action.
    assert!(matches!(
        server.seen().events.last().unwrap().1,
        StreamEvent::Stop(_)
    ));
    assert!(server.forms("stream_ended").is_empty());
    // Heard: the 0.5 s prompt and the 0.5 s beep.
    assert_eq!(report.heard_mulaw.len(), 8000, "{text}");

    let recs = server.forms("handle_recording");
    assert_eq!(recs.len(), 1, "{text}");
    let (form, signed) = &recs[0];
    assert!(signed);
    let url = field(form, "RecordingUrl").unwrap().to_owned();
    let rec_sid = field(form, "RecordingSid").unwrap();
    assert!(url.starts_with(&sim.api_base()) && url.ends_with(rec_sid));
    assert!(rec_sid.starts_with("RE"));
    assert_eq!(field(form, "RecordingDuration"), Some("1"));
    assert_eq!(field(form, "CallSid"), Some(sid.as_str()));
    assert_eq!(report.recordings.len(), 1);

    // The recording is served behind Basic auth, as a WAV of what the caller said.
    let resp = client()
        .get(&url)
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/x-wav");
    let wav = audio::wav::read(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(wav.sample_rate, 8000);
    let secs = wav.duration().as_secs_f64();
    assert!((0.95..=1.05).contains(&secs), "{secs}");
    let resp = client()
        .get(format!("{url}.wav"))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(client().get(&url).send().await.unwrap().status(), 401);
    let list: serde_json::Value = client()
        .get(api(&sim, &format!("Calls/{sid}/Recordings.json")))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["recordings"][0]["sid"], rec_sid);
    assert_eq!(list["recordings"][0]["duration"], "1");

    // Exactly one Calls update, carrying the fallback TwiML.
    let updates: Vec<_> = sim
        .rest_log()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with(&format!("Calls/{sid}.json")))
        .collect();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].param("Twiml"), Some(fallback.as_str()));
    assert!(updates[0].basic_auth_ok);

    // The call is over: a further update is Twilio's 404.
    let resp = client()
        .post(api(&sim, &format!("Calls/{sid}.json")))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("Twiml", "<Response><Hangup/></Response>")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 20404);
}

#[tokio::test]
async fn calls_create_rings_the_server_as_an_outbound_call() {
    let server = VoiceServer::start(Behaviour {
        greeting_ms: 400,
        ..Behaviour::default()
    })
    .await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    sim.set_callee_script(
        CallerScript::new()
            .wait_for_agent(Duration::from_secs(5))
            .hang_up(),
    );
    let b = &server.base;
    let resp = client()
        .post(api(&sim, "Calls.json"))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[
            ("To", "+972541112222"),
            ("From", "+972501234567"),
            ("Url", &format!("{b}/webhook/incoming_call")),
            ("StatusCallback", &format!("{b}/webhook/call_status")),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["status"], "queued");
    assert_eq!(json["direction"], "outbound-api");
    let sid = json["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("CA") && sid.len() == 34);
    let report = sim
        .wait_for_call(&sid, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());
    assert_eq!(report.marks_echoed, vec!["greeting"]);
    let (form, signed) = &server.forms("incoming_call")[0];
    assert!(signed);
    assert_eq!(field(form, "Direction"), Some("outbound-api"));
    assert_eq!(field(form, "CallStatus"), Some("in-progress"));
    assert_eq!(field(form, "To"), Some("+972541112222"));
    let statuses: Vec<String> = server
        .forms("call_status")
        .iter()
        .map(|(f, _)| field(f, "CallStatus").unwrap().to_owned())
        .collect();
    assert_eq!(statuses, vec!["initiated", "in-progress", "completed"]);
    let fetched: serde_json::Value = client()
        .get(api(&sim, &format!("Calls/{sid}.json")))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["status"], "completed");
    assert!(fetched["duration"].is_string());
}

#[tokio::test]
async fn messages_create_sends_signed_status_callbacks_in_order() {
    let server = VoiceServer::start(Behaviour::default()).await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let cb = format!("{}/webhook/message_status", server.base);
    let resp = client()
        .post(api(&sim, "Messages.json"))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[
            ("To", "whatsapp:+972541112222"),
            ("From", "whatsapp:+972501234567"),
            ("Body", "שלום! קיבלנו את הודעתך"),
            ("StatusCallback", cb.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["status"], "queued");
    let sid = json["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("SM"));
    // The sim records a callback once its answer is back, a moment after the receiver saw it.
    for _ in 0..100 {
        if server.forms("message_status").len() == 4
            && sim.messages().first().map(|m| m.callbacks.len()) == Some(4)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let callbacks = server.forms("message_status");
    let statuses: Vec<&str> = callbacks
        .iter()
        .map(|(f, _)| field(f, "MessageStatus").unwrap())
        .collect();
    assert_eq!(statuses, vec!["queued", "sent", "delivered", "read"]);
    assert!(
        callbacks
            .iter()
            .all(|(f, ok)| *ok && field(f, "MessageSid") == Some(sid.as_str()))
    );
    let msg = &sim.messages()[0];
    assert_eq!(msg.status, "read");
    assert_eq!(msg.callbacks.len(), 4);
    assert!(sim.errors().is_empty());

    let resp = client()
        .post(api(&sim, "Messages.json"))
        .basic_auth(ACCOUNT, Some(TOKEN))
        .form(&[("From", "whatsapp:+972501234567"), ("Body", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 21604);
}
