//! The turn loop driven like a real call: espeak-ng Hebrew as the caller's voice, the
//! espeak-ng voice and the scripted agent as providers, OpenAI providers against local
//! stand-in servers where a provider must fail or stream slowly. Only speech-to-text is
//! an in-test implementation (it recognises the test's own known phrases).

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use common::{Call, audio_bytes, caller_says, play_time, speech_pcm};
use futures::StreamExt;
use serde_json::json;
use voice::agent::ScriptedAgent;
use voice::openai::{OpenAiAgent, OpenAiConfig, OpenAiTts};
use voice::session::{
    self, APOLOGY, GOODBYE, Providers, SILENCE_GOODBYE, SILENCE_PROMPT, SessionConfig,
    SessionInput, SessionOutput,
};
use voice::tts::espeak::EspeakTts;
use voice::{AgentAction, AgentContext, ProviderError, SpeechToText, Transcript};

/// Recognises the test's known phrases by the shape of their loudness over time.
struct KnownPhrases {
    phrases: Vec<(Vec<f32>, String)>,
}

fn envelope(pcm: &[i16]) -> Vec<f32> {
    pcm.chunks(160)
        .map(|c| (c.iter().map(|&s| f32::from(s).powi(2)).sum::<f32>() / c.len() as f32).sqrt())
        .collect()
}

/// The envelope from the first to the last loud frame.
fn voiced(env: &[f32]) -> &[f32] {
    let loud = |x: &f32| *x > 300.0;
    match (env.iter().position(loud), env.iter().rposition(loud)) {
        (Some(a), Some(b)) => &env[a..=b],
        _ => &[],
    }
}

/// Similarity of two utterances: envelope correlation from their onsets, scaled by how
/// close their voiced lengths are.
fn similarity(a: &[f32], b: &[f32]) -> f32 {
    let (a, b) = (voiced(a), voiced(b));
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    let dot: f32 = a[..n].iter().zip(&b[..n]).map(|(x, y)| x * y).sum();
    let corr = dot / (norm(&a[..n]) * norm(&b[..n]));
    corr * n as f32 / a.len().max(b.len()) as f32
}

impl KnownPhrases {
    async fn new(texts: &[&str]) -> Self {
        let mut phrases = Vec::new();
        for t in texts {
            phrases.push((envelope(&speech_pcm(t).await), t.to_string()));
        }
        Self { phrases }
    }
}

#[async_trait]
impl SpeechToText for KnownPhrases {
    async fn transcribe(&self, pcm: &[i16], language: &str) -> Result<Transcript, ProviderError> {
        assert_eq!(language, "he");
        let env = envelope(pcm);
        let (score, text) = self
            .phrases
            .iter()
            .map(|(e, t)| (similarity(e, &env), t))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap();
        Ok(Transcript {
            text: text.clone(),
            confidence: Some(score),
        })
    }
    fn name(&self) -> &'static str {
        "known-phrases"
    }
}

fn ctx() -> AgentContext {
    AgentContext {
        business_name: "מספרת רותי".into(),
        ..Default::default()
    }
}

fn local(stt: Option<Arc<dyn SpeechToText>>) -> Providers {
    Providers {
        stt,
        tts: Arc::new(EspeakTts::new()),
        agent: Arc::new(ScriptedAgent::new()),
    }
}

