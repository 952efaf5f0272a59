//! Text-to-speech that runs on this machine, so a call has a voice with no provider keys,
//! and so fixed prompts (the fallback's "please leave a message") can be rendered to the
//! 8 kHz mu-law files Twilio's `<Play>` fetches (Twilio's `<Say>` cannot speak Hebrew).

pub mod espeak;

use audio::Wav;

/// Why local speech synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// The `espeak-ng` program is not installed (or not on `PATH`).
    #[error("espeak-ng is not installed or not on PATH (install the espeak-ng package)")]
    Missing,
    /// Running the program failed for another reason.
    #[error("could not run espeak-ng: {0}")]
    Spawn(#[source] std::io::Error),
    /// The program ran longer than allowed.
    #[error("espeak-ng timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// The program exited with a failure status.
    #[error("espeak-ng failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    /// The program's output was not a WAV we can read.
    #[error("espeak-ng produced unreadable audio: {0}")]
    BadAudio(#[from] audio::WavError),
    /// Nothing to say.
    #[error("no text to synthesize")]
    EmptyText,
}

/// Renders audio as the file Twilio's `<Play>` fetches: mono, 8 kHz, G.711 mu-law WAV.
pub fn to_twilio_wav(wav: &Wav) -> Vec<u8> {
    let pcm = wav.mono_at(audio::SAMPLE_RATE);
    audio::wav::write_mulaw(audio::SAMPLE_RATE, &audio::mulaw::encode(&pcm))
}
