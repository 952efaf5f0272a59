//! The caller's ear: Twilio's playback buffer for the agent's audio.
//!
//! Twilio queues the `media` the server sends and plays it at 8 kHz; a `mark` comes
//! back only once everything queued before it has played, and `clear` throws away
//! what has not played yet (returning the pending marks at once). Servers time their
//! barge-in and turn-taking off those echoes, so the sim keeps a real playback clock
//! instead of echoing marks on receipt.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use audio::FRAME_BYTES;

/// Quiet shorter than this between two frames is jitter, not a new utterance.
const UTTERANCE_GAP: Duration = Duration::from_millis(200);

#[derive(Debug)]
enum Queued {
    Audio { bytes: Vec<u8>, played: usize },
    Mark(String),
}

/// What one 20 ms playback tick did.
#[derive(Debug, Default)]
pub(crate) struct Played {
    /// Marks whose audio has finished playing, to echo now.
    pub marks: Vec<String>,
    /// This tick started a new stretch of agent audio after quiet.
    pub started: bool,
    pub frame: Option<Vec<u8>>,
}

#[derive(Debug, Default)]
pub(crate) struct Ear {
    queue: VecDeque<Queued>,
    heard: Vec<u8>,
    last_audio_at: Option<Instant>,
    /// When the current stretch of agent audio began.
    stretch_started_at: Option<Instant>,
    heard_since_turn: bool,
}