fn cfg() -> SessionConfig {
    SessionConfig {
        provider_timeout: Duration::from_secs(20),
        // Real time passes in these tests; no caller is silent for this long.
        silence_prompt_after: Duration::from_secs(600),
        silence_hangup_after: Duration::from_secs(900),
        ..Default::default()
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

fn actions(outputs: &[SessionOutput]) -> Vec<AgentAction> {
    outputs
        .iter()
        .filter_map(|o| match o {
            SessionOutput::Action(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_greeting_plays_first_and_is_cached_for_the_next_call() {
    let providers = local(None);
    let greeting = "שלום, הגעתם למספרת רותי. מה השם שלך?";
    let mut call = Call::new(session::spawn(cfg(), providers.clone(), ctx()));
    let first = call.next().await.unwrap();
    assert!(
        matches!(&first, SessionOutput::Audio { utterance: 1, mulaw } if mulaw.len() % 160 == 0),
        "{first:?}"
    );
    let (seen, record) = call.until_turn().await;
    assert_eq!(record.agent_text, greeting);
    assert_eq!(record.heard_text, greeting);
    assert!(record.first_frame_out_ms.is_some());
    let bytes = audio_bytes(&call.log);
    assert!(
        bytes >= 8000,
        "at least a second of greeting, got {bytes} bytes"
    );
    assert!(seen.contains(&SessionOutput::UtteranceEnd { utterance: 1 }));
    assert!(session::is_cached(providers.tts.as_ref(), greeting));

    // A second call gets the same audio from the cache.
    let mut again = Call::new(session::spawn(cfg(), providers, ctx()));
    again.until_turn().await;
    assert_eq!(audio_bytes(&again.log), bytes);
    again.h.input.send(SessionInput::Hangup).await.unwrap();
    let rest = again.rest().await;
    assert_eq!(
        rest.last(),
        Some(&SessionOutput::End {
            reason: "hangup".into()
        })
    );
}

#[tokio::test]
async fn a_full_intake_with_speech_to_text_saves_details_and_ends() {
    let answers = [
        "דנה כהן",
        "אני רוצה לקבוע תור לתספורת",
        "מחר בבוקר בשעה עשר",
        "כן, נכון",
    ];
    let stt = KnownPhrases::new(&answers).await;
    let mut call = Call::new(session::spawn(cfg(), local(Some(Arc::new(stt))), ctx()));
    call.until_turn().await; // greeting
    for answer in answers {
        call.say(&caller_says(answer).await).await;
        let (_, record) = call.until_turn().await;
        assert_eq!(record.caller_text, answer);
        assert!(!record.barged_in);
        // The caller's own voice is kept beside the transcript, for the owner to hear (#22).
        let kept = record
            .caller_audio
            .as_ref()
            .expect("the answer's audio is kept");
        assert!(
            kept.len() > 8000 / 4,
            "at least a quarter second of the answer"
        );
        let (s, l, t, f) = (
            record.stt_ms.unwrap(),
            record.llm_first_token_ms.unwrap(),
            record.tts_first_audio_ms.unwrap(),
            record.first_frame_out_ms.unwrap(),
        );
        assert!(s <= l && l <= t && t <= f, "{record:?}");
    }
    let turns = call.turns();
    assert!(
        turns[3]
            .agent_text
            .starts_with("רק לוודא שרשמתי נכון: דנה כהן"),
        "{:?}",
        turns[3]
    );
    let rest = call.rest().await;
    assert_eq!(
        actions(&call.log),
        vec![
            AgentAction::SaveDetails {
                name: Some("דנה כהן".into()),
                reason: Some("אני רוצה לקבוע תור לתספורת".into()),
                callback_time: Some("מחר בבוקר בשעה עשר".into()),
                urgency: None,
            },
            AgentAction::EndCall
        ]
    );
    let goodbye = call.turns().last().unwrap().clone();
    assert_eq!(goodbye.agent_text, GOODBYE);
    assert!(audio_bytes(&rest) > 0, "the goodbye is spoken");
    assert_eq!(
        rest.last(),
        Some(&SessionOutput::End {
            reason: "agent_end_call".into()
        })
    );
}

#[tokio::test]
async fn without_speech_to_text_the_answers_are_kept_as_audio() {
    let mut call = Call::new(session::spawn(cfg(), local(None), ctx()));
    call.until_turn().await;
    for answer in ["דנה כהן", "תור לתספורת", "מחר בבוקר"] {
        let frames = caller_says(answer).await;
        call.say(&frames).await;
        let (_, record) = call.until_turn().await;
        assert_eq!(record.caller_text, "");
        assert_eq!(record.stt_ms, None);
        let kept = record.caller_audio.expect("caller audio kept");
        let spoken = speech_pcm(answer).await.len();
        assert!(
            kept.len() * 2 >= spoken,
            "kept {} of {spoken} samples",
            kept.len()
        );
    }
    let rest = call.rest().await;
    assert_eq!(
        actions(&call.log),
        vec![
            AgentAction::SaveDetails {
                name: None,
                reason: None,
                callback_time: None,
                urgency: None
            },
            AgentAction::EndCall
        ]
    );
    assert_eq!(
        rest.last(),
        Some(&SessionOutput::End {
            reason: "agent_end_call".into()
        })
    );
}

#[tokio::test]
async fn barge_in_clears_playback_cancels_the_reply_and_keeps_only_what_was_heard() {
    let mut call = Call::new(session::spawn(cfg(), local(None), ctx()));
    call.until_turn().await;
    call.say(&caller_says("דנה כהן").await).await;
    // The reply is "תודה." then the next question. Confirm only the first sentence.
    call.auto_play = false;
    let seen = call
        .until(|o| matches!(o, SessionOutput::UtteranceEnd { .. }))
        .await;
    let Some(SessionOutput::UtteranceEnd { utterance: first }) = seen.last().cloned() else {
        unreachable!()
    };
    call.h
        .input
        .send(SessionInput::Played { utterance: first })
        .await
        .unwrap();
    let before = call.log.len();
    call.say(&caller_says("רגע, מה אמרת").await).await;
    call.auto_play = true;
    let (_, record) = call.until_turn().await;
    let after: Vec<SessionOutput> = call.log[before..].to_vec();
    let clear_at = after
        .iter()
        .position(|o| *o == SessionOutput::Clear)
        .expect("barge-in sends clear");
    assert!(record.barged_in);
    assert_eq!(record.heard_text, "תודה.");
    assert!(record.agent_text.starts_with("תודה."));
    // Nothing of the cancelled reply is sent after the clear.
    let max_before = call.log[..before + clear_at]
        .iter()
        .filter_map(|o| match o {
            SessionOutput::Audio { utterance, .. } => Some(*utterance),
            _ => None,
        })
        .max()
        .unwrap();
    let (_, next) = call.until_turn().await;
    for o in &call.log[before + clear_at..] {
        if let SessionOutput::Audio { utterance, .. } | SessionOutput::UtteranceEnd { utterance } =
            o
        {
            assert!(*utterance > max_before, "stale audio after clear: {o:?}");
        }
    }
    // The question the caller cut off is asked again.
    assert_eq!(next.agent_text, "במה אפשר לעזור? מה סיבת הפנייה?");
    assert!(!next.barged_in);
}

fn failing_tts() -> Arc<OpenAiTts> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    Arc::new(OpenAiTts::new(
        OpenAiConfig::new("sk-x").with_base_url(base),
    ))
}

async fn expect_apology_then_fallback(mut call: Call) {
    call.until_turn().await;
    call.say(&caller_says("דנה כהן").await).await;
    let rest = call.rest().await;
    let Some(SessionOutput::Fallback { reason }) = rest.last() else {
        panic!("expected a fallback, got {:?}", rest.last())
    };
    assert!(reason.starts_with("provider_error"), "{reason}");
    let record = call.turns().last().unwrap().clone();
    assert!(record.agent_text.contains(APOLOGY), "{record:?}");
    assert!(audio_bytes(&rest) >= 4000, "the apology is spoken");
    assert!(
        rest.iter()
            .any(|o| matches!(o, SessionOutput::UtteranceEnd { .. }))
    );
}

#[tokio::test]
async fn a_failing_text_to_speech_gets_an_apology_then_the_fallback() {
    let providers = Providers {
        stt: None,
        tts: failing_tts(),
        agent: Arc::new(ScriptedAgent::new()),
    };
    // The greeting and the apology fall back to the local voice.
    let call = Call::new(session::spawn(cfg(), providers, ctx()));
    expect_apology_then_fallback(call).await;
}

#[tokio::test]
async fn a_failing_agent_gets_an_apology_then_the_fallback() {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"error": {"message": "overloaded", "type": "server_error"}})),
            )
        }),
    );
    let agent = OpenAiAgent::new(OpenAiConfig::new("sk-x").with_base_url(serve(app).await));
    let providers = Providers {
        stt: None,
        tts: Arc::new(EspeakTts::new()),
        agent: Arc::new(agent),
    };
    let call = Call::new(session::spawn(cfg(), providers, ctx()));
    expect_apology_then_fallback(call).await;
}

