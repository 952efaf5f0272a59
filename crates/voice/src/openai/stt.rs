//! Speech-to-text through `POST {base}/audio/transcriptions`: the turn's audio goes up as
//! a WAV file in a multipart form with `language=he`, and the JSON answer's `text` comes
//! back. Works with OpenAI (whisper-1, gpt-4o-transcribe) and whisper.cpp-style servers.

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::OpenAiConfig;
use crate::http::ensure_success;
use crate::provider::{ProviderError, SpeechToText, Transcript};

/// OpenAI transcription.
#[derive(Debug, Clone)]
pub struct OpenAiStt {
    cfg: OpenAiConfig,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct TranscriptionJson {
    text: String,
}

impl OpenAiStt {
    pub fn new(cfg: OpenAiConfig) -> Self {
        let client = cfg.client();
        Self { cfg, client }
    }
}

#[async_trait]
impl SpeechToText for OpenAiStt {
    async fn transcribe(
        &self,
        pcm16_8k: &[i16],
        language: &str,
    ) -> Result<Transcript, ProviderError> {
        let wav = audio::wav::write_pcm16(audio::SAMPLE_RATE, pcm16_8k);
        let file = Part::bytes(wav)
            .file_name("turn.wav")
            .mime_str("audio/wav")
            .map_err(|e| ProviderError::Protocol(e.to_string()))?;
        let form = Form::new()
            .part("file", file)
            .text("model", self.cfg.stt_model.clone())
            .text("language", language.to_string())
            .text("response_format", "json");
        let req = self
            .client
            .post(self.cfg.url("audio/transcriptions"))
            .timeout(self.cfg.timeout)
            .multipart(form);
        let resp = ensure_success(self.cfg.auth(req).send().await?).await?;
        let body: TranscriptionJson = resp
            .json()
            .await
            .map_err(|e| ProviderError::Protocol(format!("transcription JSON: {e}")))?;
        Ok(Transcript {
            text: body.text.trim().to_string(),
            confidence: None,
        })
    }

    fn name(&self) -> &'static str {
        "openai"
    }
}
