//! The session's state machine: one task that owns the turn detector, the current agent
//! turn and its pipeline task, the playback bookkeeping (which utterances the caller is
//! confirmed to have heard) and the silence timers. Everything the server sees goes
//! through here, in order, so a `Clear` is never followed by audio from the turn it
//! cancelled.
//!
//! This module holds the state, the loop and the turn's lifecycle; what each kind of event
//! does lives beside it: the caller's side ([`input`]: speech, barge-in, marks), the
//! pipeline's ([`pipe`]: transcript, text, audio, failures), finishing turns ([`finish`]),
//! the silence and missing-mark timers ([`timers`]) and the streaming recogniser that hears
//! the caller while they speak ([`listen`]).

mod finish;
mod input;
mod listen;
mod pipe;
mod timers;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use audio::TurnDetector;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::hear::Heard;
use super::pipeline::{Job, Pipe, PipeMsg};
use super::{Providers, SessionConfig, SessionInput, SessionOutput};
use crate::provider::{AgentContext, SttStream};

/// How long after the estimated end of playback a missing mark is assumed played.
const MARK_GRACE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Greeting,
    Reply {
        attempt: u8,
    },
    Prompt,
    /// [`NOT_HEARD`](crate::session::NOT_HEARD) after noise: the question stays open, so
    /// it is kept out of the history the agent reads.
    NotHeard,
    Goodbye {
        reason: String,
    },
}

/// The agent turn being spoken.
struct Turn {
    kind: Kind,
    t0: Instant,
    ctx: AgentContext,
    caller_audio: Arc<Vec<i16>>,
    /// The caller's words from the streaming recogniser (`None`: uploaded whole).
    heard: Option<Vec<Heard>>,
    caller_text: Option<String>,
    sentences: Vec<String>,
    ended: Vec<(u64, String)>,
    /// Highest utterance with audio sent.
    last_audio: Option<u64>,
    /// Highest utterance this turn has used.
    last_utt: Option<u64>,
    stt_ms: Option<u32>,
    llm_ms: Option<u32>,
    tts_ms: Option<u32>,
    frame_ms: Option<u32>,
    /// When the barge-in was decided, if it was.
    barge_in_ms: Option<u32>,
    barged_in: bool,
    done: bool,
    end_call: bool,
    /// The business's transfer number, when the agent asked for a transfer and there is one.
    transfer: Option<String>,
    /// The functions the model called, with their results.
    tools: Vec<super::ToolCall>,
}

impl Turn {
    fn new(kind: Kind, ctx: AgentContext, caller_audio: Vec<i16>) -> Self {
        Self {
            kind,
            t0: Instant::now(),
            ctx,
            caller_audio: Arc::new(caller_audio),
            heard: None,
            caller_text: None,
            sentences: Vec::new(),
            ended: Vec::new(),
            last_audio: None,
            last_utt: None,
            stt_ms: None,
            llm_ms: None,
            tts_ms: None,
            frame_ms: None,
            barge_in_ms: None,
            barged_in: false,
            done: false,
            end_call: false,
            transfer: None,
            tools: Vec::new(),
        }
    }

    fn ms(&self) -> u32 {
        self.t0.elapsed().as_millis().min(u128::from(u32::MAX)) as u32
    }
}

pub(crate) struct Session {
    cfg: SessionConfig,
    providers: Providers,
    ctx: AgentContext,
    out: mpsc::Sender<SessionOutput>,
    detector: TurnDetector,
    utterances: Arc<AtomicU64>,
    pipe_tx: mpsc::Sender<(u64, PipeMsg)>,
    pipe_rx: mpsc::Receiver<(u64, PipeMsg)>,
    generation: u64,
    task: Option<JoinHandle<()>>,
    turn: Option<Turn>,
    played_upto: u64,
    cleared_upto: u64,
    /// Estimated end of everything sent so far (pulled in when the last mark comes back).
    playback_until: Instant,
    /// When `played_upto` last advanced: the caller had heard up to there.
    played_at: Instant,
    /// Silence timers count from here: the end of our last turn as the caller heard it,
    /// or the caller's last speech.
    silence_base: Instant,
    prompted: bool,
    /// Utterances in a row whose transcript held no word.
    noise_streak: u8,
    /// The agent's last turn was cut off by the caller (or a noise) and not answered yet.
    cut_off: bool,
    carry: Vec<i16>,
    /// What the streaming recogniser heard of `carry`; `None` if any of it was not streamed.
    carry_heard: Option<Vec<Heard>>,
    /// The call's streaming recogniser, when the speech-to-text has one and it still works.
    listener: Option<Box<dyn SttStream>>,
    /// The caller's turn in progress is going to `listener` frame by frame.
    streaming: bool,
    finalize_at: Option<Instant>,
    stopped: bool,
}