#[tokio::test]
async fn the_first_sentence_is_spoken_while_the_agent_is_still_writing() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let g = g.clone();
            async move {
                let chunk = |text: &str, finish: Option<&str>| {
                    format!(
                        "data: {}\n\n",
                        json!({"id":"c","choices":[{"index":0,"delta":{"content":text},"finish_reason":finish}]})
                    )
                };
                let first = chunk("בשמחה, אני בודקת. ", None);
                let rest = format!("{}data: [DONE]\n\n", chunk("יש תור פנוי מחר.", Some("stop")));
                let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(first) })
                    .chain(futures::stream::once(async move {
                        g.notified().await;
                        Ok(rest)
                    }));
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(stream))
                    .unwrap()
            }
        }),
    );
    let agent = OpenAiAgent::new(OpenAiConfig::new("sk-x").with_base_url(serve(app).await));
    let providers = Providers {
        stt: None,
        tts: Arc::new(EspeakTts::new()),
        agent: Arc::new(agent),
    };
    let mut call = Call::new(session::spawn(cfg(), providers, ctx()));
    call.until_turn().await;
    call.say(&caller_says("יש תור למחר?").await).await;
    // The agent has sent only its first sentence; its audio must already be out.
    call.until(|o| matches!(o, SessionOutput::UtteranceEnd { .. }))
        .await;
    gate.notify_one();
    let (_, record) = call.until_turn().await;
    assert_eq!(record.agent_text, "בשמחה, אני בודקת. יש תור פנוי מחר.");
    assert_eq!(record.heard_text, record.agent_text);
    assert!(record.llm_first_token_ms.unwrap() <= record.first_frame_out_ms.unwrap());
}

