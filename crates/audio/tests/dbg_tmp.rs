mod common;
use common::*;
fn cfg(strong: f32, weak: f32, sus: f32) -> audio::VadConfig {
    audio::VadConfig { strong_margin_db: strong, weak_margin_db: weak, sustained_margin_db: sus, ..Default::default() }
}
fn dec(a: &[i16], c: &audio::VadConfig) -> Vec<bool> {
    let mut v = audio::Vad::new(c.clone());
    a.chunks(FRAME).map(|f| v.is_speech(f)).collect()
}
#[test]
fn scan() {
    let mut noises = vec![];
    for seed in 1..6u64 {
        for level in [-55.0, -40.0] {
            for n in [white_noise(80000, level, seed), pink_noise(80000, level, seed + 10)] {
                let a: Vec<i16> = n.iter().map(|&x| x as i16).collect();
                noises.push(audio::mulaw::decode(&audio::mulaw::encode(&a)));
            }
        }
    }
    let mut scenes = vec![];
    for name in UTTERANCES {
        let speech = fixture_pcm(name);
        let nl = speech_power_dbfs(&speech) - 15.0;
        for seed in 1..3 {
            for n in [white_noise(speech.len() + 16000, nl, seed), pink_noise(speech.len() + 16000, nl, seed + 5)] {
                scenes.push(scene(&speech, 0.0, 1.0, 1.0, &n));
            }
        }
        scenes.push(scene(&speech, -20.0, 1.0, 1.0, &[]));
    }
    for strong in [6.5f32, 7.0, 8.0] {
        for weak in [2.5f32, 3.0, 3.5] {
            for sus in [4.5f32, 5.0, 5.5, 6.0] {
                let c = cfg(strong, weak, sus);
                let fp: Vec<f64> = noises.iter().map(|a| { let d = dec(a, &c); d.iter().filter(|&&x| x).count() as f64 / d.len() as f64 }).collect();
                let fpmax = fp.iter().cloned().fold(0.0, f64::max);
                let fpmean = fp.iter().sum::<f64>() / fp.len() as f64;
                let dets: Vec<(f64, f64)> = scenes.iter().map(|(a, l)| score(&dec(a, &c), l)).collect();
                let dmin = dets.iter().map(|d| d.0).fold(1.0, f64::min);
                let dmean = dets.iter().map(|d| d.0).sum::<f64>() / dets.len() as f64;
                let sfp = dets.iter().map(|d| d.1).fold(0.0, f64::max);
                eprintln!("SCAN strong {strong} weak {weak} sus {sus}: noise fp max {fpmax:.3} mean {fpmean:.4} | det min {dmin:.3} mean {dmean:.3} scene fp max {sfp:.3}");
            }
        }
    }
}
