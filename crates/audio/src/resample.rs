//! Sample-rate conversion between the telephone rate (8 kHz) and what speech engines
//! produce or expect (16k, 22.05k, 24k, 44.1k, 48k).
//!
//! Choice: a windowed-sinc (Blackman) polyphase interpolator at the exact rational ratio
//! `to/from`. Its low-pass cutoff sits just below the lower of the two Nyquist
//! frequencies, so downsampling (e.g. a 24 kHz TTS voice to 8 kHz) does not alias
//! sibilants into the telephone band and upsampling does not image. Each phase's taps
//! are normalised to unit DC gain. Ratios whose reduced numerator exceeds
//! [`MAX_PHASES`] use the nearest of `MAX_PHASES` phases (error well below the 16-bit
//! floor for speech). The kernel is centred, so output sample `n` lines up with input
//! time `n * from / to`: no delay, and the output has `ceil(len * to / from)` samples.

/// Zero crossings of the sinc on each side of the centre (at the cutoff frequency).
const HALF_ZEROS: f64 = 12.0;
/// Cutoff as a fraction of the lower Nyquist frequency.
const ROLLOFF: f64 = 0.92;
/// Upper bound on the number of precomputed phases.
pub const MAX_PHASES: u64 = 1024;

/// Resamples mono 16-bit PCM from `from_hz` to `to_hz`.
///
/// Returns the input unchanged when the rates are equal, and an empty vector when either
/// rate is zero.
pub fn resample(input: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    if from_hz == 0 || to_hz == 0 {
        return Vec::new();
    }
    if from_hz == to_hz {
        return input.to_vec();
    }
    let mut r = Resampler::new(from_hz, to_hz);
    let mut out = Vec::with_capacity(r.output_len(input.len() as u64) as usize + 1);
    r.process(input, &mut out);
    r.finish(&mut out);
    out
}

