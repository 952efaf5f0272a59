//! Finishing a turn: once its audio is confirmed heard (or cut off by barge-in), it is
//! recorded with its timings and what the caller actually heard, the conversation history
//! is updated, the caller's end-of-turn pause is set from the question they heard
//! ([`endpoint`]), and the next step it calls for is taken (goodbye, transfer, or waiting).

use tokio::time::Instant;

use super::{Kind, MARK_GRACE, Session, Turn};
use crate::provider::Role;
use crate::session::endpoint;
use crate::session::pipeline::Job;
use crate::session::{GOODBYE, SessionOutput, TurnRecord};

impl Session {
    pub(super) async fn check_finalize(&mut self) {
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
    pub(super) async fn finalize(&mut self, proceed: bool) {
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
            caller_audio: is_reply.then(|| turn.caller_audio.as_ref().clone()),
            tools: turn.tools.clone(),
        };
        if is_reply {
            self.ctx.history.push((Role::Caller, caller_text));
        }
        if matches!(turn.kind, Kind::Greeting | Kind::Reply { .. }) {
            // The caller's next pause is read from the question they just heard.
            let expected = endpoint::expected_answer(&heard_text);
            let base = self.cfg.turn.end_silence;
            self.detector
                .set_end_silence(endpoint::end_of_turn_silence(base, expected, None));
        }
        if turn.kind != Kind::NotHeard {
            self.ctx.history.push((Role::Agent, heard_text));
        }
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
            Kind::Greeting | Kind::Reply { .. } | Kind::NotHeard => {
                self.silence_base = match turn.last_utt {
                    Some(_) => self.played_at.min(Instant::now()),
                    None => Instant::now(),
                }
            }
        }
    }
}
