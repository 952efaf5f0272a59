//! Property-based fuzzing of the mu-law and WAV decoders.
//!
//! Both read bytes from outside: mu-law frames from the media socket, WAV files from text-to-
//! speech engines, Twilio recordings and uploaded prompts. Neither may panic on any input,
//! the WAV reader may not allocate more than the input implies (also after resampling to the
//! telephone rate, which is what every caller does next), and what the writers produce the
//! reader gives back exactly. Bounded case counts keep this inside the normal `cargo test`;
//! `MOKDAN_FUZZ_CASES=100000` runs longer.

use audio::{mulaw, wav};
use proptest::prelude::*;

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("MOKDAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// A chunk: a known id (or any four bytes), a size that may lie, and a body.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just(*b"fmt "),
            Just(*b"data"),
            Just(*b"LIST"),
            Just(*b"fact"),
            any::<[u8; 4]>()
        ],
        // The size: honest (the body's length) half the time, else any lie.
        prop_oneof![
            4 => Just(None),
            1 => any::<u32>().prop_map(Some),
            1 => (0..64u32).prop_map(Some),
            1 => Just(Some(u32::MAX)),
            1 => Just(Some(0x7FFF_F000)),
        ],
        prop_oneof![
            // A plausible fmt body: any tag, channels, rate and bits.
            (
                prop_oneof![Just(1u16), Just(3), Just(7), Just(0xFFFE), any::<u16>()],
                prop_oneof![Just(1u16), Just(2), any::<u16>()],
                prop_oneof![
                    Just(8000u32),
                    Just(16000),
                    Just(22050),
                    Just(48000),
                    any::<u32>()
                ],
                prop_oneof![Just(8u16), Just(16), Just(24), Just(32), any::<u16>()],
                prop::collection::vec(any::<u8>(), 0..28),
            )
                .prop_map(|(tag, ch, rate, bits, ext)| {
                    let mut b = Vec::new();
                    b.extend_from_slice(&le16(tag));
                    b.extend_from_slice(&le16(ch));
                    b.extend_from_slice(&le32(rate));
                    b.extend_from_slice(&le32(rate.wrapping_mul(u32::from(ch))));
                    b.extend_from_slice(&le16(ch.wrapping_mul(bits / 8)));
                    b.extend_from_slice(&le16(bits));
                    b.extend_from_slice(&ext);
                    b
                }),
            prop::collection::vec(any::<u8>(), 0..600),
        ],
    )
        .prop_map(|(id, size, body)| {
            let mut c = id.to_vec();
            c.extend_from_slice(&le32(size.unwrap_or(body.len() as u32)));
            c.extend_from_slice(&body);
            c
        })
}

/// Bytes that start like a WAV and then go anywhere.
fn wav_like() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u32>(),
        prop::collection::vec(chunk(), 0..5),
        any::<usize>(),
    )
        .prop_map(|(riff, chunks, cut)| {
            let mut b = b"RIFF".to_vec();
            b.extend_from_slice(&le32(riff));
            b.extend_from_slice(b"WAVE");
            for c in chunks {
                b.extend_from_slice(&c);
            }
            let keep = cut % (b.len() + 1);
            b.truncate(keep.max(b.len().min(12)));
            b
        })
}

