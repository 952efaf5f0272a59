//! Whole inbound calls through the sim against a small in-test voice server: the
//! signed webhook, the stream handshake and its pacing, the playback clock behind
//! mark echoes and clear, and the protocol errors a broken server must produce.

mod common;

use std::time::Duration;

use common::{Behaviour, VoiceServer, field, sim_config, tone_wav_16k};
use sim::{CallSpec, CallerScript, Sim, TimelineKind};
use telephony::media::{MarkFrame, StartFrame, StreamEvent};

const TO: &str = "+972501234567";
const FROM: &str = "+972541112222";

fn spec(server: &VoiceServer, script: CallerScript) -> CallSpec {
    CallSpec::new(&server.base, TO, FROM, script)
}

#[tokio::test]
async fn clean_call_is_signed_paced_and_echoes_marks_after_playback() {
    let server = VoiceServer::start(Behaviour {
        greeting_ms: 1000,
        reply: true,
        ..Behaviour::default()
    })
    .await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(5))
        .wav(tone_wav_16k(600))
        .wait_for_agent(Duration::from_secs(5))
        .hang_up();
    let report = sim.call(spec(&server, script)).await.unwrap();
    let text = report.print_timeline();
    assert!(report.is_clean(), "{text}");
    assert_eq!(report.final_status, "completed", "{text}");

    // The webhook is signed over the exact URL and carries Twilio's fields.
    let incoming = server.forms("incoming_call");
    assert_eq!(incoming.len(), 1);
    let (form, signed) = &incoming[0];
    assert!(signed, "incoming_call signature must validate");
    assert_eq!(field(form, "CallSid"), Some(report.call_sid.as_str()));
    assert_eq!(field(form, "AccountSid"), Some(common::ACCOUNT));
    assert_eq!(field(form, "ApiVersion"), Some("2010-04-01"));
    assert_eq!(field(form, "CallStatus"), Some("ringing"));
    assert_eq!(field(form, "Direction"), Some("inbound"));
    assert_eq!(field(form, "From"), Some(FROM));
    assert_eq!(field(form, "Caller"), Some(FROM));
    assert_eq!(field(form, "To"), Some(TO));
    assert_eq!(field(form, "Called"), Some(TO));
    assert_eq!(field(form, "ToCountry"), Some("IL"));
    assert!(report.call_sid.starts_with("CA") && report.call_sid.len() == 34);

    // The socket was opened offering Twilio's subprotocol.
    assert_eq!(
        server.seen().subprotocol.as_deref(),
        Some("audio.twilio.com")
    );
    assert!(report.socket_open.is_some());

    {
        let seen = server.seen();
        let events: Vec<&StreamEvent<'_>> = seen.events.iter().map(|e| &e.1).collect();
        assert!(matches!(events[0], StreamEvent::Connected(_)));
        let StreamEvent::Start(StartFrame {
            start, stream_sid, ..
        }) = events[1]
        else {
            panic!("second event is not start: {:?}", events[1]);
        };
        assert!(stream_sid.starts_with("MZ"));
        assert_eq!(Some(stream_sid), report.stream_sid.as_ref());
        assert_eq!(start.call_sid, report.call_sid);
        assert_eq!(start.account_sid, common::ACCOUNT);
        assert_eq!(start.tracks, vec!["inbound".to_string()]);
        assert_eq!(start.media_format.encoding, "audio/x-mulaw");
        assert_eq!(start.media_format.sample_rate, 8000);
        assert_eq!(
            start.custom_parameters.get("call_id").map(String::as_str),
            Some("42")
        );
        assert_eq!(
            start.custom_parameters.get("token").map(String::as_str),
            Some("tok-123")
        );
        assert!(matches!(events.last(), Some(StreamEvent::Stop(_))));

        // Media: 160-byte frames at ~50 per second.
        let media: Vec<_> = seen
            .events
            .iter()
            .filter_map(|(at, e)| match e {
                StreamEvent::Media(media) => Some((*at, media.decode().unwrap().len())),
                _ => None,
            })
            .collect();
        assert!(media.iter().all(|m| m.1 == 160));
        assert!(media.len() > 100, "{}", media.len());
        let span = media.last().unwrap().0 - media[0].0;
        let rate = (media.len() - 1) as f64 / span.as_secs_f64();
        assert!((45.0..=55.0).contains(&rate), "frames per second {rate}");
        assert_eq!(report.media_frames_sent as usize, media.len());

        // The greeting mark came back only once its second of audio had played.
        let sent = seen
            .marks_sent
            .iter()
            .find(|m| m.1 == "greeting")
            .unwrap()
            .0;
        let echoed = seen
            .events
            .iter()
            .find_map(|(at, e)| match e {
                StreamEvent::Mark(MarkFrame { mark, .. }) if mark.name == "greeting" => Some(*at),
                _ => None,
            })
            .expect("greeting mark echoed");
        let waited = echoed - sent;
        assert!(
            waited >= Duration::from_millis(950) && waited < Duration::from_millis(1400),
            "mark echoed after {waited:?}"
        );
    }
    assert_eq!(report.marks_echoed, vec!["greeting", "reply-1"]);

    // The caller heard the greeting and the reply, and the reply's latency is measured.
    let heard = report.heard_duration().as_millis();
    assert!((1250..=1350).contains(&heard), "heard {heard} ms");
    assert_eq!(report.turn_latencies.len(), 1);
    let latency = report.turn_latencies[0];
    assert!(
        latency >= Duration::from_millis(250) && latency < Duration::from_secs(1),
        "{latency:?}"
    );
    assert_eq!(report.entries(TimelineKind::CallerTurnStart).count(), 1);

    // Status callbacks, signed and in order; the stream's own callbacks too.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let statuses: Vec<(String, bool)> = server
        .forms("call_status")
        .iter()
        .map(|(f, ok)| (field(f, "CallStatus").unwrap().to_owned(), *ok))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("ringing".to_string(), true),
            ("in-progress".to_string(), true),
            ("completed".to_string(), true)
        ]
    );
    let completed = &server.forms("call_status")[2].0;
    assert!(
        field(completed, "CallDuration")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 2
    );
    let stream_events: Vec<String> = server
        .forms("stream_status")
        .iter()
        .map(|(f, _)| field(f, "StreamEvent").unwrap().to_owned())
        .collect();
    assert_eq!(stream_events, vec!["stream-started", "stream-stopped"]);
    // The caller hung up: Twilio does not request the Connect action.
    assert!(server.forms("stream_ended").is_empty());
    assert!(text.contains("reply latency per turn"));
    let wav = audio::wav::read(&report.heard_wav()).unwrap();
    assert_eq!(wav.sample_rate, 8000);
    // The conversation track spans the call in real time, both voices in it.
    let sent = report.media_frames_sent as usize * 160;
    let conv = report.conversation_mulaw.len();
    assert!(conv >= sent && conv <= sent + 1600, "{conv} vs {sent}");
    let conv_wav = audio::wav::read(&report.conversation_wav()).unwrap();
    assert_eq!(conv_wav.samples.len(), conv);
}

