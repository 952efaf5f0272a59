//! The whole-call recording: caller and agent mixed on one track, as Twilio's call
//! recording gives it to the server for offline transcription.
//!
//! Positions follow the caller's frame count (one frame per tick whatever verb runs),
//! so the two voices stay aligned even when the sim runs faster than real time.

use audio::FRAME_BYTES;

#[derive(Debug, Default)]
pub(crate) struct Mixer {
    samples: Vec<i32>,
    agent_at: usize,
}

impl Mixer {
    pub(crate) fn caller(&mut self, frame: &[u8]) {
        self.samples
            .extend(frame.iter().map(|&b| i32::from(audio::mulaw::decode_sample(b))));
    }

    pub(crate) fn agent(&mut self, frame: &[u8]) {
        let floor = self.samples.len().saturating_sub(FRAME_BYTES);
        let at = self.agent_at.max(floor);
        if self.samples.len() < at + frame.len() {
            self.samples.resize(at + frame.len(), 0);
        }
        for (i, &b) in frame.iter().enumerate() {
            self.samples[at + i] += i32::from(audio::mulaw::decode_sample(b));
        }
        self.agent_at = at + frame.len();
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.samples
            .into_iter()
            .map(|s| audio::mulaw::encode_sample(s.clamp(-32_768, 32_767) as i16))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_both_voices_in_step() {
        let mut m = Mixer::default();
        let loud = audio::mulaw::encode_sample(8000);
        m.caller(&[loud; FRAME_BYTES]);
        m.agent(&[loud; FRAME_BYTES]);
        m.caller(&[audio::mulaw::SILENCE; FRAME_BYTES]);
        let out = m.finish();
        assert_eq!(out.len(), 2 * FRAME_BYTES);
        let first = audio::mulaw::decode_sample(out[0]);
        assert!(first > 14_000, "{first}");
    }
}
