//! The session's timers: a turn whose marks never came back is taken as heard once its
//! audio has had time to play, and a silent caller is prompted, then told goodbye.

use tokio::time::Instant;

use super::{Kind, Session, Turn};
use crate::session::pipeline::Job;
use crate::session::{SILENCE_GOODBYE, SILENCE_PROMPT};

impl Session {
    pub(super) fn silence_deadline(&self) -> Option<Instant> {
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

    pub(super) fn deadline(&self) -> Option<Instant> {
        match (self.finalize_at, self.silence_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(super) async fn on_timer(&mut self) {
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
