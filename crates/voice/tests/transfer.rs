//! A transfer asked for by the agent: the session hands the call over only after the
//! caller heard the agent's last words, only to the business's own transfer number, and not
//! at all when the business has none (the conversation goes on; the server keeps the request
//! as a call-back).

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Call, caller_says};
use futures::StreamExt;
use futures::stream::BoxStream;
use voice::session::{self, Providers, SessionConfig, SessionInput, SessionOutput};
use voice::tts::espeak::EspeakTts;
use voice::{Agent, AgentAction, AgentContext, AgentEvent, ProviderError};

const REPLY: &str = "אני מעבירה אותך לנציג.";
const ASKED: &str = "+15550001111";
const BUSINESS: &str = "+972501112222";

/// Greets, then answers every turn with a transfer to a number of its own choosing.
struct Transferring;

#[async_trait]
impl Agent for Transferring {
    async fn reply(
        &self,
        _ctx: &AgentContext,
        _caller_said: &str,
    ) -> Result<BoxStream<'static, Result<AgentEvent, ProviderError>>, ProviderError> {
        let events = vec![
            Ok(AgentEvent::Text(REPLY.to_string())),
            Ok(AgentEvent::Action(AgentAction::Transfer {
                number: ASKED.to_string(),
            })),
        ];
        Ok(futures::stream::iter(events).boxed())
    }
    fn greeting(&self, _ctx: &AgentContext) -> String {
        "שלום.".to_string()
    }
    fn name(&self) -> &'static str {
        "transferring"
    }
}

fn providers() -> Providers {
    Providers {
        stt: None,
        tts: Arc::new(EspeakTts::new()),
        agent: Arc::new(Transferring),
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

fn ctx(transfer_number: Option<&str>) -> AgentContext {
    AgentContext {
        business_name: "מספרת רותי".into(),
        transfer_number: transfer_number.map(str::to_string),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_call_is_handed_to_the_business_number_once_the_last_words_were_heard() {
    let mut call = Call::new(session::spawn(cfg(), providers(), ctx(Some(BUSINESS))));
    call.until_turn().await; // greeting
    call.say(&caller_says("אני רוצה לדבר עם מישהו").await).await;
    let rest = call.rest().await;
    let all = call.log.clone();
    let transfer = all
        .iter()
        .position(|o| matches!(o, SessionOutput::Transfer { .. }))
        .expect("a transfer");
    assert_eq!(
        all[transfer],
        SessionOutput::Transfer {
            number: BUSINESS.into()
        },
        "the business's number, never the one the agent named"
    );
    assert_eq!(rest.last(), Some(&all[transfer]), "the session is over");
    // The reply was recorded as heard before the hand-over.
    let heard = all[..transfer]
        .iter()
        .rev()
        .find_map(|o| match o {
            SessionOutput::Turn(t) => Some(t.clone()),
            _ => None,
        })
        .expect("the reply's turn");
    assert_eq!(heard.heard_text, REPLY);
    let last_end = all[..transfer]
        .iter()
        .rposition(|o| matches!(o, SessionOutput::UtteranceEnd { .. }))
        .expect("the reply was spoken");
    let last_audio = all
        .iter()
        .rposition(|o| matches!(o, SessionOutput::Audio { .. }))
        .unwrap();
    assert!(last_audio < last_end && last_end < transfer);
    assert!(all.contains(&SessionOutput::Action(AgentAction::Transfer {
        number: ASKED.into()
    })));
}

#[tokio::test]
async fn without_a_transfer_number_the_conversation_goes_on() {
    let mut call = Call::new(session::spawn(cfg(), providers(), ctx(None)));
    call.until_turn().await;
    call.say(&caller_says("אני רוצה לדבר עם מישהו").await).await;
    let (_, reply) = call.until_turn().await;
    assert_eq!(reply.heard_text, REPLY);
    call.h.input.send(SessionInput::Hangup).await.unwrap();
    let rest = call.rest().await;
    assert!(
        !call
            .log
            .iter()
            .any(|o| matches!(o, SessionOutput::Transfer { .. })),
        "{rest:?}"
    );
    assert_eq!(
        rest.last(),
        Some(&SessionOutput::End {
            reason: "hangup".into()
        })
    );
}
