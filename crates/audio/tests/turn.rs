//! End-of-turn detection on the espeak-ng Hebrew fixtures: one event pair per utterance,
//! timely ends, clicks ignored, long monologues capped, words not clipped.

mod common;

use std::time::Duration;

use audio::{TurnConfig, TurnDetector, TurnEndReason, TurnEvent, mulaw};
use common::*;

/// Pushes 20 ms frames; returns (frame index, event) pairs.
fn run(det: &mut TurnDetector, audio: &[i16]) -> Vec<(usize, TurnEvent)> {
    audio
        .chunks(FRAME)
        .enumerate()
        .filter_map(|(i, f)| det.push(f).map(|e| (i, e)))
        .collect()
}

fn speech_span(labels: &[bool]) -> (usize, usize) {
    (
        labels.iter().position(|&l| l).unwrap(),
        labels.iter().rposition(|&l| l).unwrap(),
    )
}

#[test]
fn one_utterance_gives_one_start_and_one_timely_end() {
    for name in UTTERANCES {
        let speech = fixture_pcm(name);
        let n = speech.len() + 8000 + 12000;
        for (kind, noise) in [
            ("clean", vec![]),
            (
                "white 15 dB",
                white_noise(n, speech_power_dbfs(&speech) - 15.0, 1),
            ),
        ] {
            let (audio_scene, labels) = scene(&speech, 0.0, 1.0, 1.5, &noise);
            let (first, last) = speech_span(&labels);
            let mut det = TurnDetector::new(TurnConfig::default());
            let events = run(&mut det, &audio_scene);
            assert_eq!(
                events.len(),
                2,
                "{name} {kind}: {:?}",
                events.iter().map(|e| e.0).collect::<Vec<_>>()
            );
            let (start_at, ref start) = events[0];
            assert_eq!(*start, TurnEvent::SpeechStarted, "{name} {kind}");
            let (
                end_at,
                TurnEvent::TurnEnded {
                    ref audio,
                    speech_ms,
                    reason,
                },
            ) = events[1]
            else {
                panic!("{name} {kind}: second event is not TurnEnded");
            };
            assert_eq!(reason, TurnEndReason::Silence);
            // Barge-in fires after min_speech (15 frames) but well before the end.
            assert!(
                start_at >= first + 14 && start_at <= first + 40,
                "{name} {kind}: started at {start_at}, speech from {first}"
            );
            // The end comes end_silence (25 frames) after the speech, plus at most one frame.
            let delay = end_at as i64 - last as i64;
            eprintln!(
                "{name} {kind}: speech frames {first}..={last}, SpeechStarted at +{} ms, TurnEnded {} ms after speech, speech_ms {speech_ms}",
                (start_at - first) * 20,
                delay * 20
            );
            assert!(
                (20..=26).contains(&delay),
                "{name} {kind}: ended {delay} frames after speech"
            );
            // The audio covers the whole utterance with pre-roll, and not much more.
            let turn_audio = &audio[..];
            let start = (0..=end_at)
                .find(|&f| {
                    audio_scene.get(f * FRAME..f * FRAME + turn_audio.len()) == Some(turn_audio)
                })
                .expect("turn audio is a slice of the call");
            let end = start + turn_audio.len() / FRAME;
            assert!(
                start <= first && start + 12 >= first,
                "{name} {kind}: audio starts at frame {start}, speech at {first}"
            );
            assert!(
                end > last && end <= last + 12,
                "{name} {kind}: audio ends at frame {end}, speech at {last}"
            );
            let span_ms = (last + 1 - first) as u32 * 20;
            assert!(
                speech_ms >= span_ms * 6 / 10 && speech_ms <= span_ms,
                "{name} {kind}: speech_ms {speech_ms} of {span_ms}"
            );
        }
    }
}

#[test]
fn clicks_and_coughs_do_not_count() {
    let mut rng = Rng::new(99);
    let mut audio = vec![0i16; 8000];
    for _ in 0..5 {
        // 100 ms of loud broadband noise, then a second of quiet.
        audio.extend((0..800).map(|_| (rng.gauss() * 8000.0) as i16));
        audio.extend(std::iter::repeat_n(0, 8000));
    }
    let mut det = TurnDetector::new(TurnConfig::default());
    assert_eq!(
        run(&mut det, &mulaw::decode(&mulaw::encode(&audio))),
        vec![]
    );
    // A 100 ms syllable of real speech alone does not count either.
    let speech = fixture_pcm(UTTERANCES[0]);
    let labels = oracle_labels(&speech);
    let (first, _) = speech_span(&labels);
    let mut blip = vec![0i16; 8000];
    blip.extend_from_slice(&speech[first * FRAME..(first + 5) * FRAME]);
    blip.extend(std::iter::repeat_n(0, 8000));
    let mut det = TurnDetector::new(TurnConfig::default());
    assert_eq!(run(&mut det, &blip), vec![]);
    assert!(!det.in_turn());
}

