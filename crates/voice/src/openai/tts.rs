//! Text-to-speech through `POST {base}/audio/speech` with `response_format: "pcm"`: the
//! body is raw 24 kHz 16-bit little-endian mono PCM, handed on chunk by chunk as it
//! arrives so the first audio reaches the caller before the sentence is fully rendered.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::json;

use super::OpenAiConfig;
use crate::http::{ensure_success, le_pcm_stream};
use crate::provider::{AudioChunk, ProviderError, TextToSpeech};

/// The rate of OpenAI's `pcm` response format.
pub const PCM_SAMPLE_RATE: u32 = 24_000;

/// OpenAI speech synthesis.
#[derive(Debug, Clone)]
pub struct OpenAiTts {
    cfg: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiTts {
    pub fn new(cfg: OpenAiConfig) -> Self {
        let client = cfg.client();
        Self { cfg, client }
    }
}

#[async_trait]
impl TextToSpeech for OpenAiTts {
    async fn synthesize(
        &self,
        text: &str,
    ) -> Result<BoxStream<'static, Result<AudioChunk, ProviderError>>, ProviderError> {
        let body = json!({
            "model": self.cfg.tts_model,
            "voice": self.cfg.tts_voice,
            "input": text,
            "response_format": "pcm",
        });
        let req = self.client.post(self.cfg.url("audio/speech")).json(&body);
        let resp = ensure_success(self.cfg.auth(req).send().await?).await?;
        let stream = le_pcm_stream(resp.bytes_stream()).map(|r| {
            r.map(|pcm| AudioChunk {
                pcm,
                sample_rate: PCM_SAMPLE_RATE,
            })
        });
        Ok(stream.boxed())
    }

    fn name(&self) -> &'static str {
        "openai"
    }

    fn voice_id(&self) -> String {
        format!("openai:{}:{}", self.cfg.tts_model, self.cfg.tts_voice)
    }
}
