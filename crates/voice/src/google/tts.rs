//! Google Cloud Text-to-Speech (`v1/text:synthesize`) with a he-IL voice, asked for
//! LINEAR16 at 8 kHz so no resampling is needed for the phone. The JSON answer carries
//! the whole sentence as base64 (a WAV with header), handed on in ~100 ms chunks.

use async_trait::async_trait;
use base64::Engine;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde::Deserialize;
use serde_json::json;

use super::GoogleAuth;
use crate::http::ensure_success;
use crate::provider::{AudioChunk, ProviderError, TextToSpeech};

pub const DEFAULT_TTS_BASE_URL: &str = "https://texttospeech.googleapis.com";
pub const DEFAULT_VOICE: &str = "he-IL-Wavenet-A";
const RATE: u32 = 8000;

/// Google text-to-speech.
#[derive(Debug, Clone)]
pub struct GoogleTts {
    auth: GoogleAuth,
    client: reqwest::Client,
    base_url: String,
    voice: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SynthesizeResponse {
    audio_content: String,
}

impl GoogleTts {
    pub fn new(auth: GoogleAuth) -> Self {
        Self {
            auth,
            client: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            base_url: DEFAULT_TTS_BASE_URL.to_string(),
            voice: DEFAULT_VOICE.to_string(),
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// A he-IL voice name, e.g. `he-IL-Standard-B`.
    pub fn with_voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = voice.into();
        self
    }
}

/// LINEAR16 audio content: a WAV (Google adds a header) or bare little-endian PCM.
fn decode_linear16(bytes: &[u8]) -> Result<(Vec<i16>, u32), ProviderError> {
    if bytes.starts_with(b"RIFF") {
        let wav = audio::wav::read(bytes).map_err(|e| ProviderError::Protocol(e.to_string()))?;
        let mono = wav.to_mono();
        return Ok((mono.samples, mono.sample_rate));
    }
    let pcm = bytes
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect();
    Ok((pcm, RATE))
}

#[async_trait]
impl TextToSpeech for GoogleTts {
    async fn synthesize(
        &self,
        text: &str,
    ) -> Result<BoxStream<'static, Result<AudioChunk, ProviderError>>, ProviderError> {
        let token = self.auth.token().await?;
        let body = json!({
            "input": {"text": text},
            "voice": {"languageCode": "he-IL", "name": self.voice},
            "audioConfig": {"audioEncoding": "LINEAR16", "sampleRateHertz": RATE},
        });
        let url = format!("{}/v1/text:synthesize", self.base_url.trim_end_matches('/'));
        let resp = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let answer: SynthesizeResponse = ensure_success(resp)
            .await?
            .json()
            .await
            .map_err(|e| ProviderError::Protocol(format!("text:synthesize response: {e}")))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(answer.audio_content.trim())
            .map_err(|e| ProviderError::Protocol(format!("audioContent is not base64: {e}")))?;
        let (pcm, sample_rate) = decode_linear16(&bytes)?;
        let per_chunk = (sample_rate / 10).max(1) as usize;
        let chunks: Vec<_> = pcm
            .chunks(per_chunk)
            .map(|c| {
                Ok(AudioChunk {
                    pcm: c.to_vec(),
                    sample_rate,
                })
            })
            .collect();
        Ok(stream::iter(chunks).boxed())
    }

    fn name(&self) -> &'static str {
        "google"
    }

    fn voice_id(&self) -> String {
        format!("google:{}", self.voice)
    }
}