#[tokio::test]
async fn star_sends_the_caller_to_the_recording_fallback() {
    let mut call = Call::new(session::spawn(cfg(), local(None), ctx()));
    call.until_turn().await;
    call.h.input.send(SessionInput::Dtmf('5')).await.unwrap();
    call.h.input.send(SessionInput::Dtmf('*')).await.unwrap();
    let rest = call.rest().await;
    assert_eq!(
        rest,
        vec![SessionOutput::Fallback {
            reason: "dtmf_star".into()
        }]
    );
}

/// When each turn's first audio arrived and when its last utterance was heard.
fn first_audio_after(call: &Call, from: usize) -> (usize, tokio::time::Instant) {
    let i = from
        + call.log[from..]
            .iter()
            .position(|o| matches!(o, SessionOutput::Audio { .. }))
            .expect("audio");
    (i, call.times[i])
}

#[tokio::test]
async fn a_silent_caller_is_prompted_then_told_goodbye() {
    let providers = local(None);
    let cfg = SessionConfig::default();
    // Render everything this call will say first, so no real I/O happens on the paused clock.
    session::prewarm(&providers, &ctx(), Duration::from_secs(20)).await;
    tokio::time::pause();
    let mut call = Call::new(session::spawn(cfg, providers, ctx()));
    // The caller's phone plays the audio at the real pace and echoes marks after it.
    call.realtime = true;
    let (_, greeting) = call.until_turn().await;
    let greeting_heard = call.heard.last().unwrap().1;
    // Heard when it has played (timers tick in whole milliseconds).
    let played = call.play_until().unwrap();
    assert!(greeting_heard >= played && greeting_heard - played <= Duration::from_millis(2));
    let greeting_len = play_time(audio_bytes(&call.log));
    assert!(greeting_len >= Duration::from_secs(1), "{greeting_len:?}");
    assert_eq!(greeting.heard_text, greeting.agent_text);

    let before_prompt = call.log.len();
    let (_, prompt) = call.until_turn().await;
    assert_eq!(prompt.agent_text, SILENCE_PROMPT);
    let prompt_heard = call.heard.last().unwrap().1;
    let before_bye = call.log.len();
    let (_, bye) = call.until_turn().await;
    assert_eq!(bye.agent_text, SILENCE_GOODBYE);
    let bye_heard = call.heard.last().unwrap().1;
    let rest = call.rest().await;
    assert_eq!(
        rest,
        vec![SessionOutput::End {
            reason: "silence".into()
        }]
    );
    let ended = *call.times.last().unwrap();

    // On the paused clock the timers are exact. The prompt comes `silence_prompt_after`
    // after the caller heard the end of the greeting (not after it was handed over).
    let (_, prompt_at) = first_audio_after(&call, before_prompt);
    let waited = prompt_at - greeting_heard;
    assert!(waited >= cfg.silence_prompt_after, "{waited:?}");
    assert!(
        waited < cfg.silence_prompt_after + Duration::from_millis(50),
        "{waited:?}"
    );
    // The goodbye comes `silence_hangup_after` after the same moment; the prompt, which
    // the caller did not answer, does not restart the count.
    let (_, bye_at) = first_audio_after(&call, before_bye);
    assert!(prompt_heard < bye_at);
    let waited = bye_at - greeting_heard;
    assert!(waited >= cfg.silence_hangup_after, "{waited:?}");
    assert!(
        waited < cfg.silence_hangup_after + Duration::from_millis(50),
        "{waited:?}"
    );
    // The call ends once the goodbye has been heard.
    assert!(ended >= bye_heard && ended - bye_heard < Duration::from_millis(50));
}

