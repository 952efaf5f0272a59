//! Voice-activity detection for 8 kHz telephone audio, with no model to download: the
//! live call needs to know, every 20 ms frame and within microseconds, whether the
//! caller is talking (for barge-in and end of turn).
//!
//! How it decides, per frame:
//! 1. The frame is high-passed (removing hum and the low-frequency bulk of pink or
//!    rumble noise), and its energy is measured in dBFS over the whole band and over a
//!    low "voice" band (~200–1000 Hz, where voiced speech concentrates and hiss does
//!    not: a simple spectral cue).
//! 2. Each band has an adaptive noise floor: the minimum frame energy over the last
//!    ~2 s (minimum statistics), so the floor follows a changing line within two seconds
//!    but is not dragged up by speech, which always has quieter gaps.
//! 3. A frame far above its floor in either band (`strong_margin_db`) is speech. A frame
//!    moderately above it (`weak_margin_db`) is speech only if the margin is sustained:
//!    its mean over the last three frames reaches `sustained_margin_db`. Noise energy
//!    fluctuates frame to frame independently, speech stays up for a syllable, so this
//!    catches quiet speech on a noisy line without firing on noise. Frames quieter than
//!    `min_energy_dbfs` never are. (A pitch-autocorrelation voicing cue was tried and
//!    dropped: on 20 ms frames at 8 kHz it did not separate noisy speech from noise; a
//!    low zero-crossing-rate rule was dropped too, as pink noise has a low rate. The
//!    rate and the voice-band share are still reported in [`VadFrame`].)
//! 4. `onset_frames` consecutive raw speech frames start speech; `hangover_frames` keep
//!    it on across short gaps and word endings.

use crate::dsp::{self, Biquad, MinTracker, SILENT_DBFS};

/// Tuning of [`Vad`]. The defaults are tuned on espeak-ng Hebrew at 8 kHz mu-law, with
/// silence, white/pink noise and speech at 15 dB SNR (see `tests/vad.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Sample rate of the frames (the detector is tuned for 8000).
    pub sample_rate: u32,
    /// Margin above the noise floor that alone makes a frame speech.
    pub strong_margin_db: f32,
    /// Margin above the noise floor at which a frame can be speech if sustained.
    pub weak_margin_db: f32,
    /// Mean margin over the last three frames that makes a weak frame speech.
    pub sustained_margin_db: f32,
    /// Frames quieter than this are never speech.
    pub min_energy_dbfs: f32,
    /// Cut-off of the high-pass applied before analysis.
    pub highpass_hz: f32,
    /// Upper edge of the voice band.
    pub voice_band_hz: f32,
    /// Consecutive raw speech frames needed to enter speech.
    pub onset_frames: u32,
    /// Frames speech stays on after the last raw speech frame.
    pub hangover_frames: u32,
    /// Frames over which the noise floor is the minimum energy.
    pub noise_window_frames: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            sample_rate: 8000,
            strong_margin_db: 7.0,
            weak_margin_db: 3.0,
            sustained_margin_db: 5.5,
            min_energy_dbfs: -60.0,
            highpass_hz: 200.0,
            voice_band_hz: 1000.0,
            onset_frames: 1,
            hangover_frames: 8,
            noise_window_frames: 100,
        }
    }
}

/// Everything the detector computed for one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadFrame {
    /// Speech, after onset and hangover smoothing (what [`Vad::is_speech`] returns).
    pub speech: bool,
    /// This frame alone looks like speech (no smoothing).
    pub raw_speech: bool,
    /// Frame energy after the high-pass, dBFS.
    pub energy_dbfs: f32,
    /// Noise floor of the whole band before this frame, dBFS.
    pub noise_floor_dbfs: f32,
    /// Largest margin over a band's floor, dB.
    pub margin_db: f32,
    /// Mean margin over the last three frames, dB.
    pub sustained_margin_db: f32,
    /// Share of the frame's energy in the voice band (0..=1).
    pub voice_band_ratio: f32,
    /// Zero crossings per sample.
    pub zcr: f32,
}

/// Frame-by-frame voice-activity detector. Feed consecutive frames (20 ms at 8 kHz is
/// the design point; other lengths work).
#[derive(Debug, Clone)]
pub struct Vad {
    config: VadConfig,
    highpass: Biquad,
    lowpass: Biquad,
    floor_full: MinTracker,
    floor_low: MinTracker,
    /// Floors after the last frame (full band, voice band).
    floors: Option<(f32, f32)>,
    margins: [f32; 3],
    run: u32,
    hang: u32,
    speaking: bool,
    full: Vec<f32>,
    low: Vec<f32>,
}

impl Default for Vad {
    fn default() -> Self {
        Self::new(VadConfig::default())
    }
}

impl Vad {
    pub fn new(config: VadConfig) -> Self {
        Self {
            highpass: Biquad::highpass(config.highpass_hz, config.sample_rate),
            lowpass: Biquad::lowpass(config.voice_band_hz, config.sample_rate),
            floor_full: MinTracker::new(config.noise_window_frames),
            floor_low: MinTracker::new(config.noise_window_frames),
            floors: None,
            margins: [0.0; 3],
            run: 0,
            hang: 0,
            speaking: false,
            full: Vec::with_capacity(160),
            low: Vec::with_capacity(160),
            config,
        }
    }

    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    /// Forgets all state (noise floor included), as for a new call.
    pub fn reset(&mut self) {
        *self = Self::new(self.config.clone());
    }

