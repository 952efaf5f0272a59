//! The caller's mouth: turns a prepared script into one 20 ms frame per tick.
//!
//! Whatever verb is running pulls frames at its own pace (the stream at Twilio's
//! 20 ms, Play and Record at the sim's speed), so the script's clock is "frames the
//! caller has lived through" and stays consistent across verbs. Waiting for the agent
//! looks at the [`Ear`], which knows when the agent last made a sound.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use audio::FRAME_BYTES;
use audio::mulaw::SILENCE;

use crate::ear::Ear;

/// How long (call time) the agent must be quiet before a waiting caller answers.
pub(crate) const AGENT_QUIET: Duration = Duration::from_millis(700);

/// A script step with its audio already synthesised.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    Audio {
        mulaw: Vec<u8>,
        /// Hang up after this many bytes.
        cut_after: Option<usize>,
        label: String,
    },
    Silence {
        frames: u64,
    },
    Dtmf(char),
    WaitForAgent {
        max: Duration,
    },
    WaitForAgentSpeech {
        into: Duration,
        max: Duration,
    },
    HangUp,
}

/// What the caller does during one 20 ms frame.
#[derive(Debug, Clone)]
pub(crate) struct Tick {
    pub frame: Vec<u8>,
    /// The frame carries the caller's voice (not silence).
    pub speech: bool,
    pub dtmf: Option<char>,
    pub hang_up: bool,
    /// A caller turn starts with this frame (the label says what is said).
    pub turn_start: Option<String>,
    /// The caller's turn ended with this frame.
    pub turn_end: bool,
}

#[derive(Debug)]
pub(crate) struct Mouth {
    steps: VecDeque<Prepared>,
    offset: usize,
    wait_since: Option<Instant>,
    hung_up: bool,
}

impl Mouth {
    pub(crate) fn new(steps: Vec<Prepared>) -> Self {
        Self {
            steps: steps.into(),
            offset: 0,
            wait_since: None,
            hung_up: false,
        }
    }

    #[cfg(test)]
    pub(crate) fn hung_up(&self) -> bool {
        self.hung_up
    }

