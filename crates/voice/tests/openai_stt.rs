//! OpenAI speech-to-text against a stand-in that follows the published shapes
//! (`common/openai_stt.rs`): the whole-utterance JSON path (whisper-1), the streamed path
//! (gpt-4o-transcribe: `transcript.text.delta` … `transcript.text.done`), and how a live
//! call takes a streamed transcript, or a stream that breaks off.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::openai_stt::{Break, KEY, StandIn, Transcriber};
use common::{Call, audio_bytes, caller_says};
use futures::StreamExt;
use voice::agent::ScriptedAgent;
use voice::openai::{OpenAiConfig, OpenAiStt};
use voice::session::{self, APOLOGY, Providers, SessionConfig, SessionOutput};
use voice::tts::espeak::EspeakTts;
use voice::{AgentContext, ProviderError, SpeechToText, SttEvent, Transcript};

const SAID: &str = "שלום, קוראים לי דנה";

fn stt(base: &str, model: &str) -> OpenAiStt {
    let mut c = OpenAiConfig::new(KEY).with_base_url(base);
    c.timeout = Duration::from_secs(5);
    c.stt_model = model.to_string();
    OpenAiStt::new(c)
}

fn pcm() -> Vec<i16> {
    (0..8000).map(|i| ((i % 40) * 500 - 10000) as i16).collect()
}

async fn events(stt: &OpenAiStt) -> Vec<Result<SttEvent, ProviderError>> {
    stt.transcribe_stream(&pcm(), "he")
        .await
        .unwrap()
        .collect()
        .await
}

#[tokio::test]
async fn stt_uploads_a_wav_with_model_and_language_and_reads_text() {
    let server = StandIn::start(Transcriber::saying(SAID)).await;
    let t = stt(&server.base, "whisper-1")
        .transcribe(&pcm(), "he")
        .await
        .unwrap();
    assert_eq!(t.text, SAID);
    assert_eq!(t.confidence, None);
    let u = server.uploads().pop().unwrap();
    let wav = u.wav.as_ref().unwrap();
    assert_eq!((wav.sample_rate, wav.channels), (8000, 1));
    assert_eq!(wav.samples, pcm());
    assert_eq!(u.file_name.as_deref(), Some("turn.wav"));
    assert_eq!(u.file_type.as_deref(), Some("audio/wav"));
    assert_eq!(u.field("response_format"), Some("json"));
    assert_eq!(u.field("stream"), None);
}

