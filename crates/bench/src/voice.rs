//! `mokdan bench voice`: the live pipeline's own cost, apart from the providers' time.
//!
//! Sessions of the real turn loop run in-process. The caller's audio (espeak-ng Hebrew,
//! mu-law 20 ms frames) is pushed as fast as the session takes it, since end of turn is
//! decided on audio time. Each provider is wrapped to time itself, so the figures split:
//! - overhead: from the start of a turn's work (speech-to-text called) to the first audio
//!   frame out, minus the providers' own time (transcript, first token, first audio);
//! - first frame after first TTS audio: from the provider handing over its first chunk to
//!   the first 20 ms frame leaving the session (resampling, encoding, queueing);
//! - end of speech → first audio with the local providers (scripted agent, espeak-ng).
//!
//! The overhead run uses providers that answer at once from memory (a canned transcript,
//! pre-rendered audio): they are a measuring harness, so the time left is ours alone.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clap::Args;
use futures::StreamExt;
use futures::stream::BoxStream;
use voice::provider::{
    Agent, AgentContext, AgentEvent, AudioChunk, ProviderError, SpeechToText, TextToSpeech,
    Transcript,
};
use voice::session::{Providers, SessionConfig, SessionInput, SessionOutput};

use super::{ms, percentile};

#[derive(Args, Debug, Clone)]
pub struct VoiceBench {
    /// Sessions to run (each has several turns).
    #[arg(long, default_value_t = 40)]
    pub sessions: usize,
    /// Bench the Realtime engine instead (speech-to-speech, against a local stand-in).
    #[arg(long)]
    pub realtime: bool,
    /// With `--realtime`: the numbers of concurrent calls to run, one run each.
    #[arg(long, value_delimiter = ',', default_value = "100,500")]
    pub calls: Vec<usize>,
    /// With `--realtime`: seconds measured per run (after 3 s to settle).
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
}

/// When each provider started and first answered, for the current turn.
#[derive(Default, Debug, Clone)]
struct Marks {
    stt: Option<(Instant, Instant)>,
    agent: Option<(Instant, Option<Instant>)>,
    tts: Option<(Instant, Option<Instant>)>,
}

type Log = Arc<Mutex<Marks>>;

struct TimedStt(Arc<dyn SpeechToText>, Log);
struct TimedAgent(Arc<dyn Agent>, Log);
struct TimedTts(Arc<dyn TextToSpeech>, Log);

#[async_trait]
impl SpeechToText for TimedStt {
    async fn transcribe(&self, pcm: &[i16], language: &str) -> Result<Transcript, ProviderError> {
        let start = Instant::now();
        let r = self.0.transcribe(pcm, language).await;
        self.1.lock().expect("marks").stt = Some((start, Instant::now()));
        r
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
}

#[async_trait]
impl Agent for TimedAgent {
    async fn reply(
        &self,
        ctx: &AgentContext,
        caller_said: &str,
    ) -> Result<BoxStream<'static, Result<AgentEvent, ProviderError>>, ProviderError> {
        let start = Instant::now();
        {
            let mut m = self.1.lock().expect("marks");
            if m.agent.is_none() {
                m.agent = Some((start, None));
            }
        }
        let log = self.1.clone();
        let stream = self.0.reply(ctx, caller_said).await?;
        Ok(stream
            .inspect(move |_| {
                if let Some((_, first @ None)) = &mut log.lock().expect("marks").agent {
                    *first = Some(Instant::now());
                }
            })
            .boxed())
    }
    fn greeting(&self, ctx: &AgentContext) -> String {
        self.0.greeting(ctx)
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
}

#[async_trait]
impl TextToSpeech for TimedTts {
    async fn synthesize(
        &self,
        text: &str,
    ) -> Result<BoxStream<'static, Result<AudioChunk, ProviderError>>, ProviderError> {
        let start = Instant::now();
        {
            let mut m = self.1.lock().expect("marks");
            if m.tts.is_none() {
                m.tts = Some((start, None));
            }
        }
        let log = self.1.clone();
        let stream = self.0.synthesize(text).await?;
        Ok(stream
            .inspect(move |_| {
                if let Some((_, first @ None)) = &mut log.lock().expect("marks").tts {
                    *first = Some(Instant::now());
                }
            })
            .boxed())
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// Answers at once with a fixed transcript (measuring harness).
struct InstantStt;
#[async_trait]
impl SpeechToText for InstantStt {
    async fn transcribe(&self, _: &[i16], _: &str) -> Result<Transcript, ProviderError> {
        Ok(Transcript {
            text: "דנה כהן".into(),
            confidence: Some(1.0),
        })
    }
    fn name(&self) -> &'static str {
        "bench-instant-stt"
    }
}

/// Hands over pre-rendered audio at once, in 100 ms chunks (measuring harness).
struct InstantTts(Arc<Vec<i16>>, u32);
#[async_trait]
impl TextToSpeech for InstantTts {
    async fn synthesize(
        &self,
        _: &str,
    ) -> Result<BoxStream<'static, Result<AudioChunk, ProviderError>>, ProviderError> {
        let rate = self.1;
        let chunks: Vec<_> = self
            .0
            .chunks(rate as usize / 10)
            .map(|c| {
                Ok(AudioChunk {
                    pcm: c.to_vec(),
                    sample_rate: rate,
                })
            })
            .collect();
        Ok(futures::stream::iter(chunks).boxed())
    }
    fn name(&self) -> &'static str {
        "bench-instant-tts"
    }
}

