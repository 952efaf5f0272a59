//! One agent turn as a cancellable task: speech-to-text, then the agent's streamed reply
//! cut into sentences, each sentence streamed through text-to-speech into mu-law frames.
//! Reading the agent and speaking run concurrently, so the first sentence is on its way
//! to the caller while the model is still writing the next; each sentence's audio goes on
//! chunk by chunk as the provider streams it, and the next sentence is requested while
//! the current one streams and plays. Everything goes back to the
//! turn loop as messages tagged with the task's generation; on barge-in the loop aborts
//! the task (dropping every in-flight request) and ignores anything it sent late.
//!
//! Fixed phrases are already rendered, so they could all be handed over at once; instead
//! they leave in one-second slices of the shared cached audio, each at most
//! [`HANDOFF_AHEAD`] before it plays. A minute-long greeting then never sits whole in a
//! call's send queue, and a barge-in cancels what has not been handed over yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::cache;
use super::encode::MulawEncoder;
use super::sentences::SentenceSplitter;
use crate::provider::{
    AgentAction, AgentContext, AgentEvent, AudioChunk, ProviderError, with_timeout,
};

use super::Providers;

/// Largest audio message for a cached phrase (1 s).
const PHRASE_CHUNK: usize = 8000;
/// How long before it plays a slice of a cached phrase is handed over.
pub const HANDOFF_AHEAD: Duration = Duration::from_secs(2);

/// Playing time of `bytes` of 8 kHz mu-law.
fn play_time(bytes: usize) -> Duration {
    Duration::from_micros(bytes as u64 * 1_000_000 / u64::from(audio::SAMPLE_RATE))
}

/// Audio chunks of one sentence buffered ahead of playback (a few seconds' worth).
const SYNTHESIS_BUFFER: usize = 256;

/// A sentence being synthesized: its audio arrives on `chunks`; dropping it (the turn
/// was cancelled) stops the request.
struct Synthesis {
    text: String,
    chunks: mpsc::Receiver<Result<AudioChunk, ProviderError>>,
    _task: AbortOnDrop,
}

/// Aborts a spawned task when dropped, so a cancelled turn leaves no request running.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a pipeline task reports.
#[derive(Debug)]
pub(crate) enum PipeMsg {
    Transcript {
        text: String,
        ms: u32,
    },
    /// The caller's utterance held no word (a cough, a door): not an answer. The task
    /// ends without asking the agent.
    Noise,
    FirstToken {
        ms: u32,
    },
    FirstAudio {
        ms: u32,
    },
    /// A sentence the agent said (for the turn's full text).
    Sentence(String),
    Audio {
        utterance: u64,
        mulaw: Bytes,
    },
    UtteranceEnd {
        utterance: u64,
        text: String,
    },
    Action(AgentAction),
    /// A function the model called, with its result, for the turn's record.
    Tool(super::ToolCall),
    Failed(ProviderError),
    Done,
}

/// What a task does.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// Say fixed phrases (greeting, prompt, goodbye).
    Say(Vec<String>),
    /// Answer the caller: optional apology first, then STT (unless the text is known),
    /// the agent and TTS.
    Reply {
        apology: Option<String>,
        ctx: Box<AgentContext>,
        caller_audio: Arc<Vec<i16>>,
        caller_text: Option<String>,
        /// The turn's transcript from the recogniser that listened while the caller
        /// spoke; `None`: the audio goes up whole.
        heard: Option<Vec<super::hear::Heard>>,
    },
}

/// A task's handle on the loop.
#[derive(Clone)]
pub(crate) struct Pipe {
    pub generation: u64,
    pub tx: mpsc::Sender<(u64, PipeMsg)>,
    pub utterances: Arc<AtomicU64>,
    pub t0: Instant,
    pub timeout: Duration,
    pub providers: Providers,
}

fn ms_since(t0: Instant) -> u32 {
    t0.elapsed().as_millis().min(u128::from(u32::MAX)) as u32
}

