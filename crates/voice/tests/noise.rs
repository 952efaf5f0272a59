//! A sound whose transcript holds no word (a cough, a door, a breath) is never taken as the
//! caller's answer: the intake does not move on, nothing is recorded for it, and only
//! repeated noise gets a short "I did not hear" that leaves the question open.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{Call, caller_says};
use voice::agent::ScriptedAgent;
use voice::session::{self, NOT_HEARD, Providers, SessionConfig, SessionInput};
use voice::tts::espeak::EspeakTts;
use voice::{AgentContext, ProviderError, SpeechToText, Transcript};

/// Speech-to-text that answers from a script, one transcript per utterance.
struct Scripted(Mutex<VecDeque<&'static str>>);

#[async_trait]
impl SpeechToText for Scripted {
    async fn transcribe(&self, _: &[i16], _: &str) -> Result<Transcript, ProviderError> {
        let text = self
            .0
            .lock()
            .unwrap()
            .pop_front()
            .expect("an utterance too many");
        Ok(Transcript {
            text: text.into(),
            confidence: None,
        })
    }
    fn name(&self) -> &'static str {
        "scripted"
    }
}

#[tokio::test]
async fn noise_never_answers_a_question() {
    let stt = Scripted(Mutex::new(
        ["", "דנה כהן", "...", "[BLANK_AUDIO]", "תור לתספורת"].into(),
    ));
    let providers = Providers {
        stt: Some(Arc::new(stt)),
        tts: Arc::new(EspeakTts::new()),
        agent: Arc::new(ScriptedAgent::new()),
    };
    let cfg = SessionConfig {
        provider_timeout: Duration::from_secs(20),
        silence_prompt_after: Duration::from_secs(600),
        silence_hangup_after: Duration::from_secs(900),
        ..Default::default()
    };
    let ctx = AgentContext {
        business_name: "מספרת רותי".into(),
        ..Default::default()
    };
    let mut call = Call::new(session::spawn(cfg, providers, ctx));
    let (_, greeting) = call.until_turn().await;
    assert!(greeting.agent_text.ends_with("מה השם שלך?"));

    // A cough (any sound long enough to be a turn; the recogniser finds no word in it):
    // the agent says nothing and records nothing.
    let after_greeting = call.log.len();
    call.say(&caller_says("מספרת רותי").await).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.say(&caller_says("דנה כהן").await).await;
    let (_, name) = call.until_turn().await;
    assert_eq!(name.caller_text, "דנה כהן", "the cough was not an answer");
    assert_eq!(name.agent_text, "תודה. במה אפשר לעזור? מה סיבת הפנייה?");
    assert_eq!(call.turns().len(), 2, "no turn was recorded for the cough");
    assert!(call.log[after_greeting..].iter().all(|o| !matches!(
        o,
        session::SessionOutput::Action(_) | session::SessionOutput::Clear
    )));

    // Noise twice running: the caller is told they were not heard; the question stays.
    call.say(&caller_says("שלום שלום").await).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    call.say(&caller_says("אני מתקשרת").await).await;
    let (_, not_heard) = call.until_turn().await;
    assert_eq!(not_heard.agent_text, NOT_HEARD);
    assert_eq!(not_heard.caller_text, "");
    call.say(&caller_says("תור לתספורת").await).await;
    let (_, reason) = call.until_turn().await;
    assert_eq!(reason.caller_text, "תור לתספורת");
    assert_eq!(reason.agent_text, "תודה. מתי נוח שנחזור אליך?");
    call.h.input.send(SessionInput::Hangup).await.unwrap();
    call.rest().await;
}
