//! The VAD measured on real speech (espeak-ng Hebrew fixtures), silence, white and pink
//! noise, and speech on a noisy line at 15 dB SNR, all passed through mu-law like a live
//! call. Each test prints the figures it measured (`--nocapture`).

mod common;

use audio::{Vad, mulaw};
use common::*;

fn decisions(audio: &[i16]) -> Vec<bool> {
    let mut v = Vad::default();
    audio.chunks(FRAME).map(|f| v.is_speech(f)).collect()
}

fn through_mulaw(x: &[f64]) -> Vec<i16> {
    let pcm: Vec<i16> = x
        .iter()
        .map(|&v| v.clamp(-32768.0, 32767.0) as i16)
        .collect();
    mulaw::decode(&mulaw::encode(&pcm))
}

fn share(d: &[bool]) -> f64 {
    d.iter().filter(|&&x| x).count() as f64 / d.len().max(1) as f64
}

#[test]
fn clean_speech_is_detected_at_telephone_levels() {
    for name in UTTERANCES {
        let speech = fixture_pcm(name);
        // As recorded (about -21 dBFS), a quiet caller, and a very quiet one.
        for gain in [0.0, -12.0, -20.0] {
            let (audio, labels) = scene(&speech, gain, 1.0, 1.0, &[]);
            let (det, fp) = score(&decisions(&audio), &labels);
            eprintln!("{name} clean, gain {gain} dB: detected {det:.3}, false positives {fp:.3}");
            assert!(det >= 0.85, "{name} gain {gain}: detected {det:.3}");
            assert!(fp <= 0.05, "{name} gain {gain}: false positives {fp:.3}");
        }
    }
}

#[test]
fn speech_on_a_noisy_line_is_still_detected() {
    for name in UTTERANCES {
        let speech = fixture_pcm(name);
        let noise_level = speech_power_dbfs(&speech) - 15.0;
        let n = speech.len() + 16_000;
        for (kind, noise) in [
            ("white", white_noise(n, noise_level, 7)),
            ("pink", pink_noise(n, noise_level, 9)),
        ] {
            let (audio, labels) = scene(&speech, 0.0, 1.0, 1.0, &noise);
            let (det, fp) = score(&decisions(&audio), &labels);
            eprintln!(
                "{name} + {kind} noise at 15 dB SNR: detected {det:.3}, false positives {fp:.3}"
            );
            assert!(det >= 0.75, "{name} {kind}: detected {det:.3}");
            assert!(fp <= 0.05, "{name} {kind}: false positives {fp:.3}");
        }
    }
}

#[test]
fn silence_and_line_noise_are_not_speech() {
    let silence = vec![0i16; 40_000];
    assert_eq!(share(&decisions(&silence)), 0.0);
    let idle = vec![mulaw::decode_sample(0xFE); 40_000];
    assert_eq!(share(&decisions(&idle)), 0.0, "mu-law idle code");
    for level in [-70.0, -60.0, -50.0, -40.0, -30.0] {
        for (kind, noise) in [
            ("white", white_noise(80_000, level, 3)),
            ("pink", pink_noise(80_000, level, 4)),
        ] {
            let fp = share(&decisions(&through_mulaw(&noise)));
            eprintln!("{kind} noise at {level} dBFS: false positives {fp:.3}");
            assert!(fp <= 0.05, "{kind} {level}: {fp:.3}");
        }
    }
}

#[test]
fn noise_floor_follows_a_louder_line_within_seconds() {
    // Quiet line, then the noise jumps by 20 dB (a caller walks into the street).
    let mut noise = white_noise(40_000, -60.0, 11);
    noise.extend(pink_noise(80_000, -40.0, 12));
    let d = decisions(&through_mulaw(&noise));
    let after = &d[250 + 125..]; // 2.5 s after the jump
    eprintln!(
        "after a 20 dB noise step: false positives {:.3}",
        share(after)
    );
    assert!(share(after) <= 0.05);
    assert!(share(&d[..250]) == 0.0);
}

#[test]
fn speech_from_the_first_frame_is_found_once_the_floor_settles() {
    // No silence before the caller speaks; noise under it at 15 dB SNR.
    let speech = fixture_pcm(UTTERANCES[2]);
    let noise = white_noise(speech.len() + 8000, speech_power_dbfs(&speech) - 15.0, 5);
    let (audio, labels) = scene(&speech, 0.0, 0.0, 1.0, &noise);
    let (det, fp) = score(&decisions(&audio), &labels);
    eprintln!("speech from frame 0 with noise: detected {det:.3}, false positives {fp:.3}");
    assert!(det >= 0.7, "{det:.3}");
}

#[test]
fn level_changes_do_not_matter_much() {
    // The same scene 20 dB quieter is detected about as well.
    let speech = fixture_pcm(UTTERANCES[1]);
    let noise = pink_noise(speech.len() + 16_000, -45.0, 21);
    let (loud, labels) = scene(&speech, 0.0, 1.0, 1.0, &noise);
    let quiet_noise: Vec<f64> = noise.iter().map(|x| x * 0.1).collect();
    let (quiet, _) = scene(&speech, -20.0, 1.0, 1.0, &quiet_noise);
    let (a, _) = score(&decisions(&loud), &labels);
    let (b, _) = score(&decisions(&quiet), &labels);
    eprintln!("pink at -45 dBFS: detected {a:.3}; same 20 dB quieter: {b:.3}");
    assert!((a - b).abs() < 0.1, "{a:.3} vs {b:.3}");
}
