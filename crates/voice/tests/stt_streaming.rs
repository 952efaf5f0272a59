//! The cascade with a recogniser that listens while the caller speaks: the turn's frames
//! (from just before the speech began) reach it as they arrive, the end of the turn only
//! commits them, and the answer uses that transcript without uploading the audio. A stream
//! that never connected, or that breaks before the transcript comes, costs a whole-file
//! upload of the same audio, never the caller's answer.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{Call, caller_says, speech_pcm_trimmed};
use tokio::sync::oneshot;
use voice::agent::ScriptedAgent;
use voice::provider::{StreamingStt, SttStream};
use voice::session::{self, Providers, SessionConfig, SessionInput};
use voice::tts::espeak::EspeakTts;
use voice::{AgentContext, ProviderError, SpeechToText, Transcript};

/// What the stand-in recogniser does with a commit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answers each commit with the next scripted transcript.
    Answers,
    /// Never connected: not alive from the start.
    Refused,
    /// Takes the audio, then drops the commit (the socket closed).
    DiesOnCommit,
}

#[derive(Default)]
struct Log {
    /// Bytes pushed since the last commit, and at each commit.
    pending: Vec<u8>,
    committed: Vec<usize>,
    uploads: usize,
}

/// Recognises from a script: streamed transcripts and whole-file ones differ, so a test
/// can tell which path answered.
struct Ears {
    streamed: Arc<Mutex<VecDeque<&'static str>>>,
    mode: Mode,
    log: Arc<Mutex<Log>>,
    opened: AtomicUsize,
}

#[async_trait]
impl SpeechToText for Ears {
    async fn transcribe(&self, pcm: &[i16], _: &str) -> Result<Transcript, ProviderError> {
        assert!(!pcm.is_empty());
        self.log.lock().unwrap().uploads += 1;
        Ok(Transcript {
            text: "הועלה בשלמותו".into(),
            confidence: None,
        })
    }
    fn name(&self) -> &'static str {
        "ears"
    }
    fn streaming(&self) -> Option<&dyn StreamingStt> {
        Some(self)
    }
}

impl StreamingStt for Ears {
    fn open(&self, language: &str) -> Box<dyn SttStream> {
        assert_eq!(language, "he");
        self.opened.fetch_add(1, Ordering::SeqCst);
        Box::new(Stream {
            streamed: self.streamed.clone(),
            mode: self.mode,
            log: self.log.clone(),
        })
    }
    fn name(&self) -> &'static str {
        "ears-streaming"
    }
}

struct Stream {
    streamed: Arc<Mutex<VecDeque<&'static str>>>,
    mode: Mode,
    log: Arc<Mutex<Log>>,
}

impl SttStream for Stream {
    fn push(&mut self, mulaw: &[u8]) {
        assert!(self.is_alive(), "no audio to a dead stream");
        self.log.lock().unwrap().pending.extend_from_slice(mulaw);
    }
    fn commit(&mut self) -> Option<oneshot::Receiver<Result<Transcript, ProviderError>>> {
        let (tx, rx) = oneshot::channel();
        let mut log = self.log.lock().unwrap();
        let n = std::mem::take(&mut log.pending).len();
        log.committed.push(n);
        if self.mode == Mode::DiesOnCommit {
            drop(tx);
            return Some(rx);
        }
        let text = self
            .streamed
            .lock()
            .unwrap()
            .pop_front()
            .expect("a commit too many");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx.send(Ok(Transcript {
                text: text.into(),
                confidence: None,
            }));
        });
        Some(rx)
    }
    fn clear(&mut self) {
        self.log.lock().unwrap().pending.clear();
    }
    fn is_alive(&self) -> bool {
        self.mode != Mode::Refused
    }
}

fn call(mode: Mode, streamed: &[&'static str]) -> (Call, Arc<Mutex<Log>>) {
    let log = Arc::new(Mutex::new(Log::default()));
    let ears = Ears {
        streamed: Arc::new(Mutex::new(streamed.iter().copied().collect())),
        mode,
        log: log.clone(),
        opened: AtomicUsize::new(0),
    };
    let providers = Providers {
        stt: Some(Arc::new(ears)),
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
    (Call::new(session::spawn(cfg, providers, ctx)), log)
}

#[tokio::test]
async fn the_transcript_heard_while_the_caller_spoke_answers_without_an_upload() {
    let (mut call, log) = call(Mode::Answers, &["דנה כהן", "תור לתספורת"]);
    call.until_turn().await;
    call.say(&caller_says("דנה כהן").await).await;
    let (_, name) = call.until_turn().await;
    assert_eq!(name.caller_text, "דנה כהן");
    assert_eq!(name.agent_text, "תודה. במה אפשר לעזור? מה סיבת הפנייה?");
    assert!(name.stt_ms.is_some(), "the time to the transcript is kept");
    call.say(&caller_says("תור לתספורת").await).await;
    let (_, reason) = call.until_turn().await;
    assert_eq!(reason.caller_text, "תור לתספורת");
    call.h.input.send(SessionInput::Hangup).await.unwrap();
    call.rest().await;
    // Each utterance reached the recogniser whole, pre-roll and all: at least as many
    // bytes as the speech itself (8 kHz mu-law: one byte a sample).
    let speech = speech_pcm_trimmed("דנה כהן").await.len();
    let log = log.lock().unwrap();
    assert_eq!(log.uploads, 0, "nothing was uploaded");
    assert_eq!(log.committed.len(), 2, "{:?}", log.committed);
    assert!(
        log.committed[0] >= speech,
        "{} bytes streamed for {speech} samples of speech",
        log.committed[0]
    );
}

#[tokio::test]
async fn a_stream_that_never_opened_or_broke_costs_an_upload_not_the_answer() {
    for mode in [Mode::Refused, Mode::DiesOnCommit] {
        let (mut call, log) = call(mode, &[]);
        call.until_turn().await;
        call.say(&caller_says("דנה כהן").await).await;
        let (_, name) = call.until_turn().await;
        assert_eq!(
            name.caller_text, "הועלה בשלמותו",
            "the whole-file transcript"
        );
        assert_eq!(name.agent_text, "תודה. במה אפשר לעזור? מה סיבת הפנייה?");
        call.h.input.send(SessionInput::Hangup).await.unwrap();
        call.rest().await;
        let log = log.lock().unwrap();
        assert_eq!(log.uploads, 1);
        if mode == Mode::Refused {
            assert!(log.committed.is_empty(), "nothing goes to a dead stream");
        }
    }
}
