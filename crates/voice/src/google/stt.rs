//! Google Cloud Speech-to-Text (`v1/speech:recognize`): the turn's 8 kHz PCM goes up as
//! base64 LINEAR16 with `he-IL`, and the best alternative of each result comes back.

use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use super::{GoogleAuth, language_code};
use crate::http::ensure_success;
use crate::provider::{ProviderError, SpeechToText, Transcript};

pub const DEFAULT_STT_BASE_URL: &str = "https://speech.googleapis.com";

/// Google speech-to-text.
#[derive(Debug, Clone)]
pub struct GoogleStt {
    auth: GoogleAuth,
    client: reqwest::Client,
    base_url: String,
}

#[derive(Deserialize, Default)]
struct RecognizeResponse {
    #[serde(default)]
    results: Vec<RecognitionResult>,
}

#[derive(Deserialize)]
struct RecognitionResult {
    #[serde(default)]
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
    confidence: Option<f32>,
}

impl GoogleStt {
    pub fn new(auth: GoogleAuth) -> Self {
        Self {
            auth,
            client: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            base_url: DEFAULT_STT_BASE_URL.to_string(),
        }
    }

    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }
}

#[async_trait]
impl SpeechToText for GoogleStt {
    async fn transcribe(
        &self,
        pcm16_8k: &[i16],
        language: &str,
    ) -> Result<Transcript, ProviderError> {
        let token = self.auth.token().await?;
        let bytes: Vec<u8> = pcm16_8k.iter().flat_map(|s| s.to_le_bytes()).collect();
        let body = json!({
            "config": {
                "encoding": "LINEAR16",
                "sampleRateHertz": audio::SAMPLE_RATE,
                "languageCode": language_code(language),
            },
            "audio": {"content": base64::engine::general_purpose::STANDARD.encode(bytes)},
        });
        let url = format!(
            "{}/v1/speech:recognize",
            self.base_url.trim_end_matches('/')
        );
        let resp = self
            .client
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let answer: RecognizeResponse = ensure_success(resp)
            .await?
            .json()
            .await
            .map_err(|e| ProviderError::Protocol(format!("speech:recognize response: {e}")))?;
        let best: Vec<&Alternative> = answer
            .results
            .iter()
            .filter_map(|r| r.alternatives.first())
            .collect();
        let text = best
            .iter()
            .map(|a| a.transcript.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcript {
            text,
            confidence: best.first().and_then(|a| a.confidence),
        })
    }

    fn name(&self) -> &'static str {
        "google"
    }
}
