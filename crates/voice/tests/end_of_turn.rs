//! End of turn adapts to the question, over a whole session (#18.2, V6): the caller is
//! asked for a phone number and stops for 0.8 s between groups of digits — longer than the
//! default 0.5 s end of turn — and the agent neither cuts in nor answers half a number: one
//! turn holds all the digits. Asked a yes/no question, the caller's "כן" ends the turn after
//! a short pause: a second "כן" 0.42 s later (within the default 0.5 s) is a turn of its
//! own. The caller speaks at the real pace; the end of a turn is counted in frames, so what
//! is heard as one turn does not depend on the machine's speed.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{Call, caller_pauses_between, caller_says, speech_pcm_trimmed};
use voice::agent::ScriptedAgent;
use voice::session::{self, Providers, SessionConfig, SessionInput, SessionOutput};
use voice::tts::espeak::EspeakTts;
use voice::{AgentContext, ProviderError, SpeechToText, Transcript};

const PHONE: &str = "מה מספר הטלפון שלך?";
const NAME: &str = "מה השם שלך?";

/// Answers from a script and keeps the length of every utterance it was given.
struct Recorder {
    answers: Mutex<Vec<&'static str>>,
    heard: Arc<Mutex<Vec<usize>>>,
}

#[async_trait]
impl SpeechToText for Recorder {
    async fn transcribe(&self, pcm: &[i16], _: &str) -> Result<Transcript, ProviderError> {
        self.heard.lock().unwrap().push(pcm.len());
        let mut answers = self.answers.lock().unwrap();
        // After the script, "pardon?": the agent asks its yes/no question again rather
        // than ending the call while the caller is still talking.
        let text = if answers.is_empty() {
            "סליחה?"
        } else {
            answers.remove(0)
        };
        Ok(Transcript {
            text: text.into(),
            confidence: None,
        })
    }
    fn name(&self) -> &'static str {
        "recorder"
    }
}

/// The session's `n`-th turn record (the greeting is 0), reading on until it comes: a
/// reply may already have been recorded while the caller was still sending silence.
async fn turn(call: &mut Call, n: usize) -> voice::session::TurnRecord {
    loop {
        if let Some(t) = call.turns().get(n) {
            return t.clone();
        }
        call.next().await.expect("the session ended early");
    }
}

#[tokio::test]
async fn digits_get_a_long_pause_and_a_yes_a_short_one() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let stt = Recorder {
        answers: Mutex::new(vec!["0521234567", "דנה כהן"]),
        heard: heard.clone(),
    };
    let providers = Providers {
        stt: Some(Arc::new(stt)),
        tts: Arc::new(EspeakTts::new()),
        agent: Arc::new(ScriptedAgent::new()),
    };
    let ctx = AgentContext {
        business_name: "מספרת רותי".into(),
        questions: vec![PHONE.into(), NAME.into()],
        ..Default::default()
    };
    let cfg = SessionConfig {
        provider_timeout: Duration::from_secs(20),
        silence_prompt_after: Duration::from_secs(600),
        silence_hangup_after: Duration::from_secs(900),
        ..Default::default()
    };
    assert_eq!(cfg.turn.end_silence, Duration::from_millis(500));
    let gap = Duration::from_millis(800);
    let digits = caller_pauses_between(&["אפס חמש שתיים", "אחת שתיים שלוש"], gap).await;
    let first_group = speech_pcm_trimmed("אפס חמש שתיים").await.len();
    let second_group = speech_pcm_trimmed("אחת שתיים שלוש").await.len();
    let name = caller_says("דנה כהן").await;
    let yes_gap = Duration::from_millis(420);
    let yes_twice = caller_pauses_between(&["כן", "כן"], yes_gap).await;
    let one_yes = speech_pcm_trimmed("כן").await.len();

    let mut call = Call::new(session::spawn(cfg, providers, ctx));
    let (_, greeting) = call.until_turn().await;
    assert!(
        greeting.heard_text.ends_with(PHONE),
        "{}",
        greeting.heard_text
    );

    // The phone number, in two groups with a 0.8 s pause.
    let before = call.log.len();
    call.say_realtime(&digits).await;
    let answer = turn(&mut call, 1).await;
    assert!(
        call.log[before..]
            .iter()
            .all(|o| !matches!(o, SessionOutput::Clear)),
        "the agent never spoke over the caller"
    );
    assert_eq!(answer.caller_text, "0521234567");
    assert!(!answer.barged_in);
    assert!(answer.agent_text.ends_with(NAME), "{}", answer.agent_text);
    {
        let heard = heard.lock().unwrap();
        assert_eq!(heard.len(), 1, "one turn for the whole number: {heard:?}");
        let pause = (gap.as_millis() * 8) as usize;
        assert!(
            heard[0] >= first_group + pause + second_group,
            "both groups and the pause between them: {} < {first_group} + {pause} + {second_group}",
            heard[0]
        );
    }

    // The name, then the confirmation: a yes/no question.
    call.say_realtime(&name).await;
    let confirm = turn(&mut call, 2).await;
    assert_eq!(confirm.caller_text, "דנה כהן");
    assert!(
        confirm.heard_text.ends_with("נכון?"),
        "{}",
        confirm.heard_text
    );

    // "כן", 0.42 s, "כן": the first ends its turn before the second begins.
    call.say_realtime(&yes_twice).await;
    {
        let heard = heard.lock().unwrap();
        assert!(heard.len() >= 4, "each yes was a turn: {heard:?}");
        let pause = (yes_gap.as_millis() * 8) as usize;
        assert!(
            heard[2] < one_yes + pause,
            "the first yes alone: {} samples, one yes is {one_yes}",
            heard[2]
        );
    }
    call.h.input.send(SessionInput::Hangup).await.unwrap();
    call.rest().await;
}