#[tokio::test]
async fn a_long_greeting_is_handed_over_as_it_plays() {
    let providers = local(None);
    let ctx = AgentContext {
        greeting: "שלום וברוכים הבאים. אנחנו כאן כדי לעזור לכם בכל שאלה ובכל בקשה. \
            ספרו לנו בבקשה מה שמכם, מה סיבת הפנייה, ומתי נוח לחזור אליכם. \
            אנחנו זמינים בימים ראשון עד חמישי בין השעות שמונה בבוקר לשש בערב."
            .into(),
        ..ctx()
    };
    session::prewarm(&providers, &ctx, Duration::from_secs(20)).await;
    tokio::time::pause();
    let t0 = tokio::time::Instant::now();
    let mut call = Call::new(session::spawn(cfg(), providers, ctx));
    call.realtime = true;
    // At each hand-over, how much audio is waiting to be played.
    let mut most_ahead = Duration::ZERO;
    let mut slices = 0;
    loop {
        let o = call.next().await.unwrap();
        match o {
            SessionOutput::Audio { utterance, mulaw } => {
                assert_eq!(utterance, 1);
                assert_eq!(mulaw.len() % 160, 0);
                slices += 1;
                let ahead = call.play_until().unwrap() - tokio::time::Instant::now();
                most_ahead = most_ahead.max(ahead);
            }
            SessionOutput::Turn(_) => break,
            _ => {}
        }
    }
    let total = play_time(audio_bytes(&call.log));
    assert!(
        total >= Duration::from_secs(8),
        "a long greeting: {total:?}"
    );
    assert!(slices >= 8, "{slices} slices");
    // Never more than the hand-over lead plus one slice queued, however long the phrase.
    assert!(
        most_ahead <= session::HANDOFF_AHEAD + Duration::from_secs(1),
        "{most_ahead:?} ahead"
    );
    // It still plays without a gap: the turn ends when all of it has been heard.
    let heard = call.heard.last().unwrap().1;
    assert!(heard - t0 >= total && heard - t0 < total + Duration::from_millis(50));
}
