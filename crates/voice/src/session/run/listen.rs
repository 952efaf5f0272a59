//! The streaming recogniser's side of the caller's turns. From `SpeechStarted` (with the
//! turn's audio so far, pre-roll included) to the end of the turn every frame goes to the
//! recogniser; the end of the turn commits it, and the turn waits for that transcript
//! instead of uploading the audio. A turn that began before the stream could take it, or
//! after the stream broke, is uploaded whole as before.

use super::Session;
use crate::session::hear::{self, Heard};

impl Session {
    /// The caller's turn began: hand the recogniser what the detector has so far.
    pub(super) fn listen_start(&mut self) {
        let Some(listener) = self.listener.as_mut().filter(|l| l.is_alive()) else {
            return;
        };
        let so_far = audio::mulaw::encode(self.detector.turn_audio());
        for frame in so_far.chunks(audio::FRAME_BYTES) {
            listener.push(frame);
        }
        self.streaming = true;
    }

    /// One more frame of a turn being heard.
    pub(super) fn listen_frame(&mut self, frame: &[u8]) {
        if self.streaming
            && let Some(listener) = self.listener.as_mut()
        {
            listener.push(frame);
        }
    }

    /// The caller's turn ended: commit it (or drop it, when nobody will answer it), and
    /// return its transcript to come; `None` when it was not all streamed.
    pub(super) fn listen_end(&mut self, answered: bool) -> Option<Heard> {
        if !std::mem::take(&mut self.streaming) {
            return None;
        }
        let listener = self.listener.as_mut()?;
        if !answered {
            listener.clear();
            return None;
        }
        listener.commit().map(hear::heard)
    }
}