#[tokio::test]
async fn clear_empties_playback_and_returns_pending_marks_at_once() {
    let server = VoiceServer::start(Behaviour {
        greeting_ms: 3000,
        clear_after: Some(Duration::from_millis(500)),
        ..Behaviour::default()
    })
    .await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    // The caller talks over the greeting (barge-in), then hangs up.
    let script = CallerScript::new()
        .silence(Duration::from_millis(200))
        .wav(tone_wav_16k(300))
        .silence(Duration::from_millis(800))
        .hang_up();
    let report = sim.call(spec(&server, script)).await.unwrap();
    let text = report.print_timeline();
    assert!(report.is_clean(), "{text}");
    assert_eq!(report.clears, 1);
    assert_eq!(report.marks_echoed, vec!["greeting"]);
    let heard = report.heard_duration().as_millis();
    assert!((350..=800).contains(&heard), "heard {heard} ms: {text}");
    let seen = server.seen();
    let clear = seen.clear_sent.unwrap();
    let echoed = seen
        .events
        .iter()
        .find_map(|(at, e)| matches!(e, StreamEvent::Mark(_)).then_some(*at))
        .unwrap();
    assert!(
        echoed - clear < Duration::from_millis(150),
        "{:?}",
        echoed - clear
    );
    assert!(
        report
            .entries(TimelineKind::CallerTurnStart)
            .any(|e| e.detail.contains("barge-in")),
        "{text}"
    );
}

