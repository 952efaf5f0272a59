//! The session's state machine: one task that owns the turn detector, the current agent
//! turn and its pipeline task, the playback bookkeeping (which utterances the caller is
//! confirmed to have heard) and the silence timers. Everything the server sees goes
//! through here, in order, so a `Clear` is never followed by audio from the turn it
//! cancelled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use audio::{TurnDetector, TurnEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::pipeline::{Job, Pipe, PipeMsg};
use super::{
    APOLOGY, GOODBYE, Providers, SILENCE_GOODBYE, SILENCE_PROMPT, SessionConfig, SessionInput,
    SessionOutput, TurnRecord,
};
use crate::provider::{AgentAction, AgentContext, ProviderError, Role};

/// How long after the estimated end of playback a missing mark is assumed played.
const MARK_GRACE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Greeting,
    Reply { attempt: u8 },
    Prompt,
    Goodbye { reason: String },
}

/// The agent turn being spoken.
struct Turn {
    kind: Kind,
    t0: Instant,
    ctx: AgentContext,
    caller_audio: Arc<Vec<i16>>,
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
}

impl Turn {
    fn new(kind: Kind, ctx: AgentContext, caller_audio: Vec<i16>) -> Self {
        Self {
            kind,
            t0: Instant::now(),
            ctx,
            caller_audio: Arc::new(caller_audio),
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
    carry: Vec<i16>,
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
            carry: Vec::new(),
            finalize_at: None,
            stopped: false,
        }
    }