impl Session {
    pub(crate) fn new(
        cfg: SessionConfig,
        providers: Providers,
        ctx: AgentContext,
        out: mpsc::Sender<SessionOutput>,
    ) -> Self {
        let (pipe_tx, pipe_rx) = mpsc::channel(64);
        let now = Instant::now();
        Self {
            detector: TurnDetector::new(cfg.turn),
            cfg,
            providers,
            ctx,
            out,
            utterances: Arc::new(AtomicU64::new(0)),
            pipe_tx,
            pipe_rx,
            generation: 0,
            task: None,
            turn: None,
            played_upto: 0,
            cleared_upto: 0,
            playback_until: now,
            played_at: now,
            silence_base: now,
            prompted: false,
            noise_streak: 0,
            cut_off: false,
            carry: Vec::new(),
            carry_heard: Some(Vec::new()),
            listener: None,
            streaming: false,
            finalize_at: None,
            stopped: false,
        }
    }

    pub(crate) async fn run(mut self, mut input: mpsc::Receiver<SessionInput>) {
        // Listening starts with the call: the connection is up before the caller's first
        // words, while the greeting plays.
        self.listener = self
            .providers
            .stt
            .as_ref()
            .and_then(|stt| stt.streaming())
            .map(|s| s.open("he"));
        let greeting = self.providers.agent.greeting(&self.ctx);
        self.start(
            Turn::new(Kind::Greeting, self.ctx.clone(), Vec::new()),
            Job::Say(vec![greeting]),
        );
        // One timer, moved when the deadline moves: a new one per loop would enter and leave
        // the timer wheel for every 20 ms frame of the caller's audio.
        let timer = tokio::time::sleep_until(Instant::now());
        tokio::pin!(timer);
        while !self.stopped {
            let deadline = self.deadline();
            if let Some(d) = deadline
                && timer.deadline() != d
            {
                timer.as_mut().reset(d);
            }
            tokio::select! {
                biased;
                msg = input.recv() => match msg {
                    Some(msg) => self.on_input(msg).await,
                    None => self.terminate(SessionOutput::End { reason: "hangup".into() }).await,
                },
                Some((generation, msg)) = self.pipe_rx.recv() => {
                    if generation == self.generation {
                        self.on_pipe(msg).await;
                    }
                }
                _ = &mut timer, if deadline.is_some() => {
                    self.on_timer().await;
                }
            }
        }
        self.cancel_task();
    }

    async fn emit(&mut self, o: SessionOutput) {
        if self.out.send(o).await.is_err() {
            // The server is gone: nobody to talk to.
            self.stopped = true;
        }
    }

    fn cancel_task(&mut self) {
        self.generation += 1;
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    fn start(&mut self, turn: Turn, job: Job) {
        self.cancel_task();
        self.finalize_at = None;
        let pipe = Pipe {
            generation: self.generation,
            tx: self.pipe_tx.clone(),
            utterances: self.utterances.clone(),
            t0: turn.t0,
            timeout: self.cfg.provider_timeout,
            providers: self.providers.clone(),
        };
        self.turn = Some(turn);
        self.task = Some(tokio::spawn(pipe.run(job)));
    }

    /// Ends the session with `last` after recording the turn in progress.
    async fn terminate(&mut self, last: SessionOutput) {
        self.cancel_task();
        self.finalize(false).await;
        self.emit(last).await;
        self.stopped = true;
    }
}
