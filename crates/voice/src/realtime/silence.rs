//! The Realtime engine's patience with a silent caller, as the cascade's: after
//! `silence_prompt_after` without a word the caller hears the cached
//! [`SILENCE_PROMPT`](crate::session::SILENCE_PROMPT) (and the model is told it was said);
//! after `silence_hangup_after`, counted from the same moment (the prompt does not restart
//! it), the cached [`SILENCE_GOODBYE`](crate::session::SILENCE_GOODBYE), and the call ends.
//!
//! The silence counts from when the caller last spoke (the service's `speech_started` and
//! `speech_stopped`) or heard the end of the agent's audio (its last mark came back). It
//! does not count while the agent is audible, a response is being made, or the caller is
//! speaking: a long answer, or a model thinking, is not the caller's silence.

use std::time::Duration;

use tokio::time::Instant;

/// The silence timers of one call.
#[derive(Debug, Clone)]
pub(super) struct Silence {
    prompt_after: Duration,
    hangup_after: Duration,
    /// Where the silence counts from.
    base: Instant,
    /// The prompt was said since the caller last spoke.
    pub prompted: bool,
    /// The audio playing is the prompt: its end does not restart the count.
    pub prompt_playing: bool,
}

impl Silence {
    pub(super) fn new(prompt_after: Duration, hangup_after: Duration) -> Self {
        Self {
            prompt_after,
            hangup_after,
            base: Instant::now(),
            prompted: false,
            prompt_playing: false,
        }
    }

    /// The caller spoke: the count starts again, and a silence will be prompted again.
    pub(super) fn caller_spoke(&mut self) {
        self.base = Instant::now();
        self.prompted = false;
        self.prompt_playing = false;
    }

    /// The caller heard the end of the agent's audio.
    pub(super) fn agent_heard(&mut self) {
        if !std::mem::take(&mut self.prompt_playing) {
            self.base = Instant::now();
        }
    }

    /// When the next step is due.
    pub(super) fn deadline(&self) -> Instant {
        self.base
            + if self.prompted {
                self.hangup_after
            } else {
                self.prompt_after
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_prompt_does_not_restart_the_count_but_the_caller_does() {
        let mut s = Silence::new(Duration::from_secs(8), Duration::from_secs(20));
        let t0 = Instant::now();
        assert_eq!(s.deadline(), t0 + Duration::from_secs(8));
        tokio::time::advance(Duration::from_secs(8)).await;
        s.prompted = true;
        s.prompt_playing = true;
        tokio::time::advance(Duration::from_secs(2)).await;
        s.agent_heard();
        assert_eq!(
            s.deadline(),
            t0 + Duration::from_secs(20),
            "from the same moment"
        );
        s.caller_spoke();
        assert_eq!(s.deadline(), Instant::now() + Duration::from_secs(8));
        tokio::time::advance(Duration::from_secs(3)).await;
        s.agent_heard();
        assert_eq!(s.deadline(), Instant::now() + Duration::from_secs(8));
    }
}