    /// One frame of the caller. `quiet` is [`AGENT_QUIET`] in wall-clock time at the
    /// pace the current verb runs.
    pub(crate) fn tick(&mut self, ear: &Ear, now: Instant, quiet: Duration) -> Tick {
        let mut t = Tick {
            frame: vec![SILENCE; FRAME_BYTES],
            speech: false,
            dtmf: None,
            hang_up: self.hung_up,
            turn_start: None,
            turn_end: false,
        };
        if self.hung_up {
            return t;
        }
        loop {
            let Some(step) = self.steps.front_mut() else {
                return t;
            };
            match step {
                Prepared::Dtmf(digit) => {
                    if t.dtmf.is_some() {
                        return t;
                    }
                    t.dtmf = Some(*digit);
                    self.steps.pop_front();
                }
                Prepared::HangUp => {
                    self.hung_up = true;
                    t.hang_up = true;
                    return t;
                }
                Prepared::WaitForAgent { max } => {
                    let since = *self.wait_since.get_or_insert(now);
                    let done = ear.agent_quiet_for(now).is_some_and(|q| q >= quiet);
                    if done || now.saturating_duration_since(since) >= *max {
                        self.wait_since = None;
                        self.steps.pop_front();
                        continue;
                    }
                    return t;
                }
                Prepared::WaitForAgentSpeech { into, max } => {
                    let since = *self.wait_since.get_or_insert(now);
                    let done = ear.agent_speaking_for(now).is_some_and(|d| d >= *into);
                    if done || now.saturating_duration_since(since) >= *max {
                        self.wait_since = None;
                        self.steps.pop_front();
                        continue;
                    }
                    return t;
                }
                Prepared::Silence { frames } => {
                    if *frames == 0 {
                        self.steps.pop_front();
                        continue;
                    }
                    *frames -= 1;
                    return t;
                }
                Prepared::Audio {
                    mulaw,
                    cut_after,
                    label,
                } => {
                    if mulaw.is_empty() {
                        self.steps.pop_front();
                        continue;
                    }
                    if self.offset == 0 {
                        t.turn_start = Some(label.clone());
                    }
                    let end = (self.offset + FRAME_BYTES).min(mulaw.len());
                    t.frame[..end - self.offset].copy_from_slice(&mulaw[self.offset..end]);
                    t.speech = true;
                    self.offset = end;
                    let cut = cut_after.is_some_and(|c| self.offset >= c);
                    if cut || self.offset >= mulaw.len() {
                        t.turn_end = true;
                        self.offset = 0;
                        self.steps.pop_front();
                    }
                    if cut {
                        self.hung_up = true;
                        t.hang_up = true;
                    }
                    return t;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(len: usize) -> Prepared {
        Prepared::Audio {
            mulaw: vec![0x10; len],
            cut_after: None,
            label: "hello".into(),
        }
    }

    #[test]
    fn speaks_pads_and_marks_turns() {
        let ear = Ear::default();
        let now = Instant::now();
        let mut m = Mouth::new(vec![
            Prepared::Silence { frames: 1 },
            audio(200),
            Prepared::Dtmf('*'),
            Prepared::HangUp,
        ]);
        let t = m.tick(&ear, now, AGENT_QUIET);
        assert!(!t.speech && t.frame.iter().all(|&b| b == SILENCE));
        let t = m.tick(&ear, now, AGENT_QUIET);
        assert_eq!(t.turn_start.as_deref(), Some("hello"));
        assert!(t.speech && !t.turn_end && t.frame.iter().all(|&b| b == 0x10));
        let t = m.tick(&ear, now, AGENT_QUIET);
        assert!(t.turn_end);
        assert_eq!(t.frame.len(), FRAME_BYTES);
        assert_eq!(&t.frame[..40], &[0x10; 40]);
        assert!(t.frame[40..].iter().all(|&b| b == SILENCE));
        let t = m.tick(&ear, now, AGENT_QUIET);
        assert_eq!(t.dtmf, Some('*'));
        assert!(t.hang_up);
        assert!(m.hung_up());
    }

    #[test]
    fn cut_mid_sentence_hangs_up() {
        let ear = Ear::default();
        let mut m = Mouth::new(vec![Prepared::Audio {
            mulaw: vec![0x10; 1600],
            cut_after: Some(320),
            label: "long".into(),
        }]);
        let now = Instant::now();
        assert!(!m.tick(&ear, now, AGENT_QUIET).hang_up);
        let t = m.tick(&ear, now, AGENT_QUIET);
        assert!(t.hang_up && t.turn_end && t.speech);
        assert!(m.tick(&ear, now, AGENT_QUIET).hang_up);
    }

    #[test]
    fn waits_for_agent_to_finish() {
        let mut ear = Ear::default();
        let t0 = Instant::now();
        let mut m = Mouth::new(vec![
            Prepared::WaitForAgent {
                max: Duration::from_secs(10),
            },
            audio(160),
        ]);
        // Nobody has spoken yet: keep waiting.
        assert!(m.tick(&ear, t0, AGENT_QUIET).turn_start.is_none());
        ear.enqueue_audio(vec![0x20; 160]);
        ear.tick(t0 + Duration::from_millis(20));
        assert!(
            m.tick(&ear, t0 + Duration::from_millis(300), AGENT_QUIET)
                .turn_start
                .is_none()
        );
        let t = m.tick(&ear, t0 + Duration::from_millis(800), AGENT_QUIET);
        assert_eq!(t.turn_start.as_deref(), Some("hello"));
    }

    #[test]
    fn waits_for_agent_to_be_mid_reply_then_talks_over_it() {
        let mut ear = Ear::default();
        let t0 = Instant::now();
        let mut m = Mouth::new(vec![
            Prepared::WaitForAgentSpeech {
                into: Duration::from_millis(300),
                max: Duration::from_secs(10),
            },
            audio(160),
        ]);
        assert!(m.tick(&ear, t0, AGENT_QUIET).turn_start.is_none());
        ear.enqueue_audio(vec![0x20; 8000]);
        ear.tick(t0 + Duration::from_millis(20));
        let t = m.tick(&ear, t0 + Duration::from_millis(100), AGENT_QUIET);
        assert!(t.turn_start.is_none());
        let t = m.tick(&ear, t0 + Duration::from_millis(400), AGENT_QUIET);
        assert_eq!(t.turn_start.as_deref(), Some("hello"));
    }

    #[test]
    fn wait_for_agent_gives_up_after_max() {
        let ear = Ear::default();
        let t0 = Instant::now();
        let mut m = Mouth::new(vec![
            Prepared::WaitForAgent {
                max: Duration::from_secs(1),
            },
            audio(160),
        ]);
        assert!(m.tick(&ear, t0, AGENT_QUIET).turn_start.is_none());
        assert!(
            m.tick(&ear, t0 + Duration::from_secs(1), AGENT_QUIET)
                .turn_start
                .is_some()
        );
    }
}
