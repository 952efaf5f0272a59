//! The caller's side of the session: audio frames through the turn detector, DTMF,
//! playback confirmations and hang-up. Barge-in is decided here: speech over the agent's
//! audio clears playback at once and cancels whatever is still being made. The frames of a
//! turn also go to the streaming recogniser, when there is one ([`super::listen`]).

use std::sync::atomic::Ordering;

use audio::TurnEvent;
use tokio::time::Instant;

use super::{Kind, Session, Turn};
use crate::session::hear::Heard;
use crate::session::pipeline::Job;
use crate::session::{SessionInput, SessionOutput};

impl Session {
    pub(super) async fn on_input(&mut self, msg: SessionInput) {
        match msg {
            SessionInput::Audio(frame) => match self.detector.push_mulaw(&frame) {
                Some(TurnEvent::SpeechStarted) => {
                    self.listen_start();
                    self.on_speech_started().await
                }
                Some(TurnEvent::TurnEnded { audio, .. }) => {
                    let answered = !self
                        .turn
                        .as_ref()
                        .is_some_and(|t| matches!(t.kind, Kind::Goodbye { .. }));
                    let heard = self.listen_end(answered);
                    self.on_turn_ended(audio, heard).await
                }
                None => self.listen_frame(&frame),
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

    pub(super) async fn on_played(&mut self, utterance: u64) {
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

    pub(super) fn caller_active(&mut self) {
        self.silence_base = Instant::now();
        self.prompted = false;
    }

    pub(super) async fn on_speech_started(&mut self) {
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
            self.cut_off = true;
            self.finalize(false).await;
        } else if turn.last_audio.is_none() && matches!(turn.kind, Kind::Reply { .. }) {
            // The caller went on talking before we said anything: answer it all at once.
            self.cancel_task();
            if let Some(t) = self.turn.take() {
                self.carry = t.caller_audio.as_ref().clone();
                self.carry_heard = t.heard;
            }
        }
    }

    pub(super) async fn on_turn_ended(&mut self, audio: Vec<i16>, heard: Option<Heard>) {
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
        // Streamed only if every part of it was.
        let carried = self.carry_heard.replace(Vec::new());
        let heard = carried.zip(heard).map(|(mut parts, h)| {
            parts.push(h);
            parts
        });
        let mut turn = Turn::new(Kind::Reply { attempt: 0 }, self.ctx.clone(), pcm);
        turn.heard = heard;
        let job = Job::Reply {
            apology: None,
            ctx: Box::new(turn.ctx.clone()),
            caller_audio: turn.caller_audio.clone(),
            caller_text: None,
            heard: turn.heard.clone(),
        };
        self.start(turn, job);
    }
}