#[tokio::test]
async fn stt_reports_http_errors_with_status_and_body() {
    let server = StandIn::start(Transcriber::saying(SAID)).await;
    let mut cfg = OpenAiConfig::new("sk-wrong").with_base_url(&server.base);
    cfg.timeout = Duration::from_secs(5);
    let err = OpenAiStt::new(cfg)
        .transcribe(&[0; 800], "he")
        .await
        .unwrap_err();
    match err {
        ProviderError::Http {
            status,
            body_excerpt,
        } => {
            assert_eq!(status, 401);
            assert!(body_excerpt.contains("Incorrect API key"), "{body_excerpt}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn whisper_1_never_asks_for_a_stream_and_answers_whole() {
    let server = StandIn::start(Transcriber::saying(SAID)).await;
    let whisper = stt(&server.base, "whisper-1");
    assert!(!whisper.streams());
    let got = events(&whisper).await;
    assert_eq!(
        got,
        vec![Ok(SttEvent::Final(Transcript {
            text: SAID.into(),
            confidence: None
        }))]
    );
    // The whole-utterance call of a streaming model does not ask either.
    let mini = stt(&server.base, "gpt-4o-mini-transcribe");
    assert!(mini.streams());
    assert_eq!(mini.transcribe(&pcm(), "he").await.unwrap().text, SAID);
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 2);
    assert!(
        uploads.iter().all(|u| u.field("stream").is_none()),
        "{uploads:?}"
    );
}

#[tokio::test]
async fn streamed_deltas_arrive_as_partials_and_concatenate_to_the_done_text() {
    let server = StandIn::start(Transcriber::saying(SAID)).await;
    let got: Vec<SttEvent> = events(&stt(&server.base, "gpt-4o-transcribe"))
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    let (last, partials) = got.split_last().unwrap();
    let SttEvent::Final(done) = last else {
        panic!("the last item is not final: {got:?}")
    };
    assert_eq!(done.text, SAID);
    let joined: String = partials
        .iter()
        .map(|e| match e {
            SttEvent::Partial(p) => p.as_str(),
            SttEvent::Final(_) => panic!("two finals: {got:?}"),
        })
        .collect();
    assert_eq!(partials.len(), SAID.split(' ').count());
    assert_eq!(joined.trim(), done.text);
    let u = server.uploads().pop().unwrap();
    assert_eq!(u.field("stream"), Some("true"));
    assert_eq!(u.field("model"), Some("gpt-4o-transcribe"));
    assert_eq!(u.field("language"), Some("he"));
    assert_eq!(u.wav.unwrap().samples, pcm());
}

#[tokio::test]
async fn partial_text_arrives_before_the_transcription_is_complete() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let server = StandIn::start(Transcriber {
        hold: Some(gate.clone()),
        ..Transcriber::saying(SAID)
    })
    .await;
    let stt = stt(&server.base, "gpt-4o-transcribe");
    let mut stream = stt.transcribe_stream(&pcm(), "he").await.unwrap();
    // The server holds the rest back until we have the first delta.
    assert_eq!(
        stream.next().await.unwrap().unwrap(),
        SttEvent::Partial("שלום,".into())
    );
    gate.notify_one();
    let rest: Vec<_> = stream.collect().await;
    assert!(
        matches!(rest.last(), Some(Ok(SttEvent::Final(t))) if t.text == SAID),
        "{rest:?}"
    );
}

#[tokio::test]
async fn a_stream_that_breaks_before_done_is_an_error() {
    for how in [Break::EndsEarly, Break::Aborts] {
        let server = StandIn::start(Transcriber {
            broken: 1,
            how,
            ..Transcriber::saying(SAID)
        })
        .await;
        let got = events(&stt(&server.base, "gpt-4o-transcribe")).await;
        assert!(
            !got.iter().any(|e| matches!(e, Ok(SttEvent::Final(_)))),
            "{how:?}: {got:?}"
        );
        assert!(
            matches!(got.first(), Some(Ok(SttEvent::Partial(_)))),
            "{how:?}: {got:?}"
        );
        assert!(matches!(got.last(), Some(Err(_))), "{how:?}: {got:?}");
    }
}

// ---- a live call ------------------------------------------------------------------

fn live(stt: OpenAiStt) -> Providers {
    Providers {
        stt: Some(Arc::new(stt)),
        tts: Arc::new(EspeakTts::new()),
        agent: Arc::new(ScriptedAgent::new()),
    }
}

fn cfg() -> SessionConfig {
    SessionConfig {
        provider_timeout: Duration::from_secs(20),
        silence_prompt_after: Duration::from_secs(600),
        silence_hangup_after: Duration::from_secs(900),
        ..Default::default()
    }
}

fn ctx() -> AgentContext {
    AgentContext {
        business_name: "מספרת רותי".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_live_call_hears_the_caller_through_a_streamed_transcript() {
    let server = StandIn::start(Transcriber::saying("דנה כהן")).await;
    let providers = live(stt(&server.base, "gpt-4o-transcribe"));
    let mut call = Call::new(session::spawn(cfg(), providers, ctx()));
    call.until_turn().await; // greeting
    call.say(&caller_says("דנה כהן").await).await;
    let (_, record) = call.until_turn().await;
    assert_eq!(record.caller_text, "דנה כהן");
    assert!(!record.agent_text.contains(APOLOGY), "{record:?}");
    assert!(record.stt_ms.unwrap() <= record.llm_first_token_ms.unwrap());
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].field("stream"), Some("true"));
}

#[tokio::test]
async fn a_broken_stream_gets_an_apology_and_one_retry() {
    let server = StandIn::start(Transcriber {
        broken: 1,
        ..Transcriber::saying("דנה כהן")
    })
    .await;
    let providers = live(stt(&server.base, "gpt-4o-transcribe"));
    let mut call = Call::new(session::spawn(cfg(), providers, ctx()));
    call.until_turn().await;
    call.say(&caller_says("דנה כהן").await).await;
    let (seen, record) = call.until_turn().await;
    assert!(record.agent_text.starts_with(APOLOGY), "{record:?}");
    assert_eq!(record.caller_text, "דנה כהן", "the retry heard the caller");
    assert!(audio_bytes(&seen) > 0);
    assert!(
        !seen
            .iter()
            .any(|o| matches!(o, SessionOutput::Fallback { .. }))
    );
    assert_eq!(server.uploads().len(), 2);
}

#[tokio::test]
async fn a_stream_that_keeps_breaking_gets_an_apology_then_the_fallback() {
    let server = StandIn::start(Transcriber {
        broken: usize::MAX,
        how: Break::Aborts,
        ..Transcriber::saying("דנה כהן")
    })
    .await;
    let providers = live(stt(&server.base, "gpt-4o-transcribe"));
    let mut call = Call::new(session::spawn(cfg(), providers, ctx()));
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
    assert_eq!(server.uploads().len(), 2, "one retry, then the fallback");
}