    /// Whether `frame` is speech (with onset and hangover smoothing).
    pub fn is_speech(&mut self, frame: &[i16]) -> bool {
        self.process(frame).speech
    }

    /// Current whole-band noise-floor estimate in dBFS, once a frame has been seen.
    pub fn noise_floor_dbfs(&self) -> Option<f32> {
        self.floors.map(|f| f.0)
    }

    /// Analyses one frame and updates the state.
    pub fn process(&mut self, frame: &[i16]) -> VadFrame {
        let c = &self.config;
        self.highpass
            .run(frame.iter().map(|&s| f32::from(s)), &mut self.full);
        self.lowpass.run(self.full.iter().copied(), &mut self.low);
        let energy = dsp::power_dbfs(&self.full);
        let energy_low = dsp::power_dbfs(&self.low);
        let (floor, floor_low) = self.floors.unwrap_or((energy, energy_low));
        let lowest = c.min_energy_dbfs - c.weak_margin_db;
        let margin = (energy - floor.max(lowest)).max(energy_low - floor_low.max(lowest));
        self.margins = [self.margins[1], self.margins[2], margin];
        let sustained = self.margins.iter().sum::<f32>() / 3.0;
        let raw = energy >= c.min_energy_dbfs
            && (margin >= c.strong_margin_db
                || (margin >= c.weak_margin_db && sustained >= c.sustained_margin_db));
        self.floors = Some((
            self.floor_full.push(energy),
            self.floor_low.push(energy_low),
        ));
        self.smooth(raw);
        VadFrame {
            speech: self.speaking,
            raw_speech: raw,
            energy_dbfs: energy,
            noise_floor_dbfs: floor,
            margin_db: margin,
            sustained_margin_db: sustained,
            voice_band_ratio: 10f32.powf((energy_low - energy) / 10.0).min(1.0),
            zcr: dsp::zcr(&self.full),
        }
    }

    fn smooth(&mut self, raw: bool) {
        if raw {
            self.run += 1;
            if self.speaking || self.run >= self.config.onset_frames {
                self.speaking = true;
                self.hang = self.config.hangover_frames;
            }
        } else {
            self.run = 0;
            if self.speaking {
                if self.hang == 0 {
                    self.speaking = false;
                } else {
                    self.hang -= 1;
                }
            }
        }
    }
}

/// Mean power of a frame in dB relative to full scale (a full-scale square wave is 0).
pub fn energy_dbfs(frame: &[i16]) -> f32 {
    if frame.is_empty() {
        return SILENT_DBFS;
    }
    let sum: i64 = frame.iter().map(|&s| i64::from(s) * i64::from(s)).sum();
    let mean = sum as f64 / frame.len() as f64 / (32768.0 * 32768.0);
    if mean <= 0.0 {
        SILENT_DBFS
    } else {
        (10.0 * mean.log10()).max(f64::from(SILENT_DBFS)) as f32
    }
}

/// Sign changes per sample.
pub fn zero_crossing_rate(frame: &[i16]) -> f32 {
    if frame.len() < 2 {
        return 0.0;
    }
    let crossings = frame
        .windows(2)
        .filter(|w| (w[0] >= 0) != (w[1] >= 0))
        .count();
    crossings as f32 / (frame.len() - 1) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_of_known_signals() {
        assert_eq!(energy_dbfs(&[0; 160]), SILENT_DBFS);
        assert_eq!(energy_dbfs(&[]), SILENT_DBFS);
        assert!((energy_dbfs(&[16384; 160]) - (-6.02)).abs() < 0.01);
        assert!(energy_dbfs(&[i16::MIN; 160]).abs() < 0.01);
    }

    #[test]
    fn zcr_of_known_signals() {
        let alt: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 100 } else { -100 })
            .collect();
        assert!((zero_crossing_rate(&alt) - 1.0).abs() < 1e-6);
        assert_eq!(zero_crossing_rate(&[5; 160]), 0.0);
    }

    #[test]
    fn tone_after_silence_is_speech_with_onset_and_hangover() {
        let mut vad = Vad::new(VadConfig {
            onset_frames: 2,
            ..VadConfig::default()
        });
        let quiet = vec![0i16; 160];
        let loud: Vec<i16> = (0..160)
            .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
            .collect();
        for _ in 0..20 {
            assert!(!vad.is_speech(&quiet));
        }
        assert_eq!(vad.noise_floor_dbfs(), Some(SILENT_DBFS));
        assert!(!vad.is_speech(&loud), "onset needs two frames");
        assert!(vad.is_speech(&loud));
        let tail: Vec<bool> = (0..12).map(|_| vad.is_speech(&quiet)).collect();
        // Eight frames of hangover (plus at most one for the filter's ring-down).
        assert!(tail[..8].iter().all(|&s| s), "{tail:?}");
        assert!(!tail[9..].iter().any(|&s| s), "{tail:?}");
        vad.reset();
        assert_eq!(vad.noise_floor_dbfs(), None);
    }

    #[test]
    fn empty_and_odd_frames_are_handled() {
        let mut vad = Vad::default();
        assert!(!vad.is_speech(&[]));
        // A lone loud sample after silence is a (very short) sound: no panic, any answer.
        vad.is_speech(&[1000]);
        vad.is_speech(&[0; 7]);
        let r = vad.process(&[]);
        assert!(!r.raw_speech);
    }
}
