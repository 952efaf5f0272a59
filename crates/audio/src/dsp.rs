//! Small signal-processing pieces behind the VAD, kept apart so `vad.rs` reads as the
//! decision logic: a biquad filter, frame power and zero-crossing rate, a
//! minimum-statistics noise-floor tracker.

/// Floor of all dBFS figures (digital silence).
pub const SILENT_DBFS: f32 = -96.0;

/// Second-order (RBJ cookbook, Butterworth Q) filter; state kept across frames.
#[derive(Debug, Clone)]
pub struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl Biquad {
    fn design(cutoff_hz: f32, sample_rate: u32, high: bool) -> Self {
        let fs = sample_rate.max(1) as f32;
        let w0 = 2.0 * std::f32::consts::PI * (cutoff_hz / fs).clamp(1e-4, 0.45);
        let (sin, cos) = w0.sin_cos();
        let alpha = sin / (2.0 * std::f32::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let b = if high {
            [(1.0 + cos) / 2.0, -(1.0 + cos), (1.0 + cos) / 2.0]
        } else {
            [(1.0 - cos) / 2.0, 1.0 - cos, (1.0 - cos) / 2.0]
        };
        Self {
            b: b.map(|v| v / a0),
            a: [-2.0 * cos / a0, (1.0 - alpha) / a0],
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    pub fn highpass(cutoff_hz: f32, sample_rate: u32) -> Self {
        Self::design(cutoff_hz, sample_rate, true)
    }

    pub fn lowpass(cutoff_hz: f32, sample_rate: u32) -> Self {
        Self::design(cutoff_hz, sample_rate, false)
    }

    /// Filters `input` into `out` (cleared first).
    pub fn run(&mut self, input: impl IntoIterator<Item = f32>, out: &mut Vec<f32>) {
        out.clear();
        let [b0, b1, b2] = self.b;
        let [a1, a2] = self.a;
        let [mut x1, mut x2] = self.x;
        let [mut y1, mut y2] = self.y;
        for x in input {
            let y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
            (x2, x1, y2, y1) = (x1, x, y1, y);
            out.push(y);
        }
        self.x = [x1, x2];
        // Flush denormals so a long silence does not slow the filter down.
        self.y = [y1, y2].map(|v| if v.abs() < 1e-20 { 0.0 } else { v });
    }
}

/// Mean power of float samples (16-bit scale) in dBFS.
pub fn power_dbfs(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return SILENT_DBFS;
    }
    let mean = frame.iter().map(|x| x * x).sum::<f32>() / frame.len() as f32 / (32768.0 * 32768.0);
    if mean > 0.0 {
        (10.0 * mean.log10()).max(SILENT_DBFS)
    } else {
        SILENT_DBFS
    }
}

/// Sign changes per sample of float samples.
pub fn zcr(frame: &[f32]) -> f32 {
    if frame.len() < 2 {
        return 0.0;
    }
    let crossings = frame
        .windows(2)
        .filter(|w| (w[0] >= 0.0) != (w[1] >= 0.0))
        .count();
    crossings as f32 / (frame.len() - 1) as f32
}

const BLOCKS: usize = 10;

/// Minimum of the values pushed over the last `window` pushes, kept as `BLOCKS` block
/// minima (so the window slides in steps of `window / BLOCKS`).
#[derive(Debug, Clone)]
pub struct MinTracker {
    block_len: u32,
    blocks: [f32; BLOCKS],
    next: usize,
    current: f32,
    current_len: u32,
}

impl MinTracker {
    pub fn new(window: u32) -> Self {
        Self {
            block_len: (window / BLOCKS as u32).max(1),
            blocks: [f32::INFINITY; BLOCKS],
            next: 0,
            current: f32::INFINITY,
            current_len: 0,
        }
    }

    /// Adds a value; returns the minimum over the window, this value included.
    pub fn push(&mut self, value: f32) -> f32 {
        self.current = self.current.min(value);
        let min = self.blocks.iter().copied().fold(self.current, f32::min);
        self.current_len += 1;
        if self.current_len >= self.block_len {
            self.blocks[self.next] = self.current;
            self.next = (self.next + 1) % BLOCKS;
            self.current = f32::INFINITY;
            self.current_len = 0;
        }
        min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / 8000.0).sin() * 10000.0)
            .collect()
    }

    #[test]
    fn filters_pass_and_stop_the_right_bands() {
        let gain = |mut f: Biquad, freq: f32| {
            let mut out = Vec::new();
            f.run(tone(freq, 4000), &mut out);
            power_dbfs(&out[2000..]) - power_dbfs(&tone(freq, 4000)[2000..])
        };
        assert!(gain(Biquad::highpass(200.0, 8000), 1000.0).abs() < 0.5);
        assert!(gain(Biquad::highpass(200.0, 8000), 50.0) < -20.0);
        assert!(gain(Biquad::lowpass(1000.0, 8000), 300.0).abs() < 0.5);
        assert!(gain(Biquad::lowpass(1000.0, 8000), 3500.0) < -20.0);
    }

    #[test]
    fn min_tracker_forgets_after_its_window() {
        let mut t = MinTracker::new(100);
        assert_eq!(t.push(-50.0), -50.0);
        assert_eq!(t.push(-40.0), -50.0);
        let last = (0..110).map(|_| t.push(-30.0)).last().unwrap();
        assert_eq!(last, -30.0);
        assert_eq!(t.push(-60.0), -60.0);
    }

    #[test]
    fn power_and_zcr_edges() {
        assert_eq!(power_dbfs(&[]), SILENT_DBFS);
        assert_eq!(power_dbfs(&[0.0; 8]), SILENT_DBFS);
        assert_eq!(zcr(&[1.0]), 0.0);
        assert!((zcr(&[1.0, -1.0, 1.0]) - 1.0).abs() < 1e-6);
    }
}
