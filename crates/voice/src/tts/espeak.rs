//! espeak-ng's Hebrew voice as a child process: the voice a call has when no cloud
//! text-to-speech is configured, and the renderer for fixed prompts. The text goes to the
//! program as one argument (never through a shell), the program is killed if it hangs, and
//! its WAV on stdout is parsed with `audio::wav`.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use audio::Wav;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use tokio::process::Command;

use crate::provider::{AudioChunk, ProviderError, TextToSpeech};

pub use super::{TtsError, to_twilio_wav};

/// The program we run.
pub const PROGRAM: &str = "espeak-ng";
/// Hebrew voice.
pub const VOICE: &str = "he";
/// Words per minute: a calm telephone pace.
pub const SPEED_WPM: u32 = 150;
/// Longest we wait for one synthesis.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// True when `espeak-ng` can be run here.
pub fn available() -> bool {
    std::process::Command::new(PROGRAM)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Speaks Hebrew `text` with espeak-ng and returns its audio (22.05 kHz mono).
pub async fn synthesize(text: &str) -> Result<Wav, TtsError> {
    synthesize_with_timeout(text, TIMEOUT).await
}

/// [`synthesize`] with an explicit time limit.
pub async fn synthesize_with_timeout(text: &str, limit: Duration) -> Result<Wav, TtsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TtsError::EmptyText);
    }
    let mut cmd = Command::new(PROGRAM);
    cmd.arg("-v")
        .arg(VOICE)
        .arg("-s")
        .arg(SPEED_WPM.to_string())
        .arg("--stdout")
        // `--` so text starting with '-' is never read as an option.
        .arg("--")
        .arg(text)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => TtsError::Missing,
        _ => TtsError::Spawn(e),
    })?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| TtsError::Timeout(limit))?
        .map_err(TtsError::Spawn)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(TtsError::Failed {
            status: output.status.to_string(),
            stderr: stderr.chars().take(300).collect(),
        });
    }
    let wav = audio::wav::read(&output.stdout)?;
    Ok(wav)
}

/// espeak-ng as a [`TextToSpeech`] provider: the local voice used when no cloud
/// text-to-speech is configured. espeak-ng renders a sentence in a few milliseconds, so
/// the whole sentence is synthesized and then handed out in ~100 ms chunks.
#[derive(Debug, Clone)]
pub struct EspeakTts {
    timeout: Duration,
}

impl Default for EspeakTts {
    fn default() -> Self {
        Self { timeout: TIMEOUT }
    }
}

impl EspeakTts {
    pub fn new() -> Self {
        Self::default()
    }

    /// With a time limit per sentence other than [`TIMEOUT`].
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { timeout }
    }
}

/// Audio per chunk handed to the turn loop.
pub const CHUNK: Duration = Duration::from_millis(100);

#[async_trait]
impl TextToSpeech for EspeakTts {
    async fn synthesize(
        &self,
        text: &str,
    ) -> Result<BoxStream<'static, Result<AudioChunk, ProviderError>>, ProviderError> {
        let wav = synthesize_with_timeout(text, self.timeout)
            .await
            .map_err(|e| match e {
                TtsError::Timeout(_) => ProviderError::Timeout,
                TtsError::BadAudio(e) => ProviderError::Protocol(e.to_string()),
                other => ProviderError::Unavailable(other.to_string()),
            })?
            .to_mono();
        let rate = wav.sample_rate;
        let per_chunk = (u128::from(rate) * CHUNK.as_millis() / 1000).max(1) as usize;
        let chunks: Vec<_> = wav
            .samples
            .chunks(per_chunk)
            .map(|c| {
                Ok(AudioChunk {
                    pcm: c.to_vec(),
                    sample_rate: rate,
                })
            })
            .collect();
        Ok(stream::iter(chunks).boxed())
    }

    fn name(&self) -> &'static str {
        "espeak"
    }

    fn voice_id(&self) -> String {
        format!("{PROGRAM}:{VOICE}:{SPEED_WPM}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn provider_streams_100ms_chunks_of_the_same_audio() {
        let text = "מה השם שלך?";
        let whole = synthesize(text).await.unwrap();
        let chunks: Vec<AudioChunk> = EspeakTts::new()
            .synthesize(text)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert!(chunks.len() > 3);
        assert!(chunks.iter().all(|c| c.sample_rate == whole.sample_rate));
        let per = (whole.sample_rate / 10) as usize;
        assert!(
            chunks[..chunks.len() - 1]
                .iter()
                .all(|c| c.pcm.len() == per)
        );
        let joined: Vec<i16> = chunks.into_iter().flat_map(|c| c.pcm).collect();
        assert_eq!(joined, whole.samples);
    }

    #[tokio::test]
    async fn provider_reports_empty_text_as_unavailable() {
        let r = EspeakTts::new().synthesize("").await;
        assert!(matches!(r, Err(ProviderError::Unavailable(_))));
    }

    fn voiced_ms(wav: &Wav) -> u64 {
        let mono = wav.to_mono();
        let win = (mono.sample_rate / 50) as usize; // 20 ms
        let loud = mono
            .samples
            .chunks(win)
            .filter(|c| c.iter().map(|s| i32::from(*s).abs()).max().unwrap_or(0) > 1000)
            .count();
        loud as u64 * 20
    }

    #[tokio::test]
    async fn hebrew_text_yields_half_a_second_of_speech() {
        assert!(available(), "espeak-ng must be installed for these tests");
        let wav = synthesize("שלום, הגעתם למשרד. איך אפשר לעזור?")
            .await
            .unwrap();
        assert_eq!(wav.channels, 1);
        assert!(
            wav.duration() >= Duration::from_millis(500),
            "{:?}",
            wav.duration()
        );
        assert!(voiced_ms(&wav) >= 500, "voiced {} ms", voiced_ms(&wav));
    }

    #[tokio::test]
    async fn text_that_looks_like_an_option_is_spoken_not_parsed() {
        let wav = synthesize("--version שלום").await.unwrap();
        assert!(voiced_ms(&wav) > 200);
    }

    #[tokio::test]
    async fn empty_text_is_an_error() {
        assert!(matches!(synthesize("  ").await, Err(TtsError::EmptyText)));
    }

    #[tokio::test]
    async fn twilio_wav_is_8k_mulaw_of_the_same_length() {
        let wav = synthesize("תודה רבה").await.unwrap();
        let file = super::super::to_twilio_wav(&wav);
        assert_eq!(&file[0..4], b"RIFF");
        // format tag 7 = mu-law
        assert_eq!(u16::from_le_bytes([file[20], file[21]]), 7);
        let back = audio::wav::read(&file).unwrap();
        assert_eq!(back.sample_rate, 8000);
        assert_eq!(back.channels, 1);
        let diff = back.duration().as_millis() as i64 - wav.duration().as_millis() as i64;
        assert!(
            diff.abs() <= 2,
            "{:?} vs {:?}",
            back.duration(),
            wav.duration()
        );
        assert!(voiced_ms(&back) >= 200);
    }
}
