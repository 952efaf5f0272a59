//! Turns a text-to-speech stream (any rate, any chunk size) into what Twilio plays:
//! 8 kHz mu-law in whole 20 ms frames. Streaming, so each chunk of synthesized speech can
//! leave as soon as it arrives; the last frame is padded with mu-law silence.

use audio::{FRAME_BYTES, Resampler, SAMPLE_RATE};

use crate::provider::{AudioChunk, ProviderError};

/// Streaming PCM → 8 kHz mu-law frame encoder for one utterance.
#[derive(Debug, Default)]
pub struct MulawEncoder {
    resampler: Option<(u32, Resampler)>,
    at_8k: Vec<i16>,
    pending: Vec<u8>,
}

impl MulawEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Encodes a chunk; returns whole frames (a multiple of 160 bytes, possibly empty).
    pub fn push(&mut self, chunk: &AudioChunk) -> Result<Vec<u8>, ProviderError> {
        if chunk.sample_rate == 0 {
            return Err(ProviderError::Protocol(
                "audio chunk with sample rate 0".into(),
            ));
        }
        self.at_8k.clear();
        if chunk.sample_rate == SAMPLE_RATE {
            self.flush_resampler();
            self.at_8k.extend_from_slice(&chunk.pcm);
        } else {
            if self.resampler.as_ref().map(|(r, _)| *r) != Some(chunk.sample_rate) {
                self.flush_resampler();
                self.resampler = Some((
                    chunk.sample_rate,
                    Resampler::new(chunk.sample_rate, SAMPLE_RATE),
                ));
            }
            if let Some((_, r)) = &mut self.resampler {
                r.process(&chunk.pcm, &mut self.at_8k);
            }
        }
        audio::mulaw::encode_extend(&self.at_8k, &mut self.pending);
        Ok(self.take_frames())
    }

    /// Ends the utterance: the rest, padded to a whole frame.
    pub fn finish(&mut self) -> Vec<u8> {
        self.at_8k.clear();
        self.flush_resampler();
        let mut rest = std::mem::take(&mut self.pending);
        audio::frame::pad_to_frames(&mut rest, FRAME_BYTES);
        rest
    }

    fn flush_resampler(&mut self) {
        if let Some((_, mut r)) = self.resampler.take() {
            let mut tail = Vec::new();
            r.finish(&mut tail);
            audio::mulaw::encode_extend(&tail, &mut self.pending);
        }
    }

    fn take_frames(&mut self) -> Vec<u8> {
        let whole = self.pending.len() / FRAME_BYTES * FRAME_BYTES;
        let rest = self.pending.split_off(whole);
        std::mem::replace(&mut self.pending, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_at_24k_come_out_as_whole_8k_frames_of_the_right_length() {
        let pcm: Vec<i16> = (0..24_000)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let mut e = MulawEncoder::new();
        let mut out = Vec::new();
        for c in pcm.chunks(999) {
            let frames = e
                .push(&AudioChunk {
                    pcm: c.to_vec(),
                    sample_rate: 24_000,
                })
                .unwrap();
            assert_eq!(frames.len() % FRAME_BYTES, 0);
            out.extend(frames);
        }
        out.extend(e.finish());
        assert_eq!(out.len() % FRAME_BYTES, 0);
        assert_eq!(out.len(), 8000, "one second at 8 kHz");
        let reference = audio::mulaw::encode(&audio::resample(&pcm, 24_000, 8000));
        assert_eq!(out, reference);
    }

    #[test]
    fn the_last_frame_is_padded_with_silence() {
        let mut e = MulawEncoder::new();
        let out = e
            .push(&AudioChunk {
                pcm: vec![1000; 100],
                sample_rate: 8000,
            })
            .unwrap();
        assert!(out.is_empty());
        let rest = e.finish();
        assert_eq!(rest.len(), FRAME_BYTES);
        assert_eq!(rest[150], audio::mulaw::SILENCE);
    }

    #[test]
    fn rate_zero_is_refused() {
        let r = MulawEncoder::new().push(&AudioChunk {
            pcm: vec![0; 10],
            sample_rate: 0,
        });
        assert!(r.is_err());
    }
}
