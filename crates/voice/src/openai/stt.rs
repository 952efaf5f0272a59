//! Speech-to-text through `POST {base}/audio/transcriptions`: the turn's audio goes up as
//! a WAV file in a multipart form with `language=he`. The whole-utterance answer is JSON
//! whose `text` comes back; models that stream (gpt-4o-transcribe and kin) are asked for
//! `stream=true` by [`SpeechToText::transcribe_stream`] and answer with server-sent events,
//! so partial text arrives while the rest is still being recognised. whisper-1 and
//! whisper.cpp-style servers keep the whole-utterance path. With
//! [`OpenAiStt::with_streaming`] the live call listens while the caller speaks instead
//! ([`crate::realtime::transcribe`]), and these uploads are its fallback.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::OpenAiConfig;
use super::sse::decode_body;
use super::stt_stream::{TranscriptStreamDecoder, model_streams};
use crate::http::ensure_success;
use crate::provider::{ProviderError, SpeechToText, StreamingStt, SttEvent, Transcript};
use crate::realtime::RealtimeStt;

/// OpenAI transcription.
#[derive(Debug, Clone)]
pub struct OpenAiStt {
    cfg: OpenAiConfig,
    client: reqwest::Client,
    /// Listening while the caller speaks, when configured.
    streaming: Option<RealtimeStt>,
}

#[derive(Deserialize)]
struct TranscriptionJson {
    text: String,
}

impl OpenAiStt {
    pub fn new(cfg: OpenAiConfig) -> Self {
        let client = cfg.client();
        Self {
            cfg,
            client,
            streaming: None,
        }
    }

    /// The same recogniser, listening while the caller speaks through a Realtime
    /// transcription session; whole-file uploads remain for when that stream fails.
    pub fn with_streaming(mut self, streaming: RealtimeStt) -> Self {
        self.streaming = Some(streaming);
        self
    }

    /// Whether [`SpeechToText::transcribe_stream`] asks this model for a streamed answer.
    pub fn streams(&self) -> bool {
        model_streams(&self.cfg.stt_model)
    }

    /// The multipart form for one utterance.
    fn form(&self, pcm16_8k: &[i16], language: &str) -> Result<Form, ProviderError> {
        let wav = audio::wav::write_pcm16(audio::SAMPLE_RATE, pcm16_8k);
        let file = Part::bytes(wav)
            .file_name("turn.wav")
            .mime_str("audio/wav")
            .map_err(|e| ProviderError::Protocol(e.to_string()))?;
        Ok(Form::new()
            .part("file", file)
            .text("model", self.cfg.stt_model.clone())
            .text("language", language.to_string())
            .text("response_format", "json"))
    }
}

/// Reads a whole-utterance JSON answer.
async fn transcript_json(resp: reqwest::Response) -> Result<Transcript, ProviderError> {
    let body: TranscriptionJson = resp
        .json()
        .await
        .map_err(|e| ProviderError::Protocol(format!("transcription JSON: {e}")))?;
    Ok(Transcript {
        text: body.text.trim().to_string(),
        confidence: None,
    })
}

#[async_trait]
impl SpeechToText for OpenAiStt {
    async fn transcribe(
        &self,
        pcm16_8k: &[i16],
        language: &str,
    ) -> Result<Transcript, ProviderError> {
        let req = self
            .client
            .post(self.cfg.url("audio/transcriptions"))
            .timeout(self.cfg.timeout)
            .multipart(self.form(pcm16_8k, language)?);
        let resp = ensure_success(self.cfg.auth(req).send().await?).await?;
        transcript_json(resp).await
    }

    async fn transcribe_stream(
        &self,
        pcm16_8k: &[i16],
        language: &str,
    ) -> Result<BoxStream<'static, Result<SttEvent, ProviderError>>, ProviderError> {
        if !self.streams() {
            let transcript = self.transcribe(pcm16_8k, language).await?;
            return Ok(
                futures::stream::once(async move { Ok(SttEvent::Final(transcript)) }).boxed(),
            );
        }
        // No overall deadline: the client's read timeout bounds each wait, and the caller
        // bounds each event.
        let req = self
            .client
            .post(self.cfg.url("audio/transcriptions"))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .multipart(self.form(pcm16_8k, language)?.text("stream", "true"));
        let resp = ensure_success(self.cfg.auth(req).send().await?).await?;
        let is_sse = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_sse {
            // A compatible server that ignores `stream` answers whole.
            let transcript = transcript_json(resp).await?;
            return Ok(
                futures::stream::once(async move { Ok(SttEvent::Final(transcript)) }).boxed(),
            );
        }
        Ok(decode_body(resp, TranscriptStreamDecoder::default()))
    }

    fn name(&self) -> &'static str {
        "openai"
    }

    fn streaming(&self) -> Option<&dyn StreamingStt> {
        self.streaming.as_ref().map(|s| s as &dyn StreamingStt)
    }
}
