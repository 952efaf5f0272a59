//! The LLM agent: `POST {base}/chat/completions` with `stream: true` and our tools. The
//! conversation so far goes up as messages after a Hebrew system prompt; the SSE answer
//! is decoded as it arrives, so the turn loop can speak the first sentence while the
//! model is still writing the rest.

use async_trait::async_trait;
use futures::stream::BoxStream;
use serde_json::{Value, json};

use super::OpenAiConfig;
use super::prompt::{system_prompt, tools};
use super::sse::{ChatStreamDecoder, decode_body};
use crate::http::ensure_success;
use crate::provider::{
    Agent, AgentContext, AgentEvent, ProviderError, Role, default_greeting, outbound_opening,
};

/// What the model is told when speech-to-text is off and the caller's words are unknown.
const SILENT_TURN: &str = "(המתקשר ענה, אך תוכן התשובה לא זמין. המשך/י לשאלה הבאה.)";

/// An OpenAI chat model as the business's agent.
#[derive(Debug, Clone)]
pub struct OpenAiAgent {
    cfg: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiAgent {
    pub fn new(cfg: OpenAiConfig) -> Self {
        let client = cfg.client();
        Self { cfg, client }
    }

    /// The request body for this turn.
    pub fn request_body(&self, ctx: &AgentContext, caller_said: &str) -> Value {
        let mut messages = vec![json!({"role": "system", "content": system_prompt(ctx)})];
        for (role, text) in &ctx.history {
            if text.trim().is_empty() {
                continue;
            }
            let role = match role {
                Role::Caller => "user",
                Role::Agent => "assistant",
            };
            messages.push(json!({"role": role, "content": text}));
        }
        let said = match caller_said.trim() {
            "" => SILENT_TURN,
            s => s,
        };
        messages.push(json!({"role": "user", "content": said}));
        json!({
            "model": self.cfg.chat_model,
            "messages": messages,
            "stream": true,
            "tools": tools(),
            "temperature": 0.4,
        })
    }
}

#[async_trait]
impl Agent for OpenAiAgent {
    async fn reply(
        &self,
        ctx: &AgentContext,
        caller_said: &str,
    ) -> Result<BoxStream<'static, Result<AgentEvent, ProviderError>>, ProviderError> {
        let req = self
            .client
            .post(self.cfg.url("chat/completions"))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&self.request_body(ctx, caller_said));
        let resp = ensure_success(self.cfg.auth(req).send().await?).await?;
        Ok(decode_body(resp, ChatStreamDecoder::default()))
    }

    fn greeting(&self, ctx: &AgentContext) -> String {
        if let Some(o) = &ctx.outbound {
            let opening = outbound_opening(&ctx.business_name, o.purpose.as_deref());
            return format!("{opening} זה זמן נוח לדבר?");
        }
        match ctx.greeting.trim() {
            "" => format!("{} איך אפשר לעזור?", default_greeting(&ctx.business_name)),
            g => g.to_string(),
        }
    }

    fn name(&self) -> &'static str {
        "openai"
    }
    fn model(&self) -> Option<&str> {
        Some(&self.cfg.chat_model)
    }
}