    pub(crate) async fn run(mut self, mut input: mpsc::Receiver<SessionInput>) {
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

    // ---- input -------------------------------------------------------------------

    async fn on_input(&mut self, msg: SessionInput) {
        match msg {
            SessionInput::Audio(frame) => match self.detector.push_mulaw(&frame) {
                Some(TurnEvent::SpeechStarted) => self.on_speech_started().await,
                Some(TurnEvent::TurnEnded { audio, .. }) => self.on_turn_ended(audio).await,
                None => {}
            },
            SessionInput::Dtmf('*') => {
                self.terminate(SessionOutput::Fallback {
                    reason: "dtmf_star".into(),
                })
                .await
            }
            SessionInput::Dtmf(d) => tracing::debug!(digit = %d, "ignoring DTMF"),
            SessionInput::Played { utterance } => self.on_played(utterance).await,
            SessionInput::Hangup => {
                self.terminate(SessionOutput::End {
                    reason: "hangup".into(),
                })
                .await
            }
        }
    }

    async fn on_played(&mut self, utterance: u64) {
        if utterance <= self.played_upto || utterance <= self.cleared_upto {
            // Stale, or a mark for audio that was cleared: not heard.
            return;
        }
        self.played_upto = utterance;
        self.played_at = Instant::now();
        if utterance >= self.utterances.load(Ordering::Relaxed) {
            self.playback_until = self.playback_until.min(Instant::now());
        }
        self.check_finalize().await;
    }

    fn caller_active(&mut self) {
        self.silence_base = Instant::now();
        self.prompted = false;
    }

    async fn on_speech_started(&mut self) {
        self.caller_active();
        let Some(turn) = &self.turn else { return };
        if matches!(turn.kind, Kind::Goodbye { .. }) {
            return;
        }
        let unplayed = turn.last_utt.is_some_and(|u| u > self.played_upto);
        if turn.last_audio.is_some() && (!turn.done || unplayed) {
            // Barge-in: stop playback now, cancel whatever is still being made.
            let decided_ms = turn.ms();
            self.cancel_task();
            self.emit(SessionOutput::Clear).await;
            self.cleared_upto = self.utterances.load(Ordering::Relaxed);
            self.playback_until = Instant::now();
            if let Some(t) = &mut self.turn {
                t.barged_in = true;
                t.barge_in_ms = Some(decided_ms);
            }
            self.finalize(false).await;
        } else if turn.last_audio.is_none() && matches!(turn.kind, Kind::Reply { .. }) {
            // The caller went on talking before we said anything: answer it all at once.
            self.cancel_task();
            if let Some(t) = self.turn.take() {
                self.carry = t.caller_audio.as_ref().clone();
            }
        }
    }

    async fn on_turn_ended(&mut self, audio: Vec<i16>) {
        self.caller_active();
        if let Some(turn) = &self.turn {
            if matches!(turn.kind, Kind::Goodbye { .. }) {
                return;
            }
            // A greeting or prompt still being prepared is dropped for the answer.
            self.cancel_task();
            self.finalize(false).await;
        }
        let mut pcm = std::mem::take(&mut self.carry);
        pcm.extend_from_slice(&audio);
        let turn = Turn::new(Kind::Reply { attempt: 0 }, self.ctx.clone(), pcm);
        let job = Job::Reply {
            apology: None,
            ctx: Box::new(turn.ctx.clone()),
            caller_audio: turn.caller_audio.clone(),
            caller_text: None,
        };
        self.start(turn, job);
    }

    // ---- pipeline ----------------------------------------------------------------

    async fn on_pipe(&mut self, msg: PipeMsg) {
        let Some(turn) = &mut self.turn else { return };
        match msg {
            PipeMsg::Transcript { text, ms } => {
                turn.caller_text = Some(text);
                turn.stt_ms = Some(ms);
            }
            PipeMsg::FirstToken { ms } => {
                turn.llm_ms.get_or_insert(ms);
            }
            PipeMsg::FirstAudio { ms } => {
                turn.tts_ms.get_or_insert(ms);
            }
            PipeMsg::Sentence(s) => turn.sentences.push(s),
            PipeMsg::Audio { utterance, mulaw } => {
                if turn.frame_ms.is_none() {
                    turn.frame_ms = Some(turn.ms());
                }
                turn.last_audio = Some(utterance);
                turn.last_utt = turn.last_utt.max(Some(utterance));
                let secs = mulaw.len() as f64 / f64::from(audio::SAMPLE_RATE);
                self.playback_until =
                    self.playback_until.max(Instant::now()) + Duration::from_secs_f64(secs);
                self.emit(SessionOutput::Audio { utterance, mulaw }).await;
            }
            PipeMsg::UtteranceEnd { utterance, text } => {
                turn.ended.push((utterance, text));
                turn.last_utt = turn.last_utt.max(Some(utterance));
                self.emit(SessionOutput::UtteranceEnd { utterance }).await;
            }
            PipeMsg::Action(action) => {
                match &action {
                    AgentAction::EndCall => turn.end_call = true,
                    // Only ever to the business's own number: what the agent names is
                    // kept for the record, not dialled.
                    AgentAction::Transfer { .. } => {
                        turn.transfer = self
                            .ctx
                            .transfer_number
                            .clone()
                            .filter(|n| !n.trim().is_empty());
                    }
                    _ => {}
                }
                self.emit(SessionOutput::Action(action)).await;
            }
            PipeMsg::Failed(e) => self.on_failed(e).await,
            PipeMsg::Done => {
                turn.done = true;
                self.task = None;
                self.check_finalize().await;
            }
        }
    }

    async fn on_failed(&mut self, e: ProviderError) {
        self.task = None;
        let Some(turn) = &mut self.turn else { return };
        tracing::warn!(kind = ?turn.kind, error = %e, "provider failed during a turn");
        match turn.kind.clone() {
            Kind::Reply { attempt: 0 } => {
                turn.kind = Kind::Reply { attempt: 1 };
                let job = Job::Reply {
                    apology: Some(APOLOGY.to_string()),
                    ctx: Box::new(turn.ctx.clone()),
                    caller_audio: turn.caller_audio.clone(),
                    caller_text: turn.caller_text.clone(),
                };
                let turn = self.turn.take().expect("turn present");
                self.start(turn, job);
            }
            Kind::Reply { .. } | Kind::Greeting => {
                self.terminate(SessionOutput::Fallback {
                    reason: format!("provider_error: {e}"),
                })
                .await;
            }
            Kind::Prompt | Kind::Goodbye { .. } => {
                turn.done = true;
                self.check_finalize().await;
            }
        }
    }

    // ---- finishing turns ---------------------------------------------------------

    async fn check_finalize(&mut self) {
        let Some(turn) = &self.turn else { return };
        if !turn.done {
            return;
        }
        if turn.last_utt.is_none_or(|u| u <= self.played_upto) {
            self.finalize(true).await;
        } else {
            self.finalize_at = Some(self.playback_until.max(Instant::now()) + MARK_GRACE);
        }
    }

    /// Records the current turn; with `proceed`, takes the next step it calls for.
    async fn finalize(&mut self, proceed: bool) {
        self.finalize_at = None;
        let Some(turn) = self.turn.take() else { return };
        let played = self.played_upto;
        let heard: Vec<&str> = turn
            .ended
            .iter()
            .filter(|(u, _)| *u <= played)
            .map(|(_, t)| t.as_str())
            .collect();
        let heard_text = heard.join(" ");
        let is_reply = matches!(turn.kind, Kind::Reply { .. });
        let caller_text = turn.caller_text.clone().unwrap_or_default();
        let record = TurnRecord {
            caller_text: caller_text.clone(),
            agent_text: turn.sentences.join(" "),
            heard_text: heard_text.clone(),
            barged_in: turn.barged_in,
            stt_ms: turn.stt_ms,
            llm_first_token_ms: turn.llm_ms,
            tts_first_audio_ms: turn.tts_ms,
            first_frame_out_ms: turn.frame_ms,
            barge_in_ms: turn.barge_in_ms,
            caller_audio: (is_reply && self.providers.stt.is_none())
                .then(|| turn.caller_audio.as_ref().clone()),
        };
        if is_reply {
            self.ctx.history.push((Role::Caller, caller_text));
        }
        self.ctx.history.push((Role::Agent, heard_text));
        self.emit(SessionOutput::Turn(record)).await;
        if !proceed || self.stopped {
            return;
        }
        match turn.kind {
            Kind::Goodbye { reason } => {
                self.emit(SessionOutput::End { reason }).await;
                self.stopped = true;
            }
            // The caller heard the agent's last words: hand the call over.
            Kind::Reply { .. } if turn.transfer.is_some() && !turn.barged_in => {
                let number = turn.transfer.unwrap_or_default();
                self.emit(SessionOutput::Transfer { number }).await;
                self.stopped = true;
            }
            Kind::Reply { .. } if turn.end_call && !turn.barged_in => {
                let goodbye = Turn::new(
                    Kind::Goodbye {
                        reason: "agent_end_call".into(),
                    },
                    self.ctx.clone(),
                    Vec::new(),
                );
                self.start(goodbye, Job::Say(vec![GOODBYE.to_string()]));
            }
            Kind::Prompt => {}
            // The caller's silence counts from when they heard the end of what we said,
            // not from when it was handed over (up to HANDOFF_AHEAD earlier) or recorded.
            Kind::Greeting | Kind::Reply { .. } => {
                self.silence_base = match turn.last_utt {
                    Some(_) => self.played_at.min(Instant::now()),
                    None => Instant::now(),
                }
            }
        }
    }

    /// Ends the session with `last` after recording the turn in progress.
    async fn terminate(&mut self, last: SessionOutput) {
        self.cancel_task();
        self.finalize(false).await;
        self.emit(last).await;
        self.stopped = true;
    }

    // ---- timers --------------------------------------------------------------------

    fn silence_deadline(&self) -> Option<Instant> {
        if self.turn.is_some() || self.detector.in_turn() {
            return None;
        }
        let after = if self.prompted {
            self.cfg.silence_hangup_after
        } else {
            self.cfg.silence_prompt_after
        };
        Some(self.silence_base + after)
    }

    fn deadline(&self) -> Option<Instant> {
        match (self.finalize_at, self.silence_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if let Some(at) = self.finalize_at
            && at <= now
        {
            // The marks never came back: the audio has had time to play, and by our
            // estimate it ended at `playback_until`.
            if let Some(u) = self.turn.as_ref().and_then(|t| t.last_utt)
                && u > self.played_upto
            {
                self.played_upto = u;
                self.played_at = self.playback_until.min(now);
            }
            self.finalize(true).await;
            return;
        }
        if let Some(at) = self.silence_deadline()
            && at <= now
        {
            let (kind, text) = if self.prompted {
                (
                    Kind::Goodbye {
                        reason: "silence".into(),
                    },
                    SILENCE_GOODBYE,
                )
            } else {
                self.prompted = true;
                (Kind::Prompt, SILENCE_PROMPT)
            };
            let turn = Turn::new(kind, self.ctx.clone(), Vec::new());
            self.start(turn, Job::Say(vec![text.to_string()]));
        }
    }
}
