//! End-of-turn detection for the live call: decides when the caller has started talking
//! (the barge-in signal that stops our playback) and when they have finished a turn (the
//! audio then goes to speech-to-text). It sits on top of [`Vad`] and works in samples,
//! so frames of any length are fine.
//!
//! Rules:
//! - speech time counts only frames the VAD judges speech on their own (`raw_speech`),
//!   so its hangover neither inflates short noises nor delays the end of a turn;
//! - a candidate turn becomes real, and [`TurnEvent::SpeechStarted`] fires, once
//!   `min_speech` of speech has accumulated with no gap of `end_silence`; otherwise it is
//!   dropped silently (a click, a cough, a door);
//! - the turn ends after `end_silence` without speech ([`TurnEndReason::Silence`]) or when
//!   its audio reaches `max_turn` ([`TurnEndReason::MaxLength`], at the first frame
//!   boundary at or after the cap; nothing is dropped, the next frame starts a new turn);
//! - the audio handed over starts [`PRE_ROLL`] before the first speech frame, so word
//!   onsets are not clipped, and keeps at most [`PRE_ROLL`] of the trailing silence.

use std::collections::VecDeque;
use std::time::Duration;

use crate::mulaw;
use crate::vad::{Vad, VadConfig};

/// Audio kept from before the detected start of speech.
pub const PRE_ROLL: Duration = Duration::from_millis(200);

/// Timing of turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnConfig {
    /// Silence that ends a turn.
    pub end_silence: Duration,
    /// Speech needed before a turn counts (and before barge-in fires).
    pub min_speech: Duration,
    /// Hard cap on a turn's audio.
    pub max_turn: Duration,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            end_silence: Duration::from_millis(500),
            min_speech: Duration::from_millis(300),
            max_turn: Duration::from_secs(15),
        }
    }
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEndReason {
    Silence,
    MaxLength,
}

/// What [`TurnDetector::push`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// `min_speech` of speech has accumulated: the caller is talking (barge-in).
    SpeechStarted,
    /// The turn is over; `audio` is 8 kHz PCM from just before the speech began.
    TurnEnded {
        audio: Vec<i16>,
        speech_ms: u32,
        reason: TurnEndReason,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// Speech seen, not yet `min_speech` of it.
    Pending,
    /// `SpeechStarted` has fired.
    InTurn,
}

/// Turns a stream of PCM frames into speech-started / turn-ended events.
#[derive(Debug, Clone)]
pub struct TurnDetector {
    config: TurnConfig,
    vad: Vad,
    state: State,
    pre_roll: VecDeque<i16>,
    audio: Vec<i16>,
    speech_samples: usize,
    silence_samples: usize,
    pre_roll_len: usize,
    end_silence_len: usize,
    min_speech_len: usize,
    max_turn_len: usize,
    scratch: Vec<i16>,
}

fn samples(d: Duration, rate: u32) -> usize {
    (d.as_nanos() * u128::from(rate) / 1_000_000_000) as usize
}

impl TurnDetector {
    /// A detector with the default VAD.
    pub fn new(config: TurnConfig) -> Self {
        Self::with_vad(config, VadConfig::default())
    }

    /// A detector with a tuned VAD.
    pub fn with_vad(config: TurnConfig, vad: VadConfig) -> Self {
        let rate = vad.sample_rate;
        let pre_roll_len = samples(PRE_ROLL, rate);
        Self {
            config,
            vad: Vad::new(vad),
            state: State::Idle,
            pre_roll: VecDeque::with_capacity(pre_roll_len + 160),
            audio: Vec::new(),
            speech_samples: 0,
            silence_samples: 0,
            pre_roll_len,
            end_silence_len: samples(config.end_silence, rate).max(1),
            min_speech_len: samples(config.min_speech, rate),
            max_turn_len: samples(config.max_turn, rate).max(1),
            scratch: Vec::with_capacity(160),
        }
    }

    pub fn config(&self) -> &TurnConfig {
        &self.config
    }

    /// Changes the silence that ends a turn, from the next frame on (a turn in progress
    /// included): the session lengthens it while a caller dictates digits and shortens it
    /// for a yes/no answer.
    pub fn set_end_silence(&mut self, end_silence: Duration) {
        self.config.end_silence = end_silence;
        self.end_silence_len = samples(end_silence, self.vad.config().sample_rate).max(1);
    }

