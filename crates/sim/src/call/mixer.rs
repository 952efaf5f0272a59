//! The whole-call recording: caller and agent mixed on one track, as Twilio's call
//! recording gives it to the server for offline transcription.
//!
//! Positions follow the caller's frame count (one frame per tick whatever verb runs),
//! so the two voices stay aligned even when the sim runs faster than real time.

use audio::FRAME_BYTES;

#[derive(Debug, Default)]
pub(crate) struct Mixer {
    caller: Vec<i16>,
    agent: Vec<i16>,
    caller_at: usize,
    agent_at: usize,
}

fn add(track: &mut Vec<i16>, at: usize, frame: &[u8]) {
    if track.len() < at + frame.len() {
        track.resize(at + frame.len(), 0);
    }
    for (i, &b) in frame.iter().enumerate() {
        let mixed = i32::from(track[at + i]) + i32::from(audio::mulaw::decode_sample(b));
        track[at + i] = mixed.clamp(-32_768, 32_767) as i16;
    }
}

impl Mixer {
    pub(crate) fn caller(&mut self, frame: &[u8]) {
        add(&mut self.caller, self.caller_at, frame);
        self.caller_at += frame.len();
    }

    /// Agent audio heard during the caller's current frame; consecutive agent frames
    /// follow each other and never fall behind the caller's clock.
    pub(crate) fn agent(&mut self, frame: &[u8]) {
        let at = self
            .agent_at
            .max(self.caller_at.saturating_sub(FRAME_BYTES));
        add(&mut self.agent, at, frame);
        self.agent_at = at + frame.len();
    }

    /// Both voices on one track, as mu-law.
    pub(crate) fn finish(self) -> Vec<u8> {
        let len = self.caller.len().max(self.agent.len());
        (0..len)
            .map(|i| {
                let c = i32::from(self.caller.get(i).copied().unwrap_or(0));
                let a = i32::from(self.agent.get(i).copied().unwrap_or(0));
                audio::mulaw::encode_sample((c + a).clamp(-32_768, 32_767) as i16)
            })
            .collect()
    }

    /// Each voice on its own track (caller, agent), aligned, as 16-bit samples: what a
    /// dual-channel recording keeps.
    pub(crate) fn finish_dual(self) -> (Vec<i16>, Vec<i16>) {
        (self.caller, self.agent)
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
        // Agent audio running ahead of the caller does not shift the caller's track.
        m.agent(&[loud; FRAME_BYTES]);
        m.caller(&[audio::mulaw::SILENCE; FRAME_BYTES]);
        m.caller(&[loud; FRAME_BYTES]);
        let out = m.finish();
        assert_eq!(out.len(), 3 * FRAME_BYTES);
        let last = audio::mulaw::decode_sample(out[2 * FRAME_BYTES]);
        assert!((7000..9000).contains(&last), "{last}");
        let first = audio::mulaw::decode_sample(out[0]);
        assert!(first > 14_000, "{first}");
    }
}
