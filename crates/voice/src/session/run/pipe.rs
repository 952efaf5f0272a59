//! What the turn's pipeline reports: the transcript, the agent's text and actions, the
//! audio to hand over (with the turn's timings taken as each first arrives), the end of
//! each utterance, and failures, which get an apology and one retry before the fallback.

use std::time::Duration;

use tokio::time::Instant;

use super::{Kind, Session, Turn};
use crate::provider::{AgentAction, ProviderError};
use crate::session::pipeline::{Job, PipeMsg};
use crate::session::{APOLOGY, NOT_HEARD, SessionOutput};

impl Session {
    pub(super) async fn on_pipe(&mut self, msg: PipeMsg) {
        let Some(turn) = &mut self.turn else { return };
        match msg {
            PipeMsg::Transcript { text, ms } => {
                turn.caller_text = Some(text);
                turn.stt_ms = Some(ms);
                self.noise_streak = 0;
                self.cut_off = false;
            }
            PipeMsg::Noise => self.on_noise(),
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
            PipeMsg::Tool(t) => turn.tools.push(t),
            PipeMsg::Failed(e) => self.on_failed(e).await,
            PipeMsg::Done => {
                turn.done = true;
                self.task = None;
                self.check_finalize().await;
            }
        }
    }

    /// The caller's utterance held no word: it is dropped unrecorded, and the agent keeps
    /// listening; see [`NOT_HEARD`] for when the caller is told so.
    fn on_noise(&mut self) {
        self.cancel_task();
        self.turn = None;
        self.noise_streak = self.noise_streak.saturating_add(1);
        if self.noise_streak >= 2 || self.cut_off {
            self.noise_streak = 0;
            self.cut_off = false;
            let turn = Turn::new(Kind::NotHeard, self.ctx.clone(), Vec::new());
            self.start(turn, Job::Say(vec![NOT_HEARD.to_string()]));
        }
    }

    pub(super) async fn on_failed(&mut self, e: ProviderError) {
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
                    heard: turn.heard.clone(),
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
            Kind::Prompt | Kind::NotHeard | Kind::Goodbye { .. } => {
                turn.done = true;
                self.check_finalize().await;
            }
        }
    }
}
