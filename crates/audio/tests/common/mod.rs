//! Shared helpers for the integration tests: the espeak-ng Hebrew fixtures, generated
//! noise, mixing at a given SNR, and "oracle" speech labels taken from the clean
//! recordings, so VAD and end-of-turn tests measure real behaviour on real speech.
#![allow(dead_code)]

use audio::{mulaw, vad, wav};

pub const FRAME: usize = 160;

/// The clean 8 kHz espeak-ng utterances (mu-law WAVs made with sox).
pub const UTTERANCES: [&str; 3] = [
    "he_book_appointment_8k_ulaw.wav",
    "he_tomorrow_female_8k_ulaw.wav",
    "he_name_number_8k_ulaw.wav",
];

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture as 8 kHz mono PCM.
pub fn fixture_pcm(name: &str) -> Vec<i16> {
    let wav = wav::read(&fixture_bytes(name)).expect("fixture parses");
    wav.mono_at(8000)
}

/// Deterministic xorshift noise source.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly Gaussian, unit variance (sum of 4 uniforms).
    pub fn gauss(&mut self) -> f64 {
        let s: f64 = (0..4)
            .map(|_| (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
            .sum();
        (s - 2.0) * 3f64.sqrt()
    }
}

fn scale_to_dbfs(x: &[f64], dbfs: f64) -> Vec<f64> {
    let p = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let target = 10f64.powf(dbfs / 10.0) * 32768.0 * 32768.0;
    let g = (target / p).sqrt();
    x.iter().map(|v| v * g).collect()
}

/// White noise at a mean power of `dbfs`.
pub fn white_noise(n: usize, dbfs: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let x: Vec<f64> = (0..n).map(|_| rng.gauss()).collect();
    scale_to_dbfs(&x, dbfs)
}

/// Pink (1/f) noise at a mean power of `dbfs` (Paul Kellet's filter).
pub fn pink_noise(n: usize, dbfs: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut b = [0.0f64; 7];
    let x: Vec<f64> = (0..n)
        .map(|_| {
            let w = rng.gauss();
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.1538520;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let out = b.iter().sum::<f64>() + w * 0.5362;
            b[6] = w * 0.115926;
            out
        })
        .collect();
    scale_to_dbfs(&x, dbfs)
}

/// Frames (of the clean signal) that carry speech: within 30 dB of the loudest frame
/// and above -60 dBFS.
pub fn oracle_labels(clean: &[i16]) -> Vec<bool> {
    let energies: Vec<f32> = clean.chunks(FRAME).map(vad::energy_dbfs).collect();
    let peak = energies.iter().copied().fold(f32::MIN, f32::max);
    energies
        .iter()
        .map(|&e| e > peak - 30.0 && e > -60.0)
        .collect()
}

/// Mean power (dBFS) of the speech frames of a clean signal.
pub fn speech_power_dbfs(clean: &[i16]) -> f64 {
    let labels = oracle_labels(clean);
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (frame, &is) in clean.chunks(FRAME).zip(&labels) {
        if is {
            sum += frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
            n += frame.len();
        }
    }
    10.0 * (sum / n as f64 / (32768.0 * 32768.0)).log10()
}

/// `lead` seconds of nothing, the speech, then `tail` seconds of nothing; with `noise`
/// added over the whole length; passed through mu-law like a Twilio call. Returns the
/// audio and the per-frame labels.
pub fn scene(
    speech: &[i16],
    gain_db: f64,
    lead: f64,
    tail: f64,
    noise: &[f64],
) -> (Vec<i16>, Vec<bool>) {
    let lead = (lead * 8000.0) as usize / FRAME * FRAME;
    let tail = (tail * 8000.0) as usize;
    let g = 10f64.powf(gain_db / 20.0);
    let speech: Vec<i16> = speech.iter().map(|&s| (f64::from(s) * g) as i16).collect();
    let mut clean = vec![0i16; lead];
    clean.extend_from_slice(&speech);
    clean.extend(std::iter::repeat_n(0, tail));
    let labels = oracle_labels(&clean);
    let mixed: Vec<i16> = clean
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            (f64::from(s) + noise.get(i).copied().unwrap_or(0.0)).clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    (mulaw::decode(&mulaw::encode(&mixed)), labels)
}

/// (share of labelled speech frames detected, share of frames far from any speech
/// detected). "Far" excludes the hangover after speech ends.
pub fn score(decisions: &[bool], labels: &[bool]) -> (f64, f64) {
    let first = labels.iter().position(|&l| l);
    let last = labels.iter().rposition(|&l| l);
    let (mut hit, mut speech, mut fp, mut quiet) = (0, 0, 0, 0);
    for (i, (&d, &l)) in decisions.iter().zip(labels).enumerate() {
        if l {
            speech += 1;
            hit += usize::from(d);
        } else {
            let inside = matches!((first, last), (Some(a), Some(b)) if i + 1 >= a && i <= b + 12);
            if !inside {
                quiet += 1;
                fp += usize::from(d);
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (ratio(hit, speech), ratio(fp, quiet))
}