#[tokio::test]
async fn wrong_stream_sid_is_31951() {
    let server = VoiceServer::start(Behaviour {
        wrong_sid: true,
        greeting_ms: 200,
        ..Behaviour::default()
    })
    .await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let script = CallerScript::new()
        .silence(Duration::from_millis(600))
        .hang_up();
    let report = sim.call(spec(&server, script)).await.unwrap();
    assert_eq!(
        report.errors_with(31951).len(),
        1,
        "{}",
        report.print_timeline()
    );
    assert_eq!(report.protocol_errors.len(), 1);
    // The misaddressed audio was not played; the real greeting was.
    assert_eq!(report.heard_mulaw.len(), 1600);
}

#[tokio::test]
async fn relative_url_is_11100_and_play_fetches_real_audio() {
    let server = VoiceServer::start(Behaviour {
        relative_play: true,
        ..Behaviour::default()
    })
    .await;
    let sim = Sim::start(sim_config(4.0)).await.unwrap();
    let script = CallerScript::new()
        .silence(Duration::from_millis(500))
        .hang_up();
    let report = sim.call(spec(&server, script)).await.unwrap();
    let errs = report.errors_with(11100);
    assert_eq!(errs.len(), 1, "{}", report.print_timeline());
    assert!(errs[0].message.contains("/static/greeting.wav"));
    // Resolved against the document so the rest of the call can be observed.
    assert_eq!(report.heard_mulaw.len(), 4000);
}

#[tokio::test]
async fn failing_webhook_is_11200_and_the_call_fails() {
    let server = VoiceServer::start(Behaviour {
        incoming_status: Some(500),
        ..Behaviour::default()
    })
    .await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let report = sim
        .call(spec(&server, CallerScript::new().hang_up()))
        .await
        .unwrap();
    assert_eq!(report.errors_with(11200).len(), 1);
    assert_eq!(report.final_status, "failed");
    assert!(server.seen().events.is_empty());
}

#[tokio::test]
async fn server_closing_the_socket_requests_the_connect_action() {
    let server = VoiceServer::start(Behaviour {
        greeting_ms: 300,
        close_after_greeting: true,
        ..Behaviour::default()
    })
    .await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let report = sim
        .call(spec(
            &server,
            CallerScript::new().max_duration(Duration::from_secs(10)),
        ))
        .await
        .unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());
    let ended = server.forms("stream_ended");
    assert_eq!(ended.len(), 1);
    assert!(ended[0].1, "the action request is signed");
    assert_eq!(report.final_status, "completed");
    assert!(report.duration < Duration::from_secs(3));
}