#[test]
fn max_turn_caps_a_long_monologue() {
    // Utterances back to back with 200 ms pauses: about 20 s of talk with no end.
    let mut talk = vec![0i16; 8000];
    while talk.len() < 8000 * 21 {
        for name in UTTERANCES {
            let speech = fixture_pcm(name);
            let (first, last) = speech_span(&oracle_labels(&speech));
            talk.extend_from_slice(&speech[first * FRAME..(last + 1) * FRAME]);
            talk.extend(std::iter::repeat_n(0, 1600));
        }
    }
    talk.extend(std::iter::repeat_n(0, 16000));
    let mut det = TurnDetector::new(TurnConfig::default());
    let events = run(&mut det, &talk);
    let kinds: Vec<_> = events
        .iter()
        .map(|(i, e)| match e {
            TurnEvent::SpeechStarted => (*i, "start", 0),
            TurnEvent::TurnEnded { audio, reason, .. } => (
                *i,
                if *reason == TurnEndReason::MaxLength {
                    "max"
                } else {
                    "silence"
                },
                audio.len(),
            ),
        })
        .collect();
    eprintln!("{kinds:?}");
    assert_eq!(kinds[0].1, "start");
    assert_eq!(kinds[1].1, "max");
    assert_eq!(kinds[1].2, 15 * 8000, "capped at max_turn");
    assert_eq!(kinds[2].1, "start", "the caller keeps talking: a new turn");
    assert_eq!(kinds.last().unwrap().1, "silence");
    assert_eq!(kinds.len(), 4);

    let short = TurnConfig {
        max_turn: Duration::from_secs(2),
        ..TurnConfig::default()
    };
    let mut det = TurnDetector::new(short);
    let ends = run(&mut det, &talk)
        .into_iter()
        .filter(|(_, e)| {
            matches!(
                e,
                TurnEvent::TurnEnded {
                    reason: TurnEndReason::MaxLength,
                    ..
                }
            )
        })
        .count();
    assert!(ends >= 8, "{ends}");
}

#[test]
fn two_utterances_make_two_turns_and_mulaw_input_matches() {
    let mut audio = vec![0i16; 4000];
    audio.extend(fixture_pcm(UTTERANCES[0]));
    audio.extend(std::iter::repeat_n(0, 8000));
    audio.extend(fixture_pcm(UTTERANCES[1]));
    audio.extend(std::iter::repeat_n(0, 8000));
    let mut det = TurnDetector::new(TurnConfig::default());
    let events = run(&mut det, &audio);
    let ends: Vec<u32> = events
        .iter()
        .filter_map(|(_, e)| match e {
            TurnEvent::TurnEnded { speech_ms, .. } => Some(*speech_ms),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 4, "{ends:?}");
    assert_eq!(ends.len(), 2);

    // The same audio as Twilio mu-law frames gives the same events.
    let ulaw = mulaw::encode(&audio);
    let decoded = mulaw::decode(&ulaw);
    let mut a = TurnDetector::new(TurnConfig::default());
    let mut b = TurnDetector::new(TurnConfig::default());
    let from_pcm = run(&mut a, &decoded);
    let from_ulaw: Vec<_> = ulaw
        .chunks(FRAME)
        .enumerate()
        .filter_map(|(i, f)| b.push_mulaw(f).map(|e| (i, e)))
        .collect();
    assert_eq!(from_pcm, from_ulaw);
}

#[test]
fn reset_drops_a_turn_in_progress() {
    let speech = fixture_pcm(UTTERANCES[2]);
    let mut audio = vec![0i16; 4000];
    audio.extend_from_slice(&speech[..speech.len() / 2]);
    let mut det = TurnDetector::new(TurnConfig::default());
    let events = run(&mut det, &audio);
    assert_eq!(events.len(), 1);
    assert!(det.in_turn());
    det.reset();
    assert!(!det.in_turn());
    let events = run(&mut det, &vec![0i16; 16000]);
    assert_eq!(events, vec![]);
}

#[test]
fn the_end_silence_can_change_mid_call() {
    let speech = fixture_pcm(UTTERANCES[0]);
    let mut audio = vec![0i16; 4000];
    audio.extend_from_slice(&speech);
    audio.extend(vec![0i16; 16000]);
    let last = speech_span(&oracle_labels(&audio)).1;
    let mut ends = vec![];
    for ms in [350u64, 500, 1200] {
        let mut det = TurnDetector::new(TurnConfig::default());
        det.set_end_silence(Duration::from_millis(ms));
        assert_eq!(det.config().end_silence, Duration::from_millis(ms));
        let events = run(&mut det, &audio);
        let (end_at, TurnEvent::TurnEnded { .. }) = events[1] else {
            panic!("{ms} ms: {events:?}")
        };
        ends.push(end_at as i64 - last as i64);
    }
    // Each ends its own silence after the speech (in 20 ms frames, ±1 for the VAD).
    for (delay, frames) in ends.iter().zip([17i64, 25, 60]) {
        assert!(
            (frames - 5..=frames + 2).contains(delay),
            "ended {delay} frames after speech, expected about {frames}: {ends:?}"
        );
    }
}

/// What a streaming recogniser is handed at `SpeechStarted` (the turn so far) followed by
/// every later frame holds the turn's audio from its first sample: nothing before the start
/// of speech is lost.
#[test]
fn the_turn_so_far_at_speech_started_begins_the_turn_audio() {
    let speech = fixture_pcm(UTTERANCES[0]);
    let (audio_scene, _) = scene(&speech, 0.0, 1.0, 1.5, &[]);
    let mut det = TurnDetector::new(TurnConfig::default());
    assert!(det.turn_audio().is_empty());
    let mut streamed: Option<Vec<i16>> = None;
    for frame in audio_scene.chunks(FRAME) {
        match det.push(frame) {
            Some(TurnEvent::SpeechStarted) => streamed = Some(det.turn_audio().to_vec()),
            Some(TurnEvent::TurnEnded { audio, .. }) => {
                let streamed = streamed.take().expect("SpeechStarted came first");
                assert!(streamed.len() >= 15 * FRAME, "min_speech and pre-roll");
                // Everything handed over at the end is what was streamed (which goes on
                // through the trailing silence the turn's audio trims).
                assert!(streamed.len() >= audio.len());
                assert_eq!(&streamed[..audio.len()], &audio[..]);
                assert!(det.turn_audio().is_empty(), "idle again");
                return;
            }
            None => {
                if let Some(s) = streamed.as_mut() {
                    s.extend_from_slice(frame);
                }
            }
        }
    }
    panic!("no turn");
}
