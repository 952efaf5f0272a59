//! OpenAI (and any OpenAI-compatible server: whisper.cpp, llama.cpp, vLLM, Ollama) as the
//! call's ears, brain and voice: `audio/transcriptions` (streamed for the models that
//! stream), streamed `chat/completions` with tools, and `audio/speech` as raw PCM. One
//! configuration with a base URL points the same code at OpenAI or at a local server.

mod chat;
mod hours;
pub(crate) mod prompt;
pub(crate) mod sse;
mod stt;
mod stt_stream;
mod tts;

use std::fmt;
use std::time::Duration;

pub use chat::OpenAiAgent;
pub use prompt::system_prompt;
pub use stt::OpenAiStt;
pub use tts::{OpenAiTts, PCM_SAMPLE_RATE};

/// OpenAI's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// How to reach an OpenAI-compatible server and which models to use.
#[derive(Clone)]
pub struct OpenAiConfig {
    pub api_key: String,
    /// Without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub stt_model: String,
    pub chat_model: String,
    pub tts_model: String,
    pub tts_voice: String,
    /// Connect and read timeout of each request.
    pub timeout: Duration,
}

impl OpenAiConfig {
    /// OpenAI's defaults with this key.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: DEFAULT_BASE_URL.to_string(),
            stt_model: "whisper-1".to_string(),
            chat_model: "gpt-4o-mini".to_string(),
            tts_model: "gpt-4o-mini-tts".to_string(),
            tts_voice: "alloy".to_string(),
            timeout: Duration::from_secs(10),
        }
    }

    /// The same with another base URL (`OPENAI_BASE_URL`).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path)
    }

    pub(crate) fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(self.timeout)
            .read_timeout(self.timeout)
            .build()
            .unwrap_or_default()
    }

    pub(crate) fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.api_key.is_empty() {
            // Local OpenAI-compatible servers often need no key.
            req
        } else {
            req.bearer_auth(&self.api_key)
        }
    }
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("stt_model", &self.stt_model)
            .field("chat_model", &self.chat_model)
            .field("tts_model", &self.tts_model)
            .field("tts_voice", &self.tts_voice)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let c = OpenAiConfig::new("sk-secret-123");
        let s = format!("{c:?}");
        assert!(!s.contains("sk-secret-123"));
        assert!(s.contains("<redacted>"));
    }

    #[test]
    fn urls_join_with_one_slash() {
        let c = OpenAiConfig::new("k").with_base_url("http://127.0.0.1:9/v1/");
        assert_eq!(c.url("audio/speech"), "http://127.0.0.1:9/v1/audio/speech");
    }
}