struct Sample {
    /// Start of the turn's work → first frame out, minus providers' time.
    overhead: Duration,
    /// First TTS chunk → first frame out.
    after_tts: Duration,
    /// Start of the turn's work → first frame out.
    total: Duration,
}

pub async fn run(args: VoiceBench) -> anyhow::Result<()> {
    if args.realtime {
        return super::realtime::run(&args.calls, args.seconds).await;
    }
    anyhow::ensure!(
        voice::tts::espeak::available(),
        "espeak-ng is needed (apt-get install espeak-ng)"
    );
    let caller =
        voice::tts::espeak::synthesize("שלום, קוראים לי דנה כהן ואני רוצה לקבוע תור").await?;
    let caller_frames =
        audio::frame::pcm_to_mulaw_frames(&caller.to_mono().samples, caller.sample_rate);
    let reply = voice::tts::espeak::synthesize("תודה רבה. מה סיבת הפנייה?").await?;
    let reply_pcm = Arc::new(reply.to_mono().samples);

    let instant = run_sessions(args.sessions, &caller_frames, |log| Providers {
        stt: Some(Arc::new(TimedStt(Arc::new(InstantStt), log.clone()))),
        tts: Arc::new(TimedTts(
            Arc::new(InstantTts(reply_pcm.clone(), reply.sample_rate)),
            log.clone(),
        )),
        agent: Arc::new(TimedAgent(
            Arc::new(voice::agent::scripted::ScriptedAgent),
            log,
        )),
    })
    .await?;
    let local = run_sessions(args.sessions.min(20), &caller_frames, |log| Providers {
        stt: None,
        tts: Arc::new(TimedTts(
            Arc::new(voice::tts::espeak::EspeakTts::default()),
            log.clone(),
        )),
        agent: Arc::new(TimedAgent(
            Arc::new(voice::agent::scripted::ScriptedAgent),
            log,
        )),
    })
    .await?;

    let report = |name: &str, samples: &[Sample]| {
        let mut over: Vec<_> = samples.iter().map(|s| s.overhead).collect();
        let mut after: Vec<_> = samples.iter().map(|s| s.after_tts).collect();
        let mut total: Vec<_> = samples.iter().map(|s| s.total).collect();
        over.sort();
        after.sort();
        total.sort();
        println!("{name}: {} turns", samples.len());
        println!(
            "  pipeline overhead (excl. providers)  p50 {}  p99 {}",
            ms(percentile(&over, 50.0)),
            ms(percentile(&over, 99.0))
        );
        println!(
            "  first TTS audio → first frame out    p50 {}  p99 {}",
            ms(percentile(&after, 50.0)),
            ms(percentile(&after, 99.0))
        );
        println!(
            "  end of turn → first frame out        p50 {}  p99 {}",
            ms(percentile(&total, 50.0)),
            ms(percentile(&total, 99.0))
        );
    };
    report("instant providers (our own cost)", &instant);
    report("local providers (scripted agent, espeak-ng)", &local);
    Ok(())
}

async fn run_sessions(
    sessions: usize,
    caller_frames: &[Vec<u8>],
    providers: impl Fn(Log) -> Providers,
) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for _ in 0..sessions {
        let log: Log = Arc::default();
        let mut h = voice::session::spawn(
            SessionConfig::default(),
            providers(log.clone()),
            AgentContext {
                business_name: "bench".into(),
                ..Default::default()
            },
        );
        // The greeting: confirm it played, then the caller answers; three turns per session.
        let mut turns = 0;
        let mut awaiting_first: bool = false;
        loop {
            let out = match tokio::time::timeout(Duration::from_secs(30), h.output.recv()).await {
                Ok(Some(o)) => o,
                _ => break,
            };
            match out {
                SessionOutput::Audio { .. } if awaiting_first => {
                    let now = Instant::now();
                    awaiting_first = false;
                    let m = log.lock().expect("marks").clone();
                    let start = m.stt.map(|s| s.0).or(m.agent.map(|a| a.0));
                    if let (Some(start), Some((tts_start, Some(tts_first)))) = (start, m.tts) {
                        let stt = m.stt.map(|(a, b)| b - a).unwrap_or_default();
                        let agent = m
                            .agent
                            .and_then(|(a, f)| f.map(|f| f - a))
                            .unwrap_or_default();
                        let tts = tts_first.saturating_duration_since(tts_start);
                        let total = now - start;
                        samples.push(Sample {
                            overhead: total.saturating_sub(stt + agent + tts),
                            after_tts: now.saturating_duration_since(tts_first),
                            total,
                        });
                    }
                }
                SessionOutput::UtteranceEnd { utterance } => {
                    let _ = h.input.send(SessionInput::Played { utterance }).await;
                    if turns >= 3 {
                        break;
                    }
                    turns += 1;
                    *log.lock().expect("marks") = Marks::default();
                    awaiting_first = true;
                    for f in caller_frames {
                        h.input.send(SessionInput::Audio(f.clone())).await?;
                    }
                    for _ in 0..40 {
                        h.input.send(SessionInput::Audio(vec![0xFF; 160])).await?;
                    }
                }
                SessionOutput::End { .. } | SessionOutput::Fallback { .. } => break,
                _ => {}
            }
        }
        let _ = h.input.send(SessionInput::Hangup).await;
    }
    Ok(samples)
}
