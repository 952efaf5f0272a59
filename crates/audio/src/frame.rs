//! Twilio Media Streams framing: the stream carries 8 kHz mu-law in 20 ms frames of 160
//! bytes, and outbound audio must be sent at that real-time pace (too fast and Twilio
//! buffers it so barge-in `clear`s arrive late; too slow and the caller hears gaps).
//!
//! The [`Pacer`] only does arithmetic on `Duration` offsets from an origin of any clock
//! type, so it works with `std::time::Instant`, `tokio::time::Instant` and tokio's paused
//! test clock alike.

use std::ops::Add;
use std::time::Duration;

use crate::{mulaw, resample};

/// Twilio Media Streams sample rate.
pub const SAMPLE_RATE: u32 = 8000;
/// Duration of one media frame.
pub const FRAME_MS: u32 = 20;
/// Samples (= mu-law bytes) per frame.
pub const FRAME_SAMPLES: usize = (SAMPLE_RATE * FRAME_MS / 1000) as usize;
/// Bytes of mu-law per frame.
pub const FRAME_BYTES: usize = FRAME_SAMPLES;
/// One frame as a `Duration`.
pub const FRAME_DURATION: Duration = Duration::from_millis(FRAME_MS as u64);

/// Splits mu-law audio into frames of `frame_bytes` (a zero size is treated as 1). The
/// last slice may be short; use [`chunk_mulaw_padded`] to get full frames.
pub fn chunk_mulaw(bytes: &[u8], frame_bytes: usize) -> impl Iterator<Item = &[u8]> {
    bytes.chunks(frame_bytes.max(1))
}

/// Splits mu-law audio into owned frames of exactly `frame_bytes`, padding the last one
/// with mu-law silence (`0xFF`).
pub fn chunk_mulaw_padded(bytes: &[u8], frame_bytes: usize) -> Vec<Vec<u8>> {
    chunk_mulaw(bytes, frame_bytes)
        .map(|c| {
            let mut frame = c.to_vec();
            frame.resize(frame_bytes.max(1), mulaw::SILENCE);
            frame
        })
        .collect()
}

/// Pads `bytes` in place with mu-law silence up to a whole number of frames.
pub fn pad_to_frames(bytes: &mut Vec<u8>, frame_bytes: usize) {
    let frame_bytes = frame_bytes.max(1);
    let rem = bytes.len() % frame_bytes;
    if rem != 0 {
        bytes.resize(bytes.len() + frame_bytes - rem, mulaw::SILENCE);
    }
}

/// Decodes a run of mu-law frames (e.g. Twilio `media` payloads) to 8 kHz PCM.
pub fn mulaw_frames_to_pcm(bytes: &[u8]) -> Vec<i16> {
    mulaw::decode(bytes)
}

/// Turns PCM at any rate (e.g. a TTS voice) into Twilio-ready frames: resampled to
/// 8 kHz, mu-law encoded, split into 160-byte frames with the last padded by silence.
pub fn pcm_to_mulaw_frames(pcm: &[i16], sample_rate: u32) -> Vec<Vec<u8>> {
    let at_8k = resample::resample(pcm, sample_rate, SAMPLE_RATE);
    chunk_mulaw_padded(&mulaw::encode(&at_8k), FRAME_BYTES)
}

/// Deadlines for sending frame `n` at a steady rate from an origin.
///
/// The origin may be any clock's instant (`T: Add<Duration>`); [`Pacer::offset`] and
/// [`Pacer::lateness`] work purely on `Duration`s since the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacer<T = std::time::Instant> {
    origin: T,
    frame: Duration,
}

impl<T: Copy + Add<Duration, Output = T>> Pacer<T> {
    /// A pacer whose frame 0 is due at `origin`, frame `n` at `origin + n * frame`.
    pub fn new(origin: T, frame: Duration) -> Self {
        Self { origin, frame }
    }

    /// A pacer for Twilio's 20 ms frames.
    pub fn twilio(origin: T) -> Self {
        Self::new(origin, FRAME_DURATION)
    }

    /// When frame `n` is due.
    pub fn deadline(&self, n: u64) -> T {
        self.origin + self.offset(n)
    }