impl Pipe {
    async fn send(&self, msg: PipeMsg) {
        // If the loop is gone the task is about to be dropped; nothing to do.
        let _ = self.tx.send((self.generation, msg)).await;
    }

    fn next_utterance(&self) -> u64 {
        self.utterances.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Runs the job to completion, reporting `Done` or `Failed`.
    pub(crate) async fn run(self, job: Job) {
        let result = match job {
            Job::Say(phrases) => self.say_all(&phrases).await,
            Job::Reply {
                apology,
                ctx,
                caller_audio,
                caller_text,
                heard,
            } => {
                let r = match apology {
                    Some(a) => self.say_all(&[a]).await,
                    None => Ok(()),
                };
                match r {
                    Ok(()) => {
                        self.reply(*ctx, &caller_audio, caller_text, heard.as_deref())
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        self.send(match result {
            Ok(()) => PipeMsg::Done,
            Err(e) => PipeMsg::Failed(e),
        })
        .await;
    }

    /// Says cached phrases, handing each slice over [`HANDOFF_AHEAD`] before it plays
    /// (assuming playback starts now and runs without gaps).
    async fn say_all(&self, phrases: &[String]) -> Result<(), ProviderError> {
        // When everything handed over so far will have played.
        let mut played_by = Instant::now();
        for text in phrases {
            let audio = cache::phrase(self.providers.tts.as_ref(), text, self.timeout).await?;
            let utterance = self.next_utterance();
            self.send(PipeMsg::Sentence(text.clone())).await;
            let mut at = 0;
            while at < audio.len() {
                if played_by > Instant::now() + HANDOFF_AHEAD {
                    tokio::time::sleep_until(played_by - HANDOFF_AHEAD).await;
                }
                played_by = played_by.max(Instant::now());
                let end = (at + PHRASE_CHUNK).min(audio.len());
                played_by += play_time(end - at);
                let mulaw = audio.slice(at..end);
                at = end;
                self.send(PipeMsg::Audio { utterance, mulaw }).await;
            }
            let text = text.clone();
            self.send(PipeMsg::UtteranceEnd { utterance, text }).await;
        }
        Ok(())
    }

    async fn reply(
        &self,
        ctx: AgentContext,
        caller_audio: &[i16],
        caller_text: Option<String>,
        heard: Option<&[super::hear::Heard]>,
    ) -> Result<(), ProviderError> {
        let caller_text = match (caller_text, &self.providers.stt) {
            (Some(t), _) => t,
            (None, Some(stt)) => {
                let t = self.hear(stt.as_ref(), caller_audio, heard).await?;
                if super::hear::is_noise(&t.text) {
                    self.send(PipeMsg::Noise).await;
                    return Ok(());
                }
                let ms = ms_since(self.t0);
                self.send(PipeMsg::Transcript {
                    text: t.text.clone(),
                    ms,
                })
                .await;
                t.text
            }
            (None, None) => String::new(),
        };
        let agent = self.providers.agent.clone();
        let events = with_timeout(self.timeout, agent.reply(&ctx, &caller_text)).await?;
        let (sentence_tx, sentence_rx) = mpsc::unbounded_channel();
        tokio::try_join!(
            self.read_agent(events, sentence_tx),
            self.speak_sentences(sentence_rx)
        )?;
        Ok(())
    }

    /// The caller's words: the streamed transcript when the recogniser listened while they
    /// spoke and it arrives in time, else the whole-file transcription of their audio.
    async fn hear(
        &self,
        stt: &dyn crate::provider::SpeechToText,
        caller_audio: &[i16],
        heard: Option<&[super::hear::Heard]>,
    ) -> Result<crate::provider::Transcript, ProviderError> {
        if let Some(parts) = heard {
            let wait = self.timeout.min(super::hear::STREAM_WAIT);
            match super::hear::streamed(parts, wait, self.t0).await {
                Ok(t) => return Ok(t),
                Err(e) => tracing::warn!(
                    error = %e,
                    "no streamed transcript: uploading the caller's audio instead"
                ),
            }
        }
        super::hear::transcribe(stt, caller_audio, self.timeout, self.t0).await
    }

    /// Agent events → sentences (to the speaker) and actions (to the loop).
    async fn read_agent(
        &self,
        mut events: futures::stream::BoxStream<'static, Result<AgentEvent, ProviderError>>,
        sentences: mpsc::UnboundedSender<String>,
    ) -> Result<(), ProviderError> {
        let mut splitter = SentenceSplitter::new();
        let mut first = true;
        while let Some(event) =
            with_timeout(self.timeout, async { events.next().await.transpose() }).await?
        {
            match event {
                AgentEvent::Text(delta) => {
                    if first && !delta.is_empty() {
                        first = false;
                        self.send(PipeMsg::FirstToken {
                            ms: ms_since(self.t0),
                        })
                        .await;
                    }
                    for s in splitter.push(&delta) {
                        let _ = sentences.send(s);
                    }
                }
                AgentEvent::Action(a) => self.send(PipeMsg::Action(a)).await,
                AgentEvent::Tool(t) => self.send(PipeMsg::Tool(t)).await,
            }
        }
        if let Some(s) = splitter.finish() {
            let _ = sentences.send(s);
        }
        Ok(())
    }

    /// Sentences → streamed speech, one utterance per sentence. Each sentence's audio is
    /// handed on chunk by chunk as the provider sends it, and the next sentence is already
    /// being synthesized (its request sent, its audio buffered) while this one streams and
    /// plays: the caller hears no gap for the provider's time to first byte.
    async fn speak_sentences(
        &self,
        mut sentences: mpsc::UnboundedReceiver<String>,
    ) -> Result<(), ProviderError> {
        let mut first_audio = true;
        let mut next: Option<Synthesis> = None;
        let mut more = true;
        loop {
            let mut current = match next.take() {
                Some(s) => s,
                None => match sentences.recv().await {
                    Some(text) => self.synthesis(text),
                    None => break,
                },
            };
            self.send(PipeMsg::Sentence(current.text.clone())).await;
            let utterance = self.next_utterance();
            let mut enc = MulawEncoder::new();
            loop {
                tokio::select! {
                    biased;
                    chunk = tokio::time::timeout(self.timeout, current.chunks.recv()) => {
                        let Some(chunk) = chunk.map_err(|_| ProviderError::Timeout)? else {
                            break;
                        };
                        let chunk = chunk?;
                        if first_audio {
                            first_audio = false;
                            self.send(PipeMsg::FirstAudio {
                                ms: ms_since(self.t0),
                            })
                            .await;
                        }
                        let mulaw = enc.push(&chunk)?;
                        if !mulaw.is_empty() {
                            let mulaw = Bytes::from(mulaw);
                            self.send(PipeMsg::Audio { utterance, mulaw }).await;
                        }
                    }
                    text = sentences.recv(), if more && next.is_none() => match text {
                        Some(text) => next = Some(self.synthesis(text)),
                        None => more = false,
                    },
                }
            }
            let mulaw = enc.finish();
            if !mulaw.is_empty() {
                let mulaw = Bytes::from(mulaw);
                self.send(PipeMsg::Audio { utterance, mulaw }).await;
            }
            let text = current.text;
            self.send(PipeMsg::UtteranceEnd { utterance, text }).await;
            if !more && next.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Starts synthesizing `text` at once, its audio buffered until it is its turn.
    fn synthesis(&self, text: String) -> Synthesis {
        let (tx, chunks) = mpsc::channel(SYNTHESIS_BUFFER);
        let tts = self.providers.tts.clone();
        let timeout = self.timeout;
        let said = text.clone();
        let task = tokio::spawn(async move {
            let mut stream = match with_timeout(timeout, tts.synthesize(&said)).await {
                Ok(stream) => stream,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            loop {
                match with_timeout(timeout, async { stream.next().await.transpose() }).await {
                    Ok(Some(chunk)) => {
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Synthesis {
            text,
            chunks,
            _task: AbortOnDrop(task),
        }
    }
}
