//! The WAV reader on files real tools wrote: sox's 8 kHz mu-law (format 7, `fact`
//! chunk, odd data length with a pad byte) and espeak-ng's streaming header on stdout.

mod common;

use audio::{frame, mulaw, wav};
use common::*;

#[test]
fn reads_sox_mulaw_fixtures() {
    for name in UTTERANCES {
        let bytes = fixture_bytes(name);
        let w = wav::read(&bytes).unwrap();
        assert_eq!((w.sample_rate, w.channels), (8000, 1), "{name}");
        // Mu-law data is one byte per sample; the file is the header plus that (+ pad).
        assert!(bytes.len() - w.samples.len() <= 60, "{name}");
        assert!(w.duration().as_secs_f64() > 2.0, "{name}");
        // Writing it back as mu-law reproduces the samples exactly.
        let again = wav::read(&wav::write_mulaw(8000, &mulaw::encode(&w.samples))).unwrap();
        assert_eq!(again.samples, w.samples, "{name}");
        // And as PCM16.
        let pcm = wav::read(&wav::write_pcm16(8000, &w.samples)).unwrap();
        assert_eq!(pcm, w, "{name}");
    }
}

#[test]
fn reads_espeak_stdout_streaming_header() {
    let bytes = fixture_bytes("espeak_stdout_ken_22k.wav");
    // The data size field is the streaming placeholder, far beyond the file.
    let declared = u32::from_le_bytes(bytes[40..44].try_into().unwrap());
    assert!(declared as usize > bytes.len());
    let w = wav::read(&bytes).unwrap();
    assert_eq!((w.sample_rate, w.channels), (22050, 1));
    assert_eq!(w.samples.len(), (bytes.len() - 44) / 2);
    // To Twilio: 8 kHz frames, the speech still audible after resampling.
    let frames = frame::pcm_to_mulaw_frames(&w.samples, w.sample_rate);
    let expected = (w.samples.len() as u64 * 8000)
        .div_ceil(22050)
        .div_ceil(160);
    assert_eq!(frames.len() as u64, expected);
    let loudest = frames
        .iter()
        .map(|f| audio::vad::energy_dbfs(&mulaw::decode(f)))
        .fold(f32::MIN, f32::max);
    assert!(loudest > -30.0, "{loudest}");
}