    /// The origin.
    pub fn origin(&self) -> T {
        self.origin
    }

    /// Duration of one frame.
    pub fn frame(&self) -> Duration {
        self.frame
    }

    /// Offset of frame `n` from the origin (saturating).
    pub fn offset(&self, n: u64) -> Duration {
        let nanos = self.frame.as_nanos().saturating_mul(u128::from(n));
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (nanos % 1_000_000_000) as u32)
    }

    /// How late frame `n` is when sent `elapsed` after the origin (zero if early).
    pub fn lateness(&self, n: u64, elapsed: Duration) -> Duration {
        elapsed.saturating_sub(self.offset(n))
    }

    /// How many frames are due (deadline reached) at `elapsed` after the origin.
    pub fn frames_due(&self, elapsed: Duration) -> u64 {
        if self.frame.is_zero() {
            return u64::MAX;
        }
        let due = elapsed.as_nanos() / self.frame.as_nanos() + 1;
        u64::try_from(due).unwrap_or(u64::MAX)
    }

    /// Moves the origin, e.g. after a `clear` restarts playback at frame 0.
    pub fn reset(&mut self, origin: T) {
        self.origin = origin;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn constants_agree() {
        assert_eq!(FRAME_BYTES, 160);
        assert_eq!(FRAME_SAMPLES, 160);
        assert_eq!(FRAME_DURATION, Duration::from_millis(20));
    }

    #[test]
    fn chunks_and_pads() {
        let bytes: Vec<u8> = (0..350).map(|i| i as u8).collect();
        let chunks: Vec<&[u8]> = chunk_mulaw(&bytes, 160).collect();
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![160, 160, 30]
        );
        assert_eq!(chunks[1][0], 160);
        let padded = chunk_mulaw_padded(&bytes, 160);
        assert_eq!(padded.len(), 3);
        assert!(padded.iter().all(|f| f.len() == 160));
        assert_eq!(&padded[2][..30], &bytes[320..]);
        assert!(padded[2][30..].iter().all(|&b| b == 0xFF));
        assert!(chunk_mulaw_padded(&[], 160).is_empty());
        let mut v = vec![1u8; 161];
        pad_to_frames(&mut v, 160);
        assert_eq!(v.len(), 320);
        assert_eq!(v[161], 0xFF);
        pad_to_frames(&mut v, 160);
        assert_eq!(v.len(), 320);
    }

    #[test]
    fn pcm_to_frames_resamples_and_encodes() {
        let pcm = vec![1000i16; 24000 / 2]; // 0.5 s at 24 kHz
        let frames = pcm_to_mulaw_frames(&pcm, 24000);
        assert_eq!(frames.len(), 25);
        let decoded = mulaw_frames_to_pcm(&frames[10]);
        assert!(
            decoded.iter().all(|&s| (s - 1000).abs() < 40),
            "{decoded:?}"
        );
    }

    #[test]
    fn pacer_deadlines() {
        let origin = Instant::now();
        let p = Pacer::twilio(origin);
        assert_eq!(p.deadline(0), origin);
        assert_eq!(p.deadline(50), origin + Duration::from_secs(1));
        assert_eq!(p.offset(3), Duration::from_millis(60));
        assert_eq!(
            p.lateness(3, Duration::from_millis(75)),
            Duration::from_millis(15)
        );
        assert_eq!(p.lateness(3, Duration::from_millis(10)), Duration::ZERO);
        assert_eq!(p.frames_due(Duration::ZERO), 1);
        assert_eq!(p.frames_due(Duration::from_millis(39)), 2);
        assert_eq!(p.frames_due(Duration::from_millis(40)), 3);
        assert_eq!(
            p.offset(u64::MAX),
            Duration::new(u64::MAX / 50, 0) + Duration::from_millis(300)
        );
    }

    #[test]
    fn pacer_is_clock_agnostic() {
        // A plain Duration works as a fake clock.
        let mut p = Pacer::new(Duration::from_secs(5), Duration::from_millis(10));
        assert_eq!(p.deadline(7), Duration::from_millis(5070));
        p.reset(Duration::ZERO);
        assert_eq!(p.deadline(1), Duration::from_millis(10));
    }
}