/// Reads `bytes` and does what callers do with the result; never panics, never blows up.
fn read_and_use(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(w) = wav::read(bytes) {
        prop_assert!(w.samples.len() <= bytes.len(), "more samples than bytes");
        prop_assert!(w.channels > 0 && w.sample_rate > 0);
        let _ = w.duration();
        let mono = w.to_mono();
        prop_assert!(mono.samples.len() <= w.samples.len());
        // Every caller resamples to the telephone rate next; a lying header must not turn a
        // small file into a huge allocation.
        let telephone = w.mono_at(audio::SAMPLE_RATE);
        prop_assert!(
            telephone.len() <= 16 * (bytes.len() + 1),
            "{} samples at {} Hz became {} at 8 kHz",
            mono.samples.len(),
            w.sample_rate,
            telephone.len()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn mulaw_decodes_any_bytes_and_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let pcm = mulaw::decode(&bytes);
        prop_assert_eq!(pcm.len(), bytes.len());
        let back = mulaw::encode(&pcm);
        // Every code but negative zero (0x7F) comes back exactly.
        let expected: Vec<u8> = bytes.iter().map(|&b| if b == 0x7F { 0xFF } else { b }).collect();
        prop_assert_eq!(&back, &expected);
        // decode ∘ encode is the identity on decoded audio.
        prop_assert_eq!(mulaw::decode(&back), pcm.clone());
        // The buffer variants agree with the allocating ones.
        let mut into = vec![0i16; bytes.len()];
        prop_assert_eq!(mulaw::decode_into(&bytes, &mut into), bytes.len());
        prop_assert_eq!(&into, &pcm);
        let mut ext = Vec::new();
        mulaw::decode_extend(&bytes, &mut ext);
        prop_assert_eq!(&ext, &pcm);
    }

    #[test]
    fn mulaw_encoding_is_close_and_idempotent(pcm in prop::collection::vec(any::<i16>(), 0..1024)) {
        let coded = mulaw::encode(&pcm);
        let decoded = mulaw::decode(&coded);
        for (&x, &y) in pcm.iter().zip(&decoded) {
            // Quantisation error is under 1/16 of the magnitude (plus the smallest step),
            // and never flips the sign.
            let err = (i32::from(x) - i32::from(y)).abs();
            prop_assert!(err <= i32::from(x).abs() / 16 + 8 || i32::from(x).abs() > 32_124, "{x} -> {y}");
            prop_assert!(i32::from(x).signum() * i32::from(y).signum() >= 0, "{x} -> {y}");
        }
        // Re-encoding what was decoded gives the same codes (negative zero comes back positive).
        let positive_zero: Vec<u8> = coded.iter().map(|&b| if b == 0x7F { 0xFF } else { b }).collect();
        prop_assert_eq!(mulaw::encode(&decoded), positive_zero);
        let mut out = vec![0u8; pcm.len() / 2];
        prop_assert_eq!(mulaw::encode_into(&pcm, &mut out), pcm.len() / 2);
        prop_assert_eq!(&out[..], &coded[..pcm.len() / 2]);
    }

    #[test]
    fn wav_reads_any_bytes_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        read_and_use(&bytes)?;
    }

    #[test]
    fn wav_reads_wav_shaped_garbage_without_panicking(bytes in wav_like()) {
        read_and_use(&bytes)?;
    }

    #[test]
    fn wav_with_any_header_fields_is_safe_to_use(
        (tag, bits) in prop::sample::select(vec![(1u16, 8u16), (1, 16), (1, 24), (1, 32), (3, 32), (7, 8), (0xFFFE, 16)]),
        channels in prop_oneof![1..=2u16, any::<u16>()],
        rate in prop_oneof![Just(8000u32), Just(1), 1..1000u32, any::<u32>(), Just(u32::MAX)],
        data in prop::collection::vec(any::<u8>(), 0..800),
    ) {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&le16(tag));
        fmt.extend_from_slice(&le16(channels));
        fmt.extend_from_slice(&le32(rate));
        fmt.extend_from_slice(&le32(rate.wrapping_mul(2)));
        fmt.extend_from_slice(&le16(2));
        fmt.extend_from_slice(&le16(bits));
        if tag == 0xFFFE {
            fmt.extend_from_slice(&[22, 0, 16, 0, 4, 0, 0, 0, 1, 0]);
            fmt.extend_from_slice(&[0; 14]);
        }
        let mut b = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        b.extend_from_slice(&le32(fmt.len() as u32));
        b.extend_from_slice(&fmt);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&le32(data.len() as u32));
        b.extend_from_slice(&data);
        read_and_use(&b)?;
    }

    #[test]
    fn pcm16_wav_round_trips(
        rate in prop_oneof![Just(8000u32), Just(16000), Just(24000), Just(44100), 1000..192_000u32],
        pcm in prop::collection::vec(any::<i16>(), 0..2000),
    ) {
        let bytes = wav::write_pcm16(rate, &pcm);
        let w = wav::read(&bytes).unwrap();
        prop_assert_eq!(w.sample_rate, rate);
        prop_assert_eq!(w.channels, 1);
        prop_assert_eq!(w.samples, pcm);
    }

    #[test]
    fn mulaw_wav_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let file = wav::write_mulaw(8000, &bytes);
        prop_assert_eq!(file.len() % 2, 0);
        let w = wav::read(&file).unwrap();
        prop_assert_eq!(w.sample_rate, 8000);
        prop_assert_eq!(&w.samples, &mulaw::decode(&bytes));
        // And through the telephone path: 8 kHz mono stays as it is.
        prop_assert_eq!(mulaw::encode(&w.mono_at(8000)), mulaw::encode(&mulaw::decode(&bytes)));
    }
}