impl Ear {
    pub(crate) fn enqueue_audio(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Queued::Audio { bytes: last, .. }) = self.queue.back_mut() {
            last.extend_from_slice(&bytes);
        } else {
            self.queue.push_back(Queued::Audio { bytes, played: 0 });
        }
    }

    pub(crate) fn enqueue_mark(&mut self, name: String) {
        self.queue.push_back(Queued::Mark(name));
    }

    /// Bytes queued and not yet played.
    pub(crate) fn pending_audio(&self) -> usize {
        self.queue
            .iter()
            .map(|q| match q {
                Queued::Audio { bytes, played } => bytes.len() - played,
                Queued::Mark(_) => 0,
            })
            .sum()
    }

    pub(crate) fn is_playing(&self) -> bool {
        self.pending_audio() > 0
    }

    /// Advances playback by one frame: first echoes the marks whose audio finished
    /// during the previous frame, then plays up to 160 bytes.
    pub(crate) fn tick(&mut self, now: Instant) -> Played {
        let mut out = Played::default();
        while let Some(Queued::Mark(_)) = self.queue.front() {
            if let Some(Queued::Mark(name)) = self.queue.pop_front() {
                out.marks.push(name);
            }
        }
        let mut frame = Vec::with_capacity(FRAME_BYTES);
        while frame.len() < FRAME_BYTES {
            let Some(Queued::Audio { bytes, played }) = self.queue.front_mut() else {
                break;
            };
            let take = (FRAME_BYTES - frame.len()).min(bytes.len() - *played);
            frame.extend_from_slice(&bytes[*played..*played + take]);
            *played += take;
            if *played == bytes.len() {
                self.queue.pop_front();
            }
        }
        if !frame.is_empty() {
            // A short underrun (the server's pacing jitter) does not start a new utterance.
            out.started = self
                .last_audio_at
                .is_none_or(|at| now.saturating_duration_since(at) >= UTTERANCE_GAP);
            self.hear(&frame, now);
            out.frame = Some(frame);
        }
        out
    }

    /// Drops unplayed audio; returns the bytes dropped and the marks to echo now.
    pub(crate) fn clear(&mut self) -> (usize, Vec<String>) {
        let dropped = self.pending_audio();
        let marks = self
            .queue
            .drain(..)
            .filter_map(|q| match q {
                Queued::Mark(name) => Some(name),
                Queued::Audio { .. } => None,
            })
            .collect();
        (dropped, marks)
    }

    /// Audio Twilio plays itself (`<Play>`, the record beep).
    pub(crate) fn hear(&mut self, frame: &[u8], now: Instant) {
        self.heard.extend_from_slice(frame);
        let new_stretch = self
            .last_audio_at
            .is_none_or(|at| now.saturating_duration_since(at) >= UTTERANCE_GAP);
        if new_stretch || !self.heard_since_turn {
            self.stretch_started_at = Some(now);
        }
        self.last_audio_at = Some(now);
        self.heard_since_turn = true;
    }

    pub(crate) fn caller_turn_ended(&mut self) {
        self.heard_since_turn = false;
    }

    /// How long the agent has been quiet, if it has said something since the caller's
    /// last turn and nothing is waiting to play.
    pub(crate) fn agent_quiet_for(&self, now: Instant) -> Option<Duration> {
        if !self.heard_since_turn || self.is_playing() {
            return None;
        }
        self.last_audio_at
            .map(|at| now.saturating_duration_since(at))
    }

    /// How long the agent has been talking in its current stretch, if it has spoken
    /// since the caller's last turn and still has audio waiting to play.
    pub(crate) fn agent_speaking_for(&self, now: Instant) -> Option<Duration> {
        if !self.heard_since_turn || !self.is_playing() {
            return None;
        }
        self.stretch_started_at
            .map(|at| now.saturating_duration_since(at))
    }

    pub(crate) fn take_heard(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.heard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_in_frames_and_echoes_marks_after_their_audio() {
        let mut ear = Ear::default();
        let now = Instant::now();
        ear.enqueue_mark("before".into());
        ear.enqueue_audio(vec![1; 200]);
        ear.enqueue_audio(vec![2; 100]);
        ear.enqueue_mark("after".into());
        let p = ear.tick(now);
        assert_eq!(p.marks, vec!["before".to_string()]);
        assert!(p.started);
        assert_eq!(p.frame.unwrap().len(), 160);
        let p = ear.tick(now);
        assert!(p.marks.is_empty() && !p.started);
        assert_eq!(p.frame.unwrap().len(), 140);
        // The last frame has now played: the mark comes back on the next tick.
        let p = ear.tick(now);
        assert_eq!(p.marks, vec!["after".to_string()]);
        assert!(p.frame.is_none());
        assert_eq!(ear.take_heard().len(), 300);
    }

    #[test]
    fn clear_drops_audio_and_returns_marks() {
        let mut ear = Ear::default();
        ear.enqueue_audio(vec![1; 1600]);
        ear.enqueue_mark("m1".into());
        ear.enqueue_audio(vec![1; 1600]);
        ear.enqueue_mark("m2".into());
        ear.tick(Instant::now());
        let (dropped, marks) = ear.clear();
        assert_eq!(dropped, 3200 - 160);
        assert_eq!(marks, vec!["m1".to_string(), "m2".to_string()]);
        assert!(!ear.is_playing());
        assert!(ear.tick(Instant::now()).frame.is_none());
    }

    #[test]
    fn speaking_counts_from_the_start_of_the_stretch_while_audio_waits() {
        let mut ear = Ear::default();
        let t0 = Instant::now();
        assert!(ear.agent_speaking_for(t0).is_none());
        ear.enqueue_audio(vec![1; 1600]);
        ear.tick(t0);
        ear.tick(t0 + Duration::from_millis(20));
        assert_eq!(
            ear.agent_speaking_for(t0 + Duration::from_millis(40)),
            Some(Duration::from_millis(40))
        );
        // The caller spoke: only what the agent says after that counts.
        ear.caller_turn_ended();
        assert!(
            ear.agent_speaking_for(t0 + Duration::from_millis(60))
                .is_none()
        );
        let t1 = t0 + Duration::from_millis(60);
        ear.tick(t1);
        assert_eq!(
            ear.agent_speaking_for(t1 + Duration::from_millis(100)),
            Some(Duration::from_millis(100))
        );
        // Nothing left to play: not mid-reply any more.
        ear.clear();
        assert!(
            ear.agent_speaking_for(t1 + Duration::from_millis(120))
                .is_none()
        );
    }

    #[test]
    fn quiet_only_counts_after_agent_spoke() {
        let mut ear = Ear::default();
        let t0 = Instant::now();
        assert!(ear.agent_quiet_for(t0).is_none());
        ear.hear(&[0; 160], t0);
        assert_eq!(
            ear.agent_quiet_for(t0 + Duration::from_millis(50)),
            Some(Duration::from_millis(50))
        );
        ear.caller_turn_ended();
        assert!(ear.agent_quiet_for(t0 + Duration::from_secs(1)).is_none());
    }
}