#[tokio::test]
async fn misbehaving_callers_dtmf_stopped_media_and_cut_sentence() {
    let server = VoiceServer::start(Behaviour::default()).await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let script = CallerScript::new()
        .dtmf('*')
        .silence(Duration::from_millis(1200))
        .hang_up()
        .stop_media_after(Duration::from_millis(400));
    let report = sim.call(spec(&server, script)).await.unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());
    {
        let seen = server.seen();
        let frames = seen
            .events
            .iter()
            .filter(|e| matches!(e.1, StreamEvent::Media(_)))
            .count();
        assert!(
            (15..=25).contains(&frames),
            "{frames} frames before media stopped"
        );
        assert!(
            seen.events
                .iter()
                .any(|e| matches!(&e.1, StreamEvent::Dtmf(d) if d.dtmf.digit == "*"))
        );
        assert!(matches!(
            seen.events.last().unwrap().1,
            StreamEvent::Stop(_)
        ));
    }

    let server = VoiceServer::start(Behaviour::default()).await;
    let script = CallerScript::new()
        .say_and_hang_up_after("שלום, אני רוצה לקבוע תור למחר", Duration::from_millis(400));
    let report = sim.call(spec(&server, script)).await.unwrap();
    assert!(
        report
            .entries(TimelineKind::CallerTurnEnd)
            .any(|e| e.detail.contains("cut off")),
        "{}",
        report.print_timeline()
    );
    assert!(
        (18..=22).contains(&report.media_frames_sent),
        "{}",
        report.media_frames_sent
    );
}

#[tokio::test]
async fn a_socket_that_never_connects_fails_31920_and_posts_the_action() {
    let server = VoiceServer::start(Behaviour::default()).await;
    let sim = Sim::start(sim_config(16.0)).await.unwrap();
    let script = CallerScript::new().never_connect_socket();
    let report = sim.call(spec(&server, script)).await.unwrap();
    assert_eq!(
        report.errors_with(31920).len(),
        1,
        "{}",
        report.print_timeline()
    );
    assert!(server.seen().subprotocol.is_none());
    let statuses: Vec<String> = server
        .forms("stream_status")
        .iter()
        .map(|(f, _)| field(f, "StreamEvent").unwrap().to_owned())
        .collect();
    assert_eq!(statuses, vec!["stream-error"]);
    assert_eq!(server.forms("stream_ended").len(), 1);
}

#[tokio::test]
async fn malformed_and_early_messages_are_flagged() {
    let server = VoiceServer::start(Behaviour {
        malformed: true,
        early: true,
        ..Behaviour::default()
    })
    .await;
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let script = CallerScript::new()
        .silence(Duration::from_millis(300))
        .hang_up();
    let report = sim.call(spec(&server, script)).await.unwrap();
    let text = report.print_timeline();
    assert_eq!(report.errors_with(31924).len(), 2, "{text}");
    assert_eq!(report.messages_before_start, 1, "{text}");
    assert!(!report.is_clean());
}

#[tokio::test]
async fn rest_call_recording_captures_both_voices_after_the_call() {
    let sim = Sim::start(sim_config(1.0)).await.unwrap();
    let server = VoiceServer::start(Behaviour {
        greeting_ms: 400,
        record_call_via: Some(sim.api_base()),
        ..Behaviour::default()
    })
    .await;
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(5))
        .wav(tone_wav_16k(500))
        .silence(Duration::from_millis(200))
        .hang_up();
    let report = sim.call(spec(&server, script)).await.unwrap();
    assert!(report.is_clean(), "{}", report.print_timeline());
    assert_eq!(report.recordings.len(), 1);
    let rec = &report.recordings[0];
    assert_eq!(rec.source, "StartCallRecordingAPI");
    let secs = rec.duration.as_secs_f64();
    assert!((1.3..=2.0).contains(&secs), "{secs}");
    let wav = audio::wav::read(&sim.recording_wav(&rec.sid).unwrap()).unwrap();
    assert_eq!(wav.duration(), rec.duration);
    let cb = server.forms("recording_status");
    assert_eq!(cb.len(), 1);
    assert!(cb[0].1);
    assert_eq!(field(&cb[0].0, "RecordingSid"), Some(rec.sid.as_str()));
    assert_eq!(field(&cb[0].0, "RecordingStatus"), Some("completed"));
}
