//! Making a prompt's audio: the configured text-to-speech (the voice callers hear on live
//! calls), else the local espeak-ng voice, else a recording bundled in the binary (V2).
//!
//! Whatever the source, the result is the file Twilio's `<Play>` fetches: mono 8 kHz
//! G.711 mu-law WAV. A failing provider is logged and skipped, never an error to Twilio.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use voice::TextToSpeech;

use super::text;

/// The longest a provider may take over one prompt before the next source is tried: short
/// enough that espeak-ng still answers inside Twilio's fetch of the `<Play>` URL.
const PROVIDER_LIMIT: Duration = Duration::from_secs(8);

/// Where a prompt's audio came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The configured text-to-speech (or its cached audio).
    Provider,
    /// The local espeak-ng voice, because the configured one failed.
    Espeak,
    /// A recording bundled in the binary: the last resort.
    Bundled,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Provider => "provider",
            Source::Espeak => "espeak",
            Source::Bundled => "bundled",
        }
    }
}

/// Bundled audio for the standard prompts: the last resort.
pub fn bundled(text: &str) -> Option<&'static [u8]> {
    Some(match text {
        text::FALLBACK => include_bytes!("../../assets/prompts/fallback.wav"),
        text::UNKNOWN_NUMBER => include_bytes!("../../assets/prompts/unknown_number.wav"),
        text::GOODBYE => include_bytes!("../../assets/prompts/goodbye.wav"),
        text::APOLOGY => include_bytes!("../../assets/prompts/apology.wav"),
        _ => return None,
    })
}

/// The sources a prompt is made from, in order.
pub struct Maker {
    pub tts: Arc<dyn TextToSpeech>,
    /// Whether espeak-ng is installed (the second source).
    pub espeak: bool,
}

impl Maker {
    /// The prompt as a Twilio-playable WAV and where it came from; `None` only when every
    /// source failed and no recording is bundled for this text.
    pub async fn make(&self, text: &str) -> Option<(Vec<u8>, Source)> {
        let provider = self.tts.name();
        match voice::provider::with_timeout(PROVIDER_LIMIT, speak(self.tts.as_ref(), text)).await {
            Ok(wav) => return Some((wav, Source::Provider)),
            Err(e) => {
                crate::telemetry::count_error("prompt_tts");
                tracing::warn!(provider, error = %e, "PROMPT_TTS failed: trying the next voice");
            }
        }
        if self.espeak && provider != "espeak" {
            match voice::tts::espeak::synthesize(text).await {
                Ok(wav) => return Some((voice::tts::espeak::to_twilio_wav(&wav), Source::Espeak)),
                Err(e) => tracing::warn!(error = %e, "PROMPT_TTS espeak-ng failed"),
            }
        }
        match bundled(text) {
            Some(b) => {
                tracing::warn!(provider, "PROMPT_TTS: serving the bundled recording");
                Some((b.to_vec(), Source::Bundled))
            }
            None => {
                tracing::error!(provider, "PROMPT_TTS: no voice could say this prompt");
                None
            }
        }
    }
}

/// Synthesizes `text` with `tts` and renders it as an 8 kHz mu-law WAV.
async fn speak(tts: &dyn TextToSpeech, text: &str) -> Result<Vec<u8>, voice::ProviderError> {
    let mut stream = tts.synthesize(text).await?;
    let mut pcm8k: Vec<i16> = Vec::new();
    let mut resampler: Option<(u32, audio::resample::Resampler)> = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        match &mut resampler {
            Some((rate, r)) if *rate == chunk.sample_rate => r.process(&chunk.pcm, &mut pcm8k),
            Some((rate, _)) => {
                return Err(voice::ProviderError::Protocol(format!(
                    "sample rate changed from {rate} to {} Hz",
                    chunk.sample_rate
                )));
            }
            None => {
                if chunk.sample_rate == 0 {
                    return Err(voice::ProviderError::Protocol("sample rate 0".into()));
                }
                let mut r = audio::resample::Resampler::new(chunk.sample_rate, audio::SAMPLE_RATE);
                r.process(&chunk.pcm, &mut pcm8k);
                resampler = Some((chunk.sample_rate, r));
            }
        }
    }
    if let Some((_, r)) = &mut resampler {
        r.finish(&mut pcm8k);
    }
    if pcm8k.is_empty() {
        return Err(voice::ProviderError::Protocol("no audio".into()));
    }
    Ok(audio::wav::write_mulaw(
        audio::SAMPLE_RATE,
        &audio::mulaw::encode(&pcm8k),
    ))
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use futures::stream::BoxStream;
    use voice::{AudioChunk, ProviderError};

    use super::*;

    /// A voice that answers a 24 kHz tone in two chunks, or fails.
    struct Fake {
        fails: bool,
    }

    #[async_trait]
    impl TextToSpeech for Fake {
        async fn synthesize(
            &self,
            _text: &str,
        ) -> Result<BoxStream<'static, Result<AudioChunk, ProviderError>>, ProviderError> {
            if self.fails {
                return Err(ProviderError::http(500, "down"));
            }
            let chunk = || {
                Ok(AudioChunk {
                    pcm: vec![1000; 2400],
                    sample_rate: 24_000,
                })
            };
            Ok(futures::stream::iter([chunk(), chunk()]).boxed())
        }
        fn name(&self) -> &'static str {
            "fake"
        }
    }

    fn maker(fails: bool, espeak: bool) -> Maker {
        Maker {
            tts: Arc::new(Fake { fails }),
            espeak,
        }
    }

    #[tokio::test]
    async fn the_provider_is_rendered_as_8khz_mulaw() {
        let (wav, source) = maker(false, true).make("שלום").await.unwrap();
        assert_eq!(source, Source::Provider);
        let wav = audio::wav::read(&wav).unwrap();
        assert_eq!(wav.sample_rate, 8000);
        // 0.2 s at 24 kHz is 0.2 s at 8 kHz, give or take the resampler's edge.
        assert!(
            (1500..=1700).contains(&wav.samples.len()),
            "{}",
            wav.samples.len()
        );
    }

    #[tokio::test]
    async fn without_espeak_a_failing_provider_falls_back_to_the_bundled_prompt() {
        let (wav, source) = maker(true, false).make(text::FALLBACK).await.unwrap();
        assert_eq!(source, Source::Bundled);
        assert_eq!(wav, bundled(text::FALLBACK).unwrap());
        // A text with no recording (a greeting) has nothing to fall back to.
        assert!(maker(true, false).make("שלום, הגעתם").await.is_none());
    }

    #[tokio::test]
    async fn espeak_comes_before_the_bundled_prompt() {
        if !voice::tts::espeak::available() {
            return;
        }
        let (wav, source) = maker(true, true).make(text::FALLBACK).await.unwrap();
        assert_eq!(source, Source::Espeak);
        assert_ne!(wav, bundled(text::FALLBACK).unwrap());
        assert_eq!(audio::wav::read(&wav).unwrap().sample_rate, 8000);
    }
}