/// Streaming resampler: feed chunks with [`Resampler::process`], then call
/// [`Resampler::finish`] once. The concatenated output equals [`resample`] of the
/// concatenated input.
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Output rate / gcd.
    up: u64,
    /// Input rate / gcd.
    down: u64,
    /// Taps per phase (even).
    taps: usize,
    phases: u64,
    /// `phases * taps` coefficients, phase-major.
    kernel: Vec<f32>,
    /// Pending input, starting at absolute input index `buf_start - taps/2 + 1`.
    buf: Vec<f32>,
    /// Absolute input index of `buf[0]` (may be negative: leading zero padding).
    buf_start: i64,
    /// Input samples received so far.
    consumed: u64,
    /// Output samples produced so far.
    produced: u64,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn blackman(x: f64) -> f64 {
    // x in [-1, 1]
    use std::f64::consts::PI;
    let t = (x + 1.0) * 0.5;
    0.42 - 0.5 * (2.0 * PI * t).cos() + 0.08 * (4.0 * PI * t).cos()
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

impl Resampler {
    /// Builds a resampler; both rates must be non-zero.
    ///
    /// # Panics
    /// Panics if either rate is zero.
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        assert!(from_hz > 0 && to_hz > 0, "sample rates must be non-zero");
        let g = gcd(u64::from(from_hz), u64::from(to_hz));
        let (up, down) = (u64::from(to_hz) / g, u64::from(from_hz) / g);
        // Cutoff relative to the input Nyquist.
        let cutoff = ROLLOFF * (up as f64 / down as f64).min(1.0);
        let half = (HALF_ZEROS / cutoff).ceil() as usize;
        let taps = 2 * half;
        let phases = up.min(MAX_PHASES);
        let mut kernel = Vec::with_capacity(phases as usize * taps);
        for p in 0..phases {
            let frac = p as f64 / phases as f64;
            let start = kernel.len();
            for k in 0..taps {
                // Tap k reads input at offset (k - half + 1) from the integer position.
                let d = (k as f64 - half as f64 + 1.0) - frac;
                let w = blackman((d / half as f64).clamp(-1.0, 1.0));
                kernel.push((cutoff * sinc(cutoff * d) * w) as f32);
            }
            let sum: f32 = kernel[start..].iter().sum();
            for c in &mut kernel[start..] {
                *c /= sum;
            }
        }
        let lead = half as i64 - 1;
        Self {
            up,
            down,
            taps,
            phases,
            kernel,
            buf: vec![0.0; lead as usize],
            buf_start: -lead,
            consumed: 0,
            produced: 0,
        }
    }

    /// Number of output samples for `input_len` input samples: `ceil(len * to / from)`.
    pub fn output_len(&self, input_len: u64) -> u64 {
        (input_len * self.up).div_ceil(self.down)
    }

    /// Resamples a chunk, appending what can already be computed to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        self.consumed += input.len() as u64;
        self.buf.extend(input.iter().map(|&s| f32::from(s)));
        self.drain(out, false);
    }

    /// Flushes the tail (zero-padded), appending the remaining output to `out`.
    pub fn finish(&mut self, out: &mut Vec<i16>) {
        self.buf.extend(std::iter::repeat_n(0.0, self.taps));
        self.drain(out, true);
        self.buf.clear();
    }

    fn drain(&mut self, out: &mut Vec<i16>, flushing: bool) {
        let half = (self.taps / 2) as i64;
        let total = self.output_len(self.consumed);
        let buf_end = self.buf_start + self.buf.len() as i64;
        loop {
            if flushing && self.produced >= total {
                break;
            }
            let pos = self.produced * self.down;
            let idx = (pos / self.up) as i64;
            if !flushing && idx >= self.consumed as i64 {
                break;
            }
            let first = idx - half + 1;
            if first + self.taps as i64 > buf_end {
                break;
            }
            let rem = pos % self.up;
            let phase = if self.phases == self.up {
                rem
            } else {
                ((rem * self.phases + self.up / 2) / self.up).min(self.phases - 1)
            };
            let coeffs = &self.kernel[phase as usize * self.taps..][..self.taps];
            let off = (first - self.buf_start) as usize;
            let window = &self.buf[off..off + self.taps];
            let acc: f32 = coeffs.iter().zip(window).map(|(c, x)| c * x).sum();
            out.push(acc.round().clamp(-32768.0, 32767.0) as i16);
            self.produced += 1;
        }
        // Drop input no future output can reach.
        let next_first = ((self.produced * self.down) / self.up) as i64 - half + 1;
        let drop = (next_first - self.buf_start).clamp(0, self.buf.len() as i64) as usize;
        if drop > 0 {
            self.buf.drain(..drop);
            self.buf_start += drop as i64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, secs: f64, amp: f64) -> Vec<i16> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    /// Frequency estimated from zero crossings over the middle of the signal.
    fn zc_freq(x: &[i16], rate: u32) -> f64 {
        let mid = &x[x.len() / 10..x.len() * 9 / 10];
        let crossings = mid.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        crossings as f64 / 2.0 / (mid.len() as f64 / f64::from(rate))
    }

    fn rms(x: &[i16]) -> f64 {
        let mid = &x[x.len() / 10..x.len() * 9 / 10];
        (mid.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / mid.len() as f64).sqrt()
    }

    #[test]
    fn lengths_follow_the_ratio() {
        let x = vec![0i16; 8000];
        assert_eq!(resample(&x, 8000, 16000).len(), 16000);
        assert_eq!(resample(&x, 8000, 22050).len(), 22050);
        assert_eq!(resample(&vec![0; 24000], 24000, 8000).len(), 8000);
        assert_eq!(resample(&vec![0; 44100], 44100, 8000).len(), 8000);
        assert_eq!(resample(&vec![0; 48000], 48000, 8000).len(), 8000);
        assert_eq!(resample(&[0; 7], 24000, 8000).len(), 3);
        assert_eq!(resample(&[], 24000, 8000).len(), 0);
        assert_eq!(resample(&[1, 2, 3], 8000, 8000), vec![1, 2, 3]);
        assert!(resample(&[1, 2, 3], 0, 8000).is_empty());
    }

    #[test]
    fn sine_keeps_its_pitch_8k_16k_8k() {
        let x = sine(440.0, 8000, 1.0, 10000.0);
        let up = resample(&x, 8000, 16000);
        assert!((zc_freq(&up, 16000) - 440.0).abs() < 3.0);
        let back = resample(&up, 16000, 8000);
        assert_eq!(back.len(), x.len());
        assert!((zc_freq(&back, 8000) - 440.0).abs() < 3.0);
        assert!((rms(&back) / rms(&x) - 1.0).abs() < 0.02);
        // Round trip is nearly transparent in the passband.
        let err: f64 = x[400..7600]
            .iter()
            .zip(&back[400..7600])
            .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
            .sum::<f64>()
            / 7200.0;
        assert!(err.sqrt() < 100.0, "rms error {}", err.sqrt());
    }

    #[test]
    fn sine_keeps_its_pitch_from_tts_rates() {
        for rate in [16000, 22050, 24000, 44100, 48000] {
            let x = sine(440.0, rate, 1.0, 10000.0);
            let y = resample(&x, rate, 8000);
            assert_eq!(y.len(), 8000, "{rate}");
            assert!((zc_freq(&y, 8000) - 440.0).abs() < 3.0, "{rate}");
            assert!((rms(&y) / rms(&x) - 1.0).abs() < 0.02, "{rate}");
        }
    }

    #[test]
    fn downsampling_rejects_aliases() {
        // 6 kHz at 24 kHz would alias to 2 kHz at 8 kHz without the low-pass.
        let x = sine(6000.0, 24000, 1.0, 10000.0);
        let y = resample(&x, 24000, 8000);
        assert!(rms(&y) < 10000.0 * 0.707 * 0.01, "alias rms {}", rms(&y));
    }

    #[test]
    fn streaming_matches_one_shot() {
        let x = sine(300.0, 22050, 0.5, 8000.0);
        let whole = resample(&x, 22050, 8000);
        let mut r = Resampler::new(22050, 8000);
        let mut out = Vec::new();
        for chunk in x.chunks(441) {
            r.process(chunk, &mut out);
        }
        r.finish(&mut out);
        assert_eq!(out, whole);
    }
}
