//! Telephone audio for mokdan, in one dependency-light crate so that the live call path
//! (Twilio Media Streams: mu-law, 8 kHz, 20 ms frames) and the offline tools (the
//! simulator, the recording fallback, benchmarks) share one tested implementation of
//! G.711, resampling, WAV, framing/pacing, voice activity and end of turn.
//!
//! Everything here is pure Rust with no model downloads and no I/O, so it runs the same
//! in tests, in the simulator and in production.
#![forbid(unsafe_code)]

mod dsp;
pub mod frame;
pub mod mulaw;
pub mod resample;
pub mod turn;
pub mod vad;
pub mod wav;
pub use frame::{FRAME_BYTES, FRAME_MS, Pacer, SAMPLE_RATE, chunk_mulaw, chunk_mulaw_padded};
pub use resample::{Resampler, resample};
pub use turn::{TurnConfig, TurnDetector, TurnEndReason, TurnEvent};
pub use vad::{Vad, VadConfig, VadFrame};
pub use wav::{Wav, WavError};