    /// True between `SpeechStarted` and `TurnEnded`.
    pub fn in_turn(&self) -> bool {
        self.state == State::InTurn
    }

    /// The audio of the turn in progress so far (from [`PRE_ROLL`] before its speech), so
    /// a streaming recogniser can be handed what came before `SpeechStarted`.
    pub fn turn_audio(&self) -> &[i16] {
        match self.state {
            State::Idle => &[],
            State::Pending | State::InTurn => &self.audio,
        }
    }

    /// The underlying VAD (e.g. for its noise floor).
    pub fn vad(&self) -> &Vad {
        &self.vad
    }

    /// Drops any turn in progress (e.g. when our own playback starts); the VAD keeps its
    /// noise floor.
    pub fn reset(&mut self) {
        self.go_idle();
        self.pre_roll.clear();
    }

    /// Decodes a mu-law frame (a Twilio `media` payload) and pushes it.
    pub fn push_mulaw(&mut self, frame: &[u8]) -> Option<TurnEvent> {
        let mut pcm = std::mem::take(&mut self.scratch);
        pcm.clear();
        mulaw::decode_extend(frame, &mut pcm);
        let event = self.push(&pcm);
        self.scratch = pcm;
        event
    }

    /// Feeds one frame of 8 kHz PCM; returns an event when one happens.
    pub fn push(&mut self, frame: &[i16]) -> Option<TurnEvent> {
        let speech = self.vad.process(frame).raw_speech;
        match self.state {
            State::Idle => {
                if speech {
                    self.state = State::Pending;
                    self.audio.clear();
                    self.audio.extend(self.pre_roll.drain(..));
                    self.speech_samples = 0;
                    self.silence_samples = 0;
                    self.accumulate(frame, speech);
                    return self.check_pending();
                }
                self.pre_roll.extend(frame);
                let excess = self.pre_roll.len().saturating_sub(self.pre_roll_len);
                self.pre_roll.drain(..excess);
                None
            }
            State::Pending => {
                self.accumulate(frame, speech);
                self.check_pending()
            }
            State::InTurn => {
                self.accumulate(frame, speech);
                if self.silence_samples >= self.end_silence_len {
                    Some(self.end(TurnEndReason::Silence))
                } else if self.audio.len() >= self.max_turn_len {
                    Some(self.end(TurnEndReason::MaxLength))
                } else {
                    None
                }
            }
        }
    }

    fn accumulate(&mut self, frame: &[i16], speech: bool) {
        self.audio.extend_from_slice(frame);
        if speech {
            self.speech_samples += frame.len();
            self.silence_samples = 0;
        } else {
            self.silence_samples += frame.len();
        }
    }

    fn check_pending(&mut self) -> Option<TurnEvent> {
        if self.speech_samples >= self.min_speech_len {
            self.state = State::InTurn;
            if self.audio.len() >= self.max_turn_len {
                return Some(self.end(TurnEndReason::MaxLength));
            }
            return Some(TurnEvent::SpeechStarted);
        }
        if self.silence_samples >= self.end_silence_len || self.audio.len() >= self.max_turn_len {
            // Too little speech: a noise, not a turn. Keep the tail as pre-roll.
            let keep = self.audio.len().saturating_sub(self.pre_roll_len);
            self.pre_roll.clear();
            self.pre_roll.extend(&self.audio[keep..]);
            self.go_idle();
        }
        None
    }

    fn end(&mut self, reason: TurnEndReason) -> TurnEvent {
        let trailing = self.silence_samples.min(self.audio.len());
        let cut = trailing.saturating_sub(self.pre_roll_len);
        let mut audio = std::mem::take(&mut self.audio);
        audio.truncate(audio.len() - cut);
        let speech_ms = (self.speech_samples as u64 * 1000
            / u64::from(self.vad.config().sample_rate.max(1))) as u32;
        self.go_idle();
        TurnEvent::TurnEnded {
            audio,
            speech_ms,
            reason,
        }
    }

    fn go_idle(&mut self) {
        self.state = State::Idle;
        self.audio.clear();
        self.speech_samples = 0;
        self.silence_samples = 0;
    }
}
