//! Splits a long recording into pieces of at most about a minute, cutting at silences.
//!
//! Speech-to-text services limit upload sizes and degrade on long inputs, and a cut in the
//! middle of a word loses that word. So the recording is cut where the voice-activity
//! detector hears nobody: within each window of `[max/3, max]` after the previous cut, in
//! the middle of the longest pause. Only when a window has no pause at all is it cut hard
//! at `max`. Pieces where nobody speaks are marked, so they need not be sent.

use std::ops::Range;
use std::time::Duration;

/// One piece of the recording, in samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub range: Range<usize>,
    /// Whether the detector heard speech anywhere in it.
    pub speech: bool,
}

/// Cuts `pcm` (mono, `rate` Hz) into pieces of at most `max`, at silences where possible.
pub fn at_silences(pcm: &[i16], rate: u32, max: Duration) -> Vec<Piece> {
    let frame = (rate as usize / 50).max(1);
    let mut vad = audio::Vad::new(audio::VadConfig {
        sample_rate: rate,
        ..audio::VadConfig::default()
    });
    let speech: Vec<bool> = pcm.chunks(frame).map(|f| vad.is_speech(f)).collect();
    let max_frames = ((max.as_secs_f64() * 50.0) as usize).max(3);
    let min_frames = max_frames / 3;
    let mut pieces = Vec::new();
    let mut start = 0usize;
    while start < speech.len() {
        let end = if speech.len() - start <= max_frames {
            speech.len()
        } else {
            cut_in(&speech, start + min_frames, start + max_frames).unwrap_or(start + max_frames)
        };
        pieces.push(Piece {
            range: (start * frame)..(end * frame).min(pcm.len()),
            speech: speech[start..end].iter().any(|s| *s),
        });
        start = end;
    }
    pieces
}

/// The middle of the longest run of silent frames within `[from, to)`.
fn cut_in(speech: &[bool], from: usize, to: usize) -> Option<usize> {
    let end = to.min(speech.len());
    let mut best: Option<(usize, usize)> = None;
    let mut run_start = None;
    // One extra "speech" frame at the end closes a trailing run of silence.
    let frames = speech[..end].iter().copied().chain(std::iter::once(true));
    for (i, is_speech) in frames.enumerate().skip(from) {
        match (!is_speech, run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(s)) => {
                if best.is_none_or(|(bs, be)| i - s > be - bs) {
                    best = Some((s, i));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    best.map(|(s, e)| s + (e - s) / 2).filter(|c| *c > from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Speech": bursts of noise 300 ms on, 100 ms off, for `secs`.
    fn talk(out: &mut Vec<i16>, secs: f64) {
        let mut seed = 0x1234_5678u32;
        let n = (secs * 8000.0) as usize;
        for i in 0..n {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let on = (i % 3200) < 2400;
            let noise = ((seed >> 16) as i16) / 4;
            out.push(if on { noise } else { 0 });
        }
    }

    fn pause(out: &mut Vec<i16>, secs: f64) {
        out.extend(std::iter::repeat_n(0i16, (secs * 8000.0) as usize));
    }

    #[test]
    fn short_audio_is_one_piece() {
        let mut pcm = Vec::new();
        talk(&mut pcm, 5.0);
        let pieces = at_silences(&pcm, 8000, Duration::from_secs(60));
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].range, 0..pcm.len());
        assert!(pieces[0].speech);
    }

    #[test]
    fn long_audio_is_cut_inside_the_pauses() {
        // 40 s talk, 2 s pause, 40 s talk, 2 s pause, 40 s talk: 124 s.
        let mut pcm = Vec::new();
        talk(&mut pcm, 40.0);
        pause(&mut pcm, 2.0);
        talk(&mut pcm, 40.0);
        pause(&mut pcm, 2.0);
        talk(&mut pcm, 40.0);
        let pieces = at_silences(&pcm, 8000, Duration::from_secs(60));
        assert_eq!(pieces.len(), 3, "{pieces:?}");
        let secs = |s: usize| s as f64 / 8000.0;
        assert!(
            (40.0..42.0).contains(&secs(pieces[0].range.end)),
            "{pieces:?}"
        );
        assert!(
            (82.0..84.0).contains(&secs(pieces[1].range.end)),
            "{pieces:?}"
        );
        assert_eq!(pieces[2].range.end, pcm.len());
        for w in pieces.windows(2) {
            assert_eq!(w[0].range.end, w[1].range.start);
        }
        assert!(
            pieces
                .iter()
                .all(|p| p.speech && p.range.len() <= 60 * 8000)
        );
    }

    #[test]
    fn no_pause_means_a_hard_cut_at_the_limit() {
        let mut pcm = Vec::new();
        talk(&mut pcm, 130.0);
        let pieces = at_silences(&pcm, 8000, Duration::from_secs(60));
        assert!(pieces.len() >= 3);
        assert!(pieces.iter().all(|p| p.range.len() <= 60 * 8000));
    }

    #[test]
    fn silence_is_marked() {
        let mut pcm = Vec::new();
        pause(&mut pcm, 3.0);
        let pieces = at_silences(&pcm, 8000, Duration::from_secs(60));
        assert_eq!(pieces.len(), 1);
        assert!(!pieces[0].speech);
    }
}
