//! The LLM agent: `POST {base}/chat/completions` with `stream: true` and our tools. The
//! conversation so far goes up as messages after a Hebrew system prompt; the SSE answer
//! is decoded as it arrives, so the turn loop can speak the first sentence while the
//! model is still writing the rest.
//!
//! Tools return results: when the model calls a function, mokdan checks and runs it (the
//! same executor as the Realtime engine, [`crate::tool_host::run`]: the built-in tools at
//! once, the call's host functions, such as the appointment book, awaited), hands the action to
//! the call, and sends the model an `assistant` message with its `tool_calls` and one
//! `tool` message per result, then asks for a new completion, so the model can confirm
//! ("רשמתי", "מעבירה אותך") or apologise for a failure. A call that is ending (`end_call`,
//! or a transfer that will happen) needs no further words; and after
//! [`MAX_TOOL_ROUNDS`] rounds the model's turn ends whatever it asks.

use std::collections::VecDeque;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde_json::{Value, json};

use super::OpenAiConfig;
use super::prompt::system_prompt;
use super::sse::{ChatEvent, ChatStreamDecoder, decode_body};
use crate::http::ensure_success;
use crate::provider::{
    Agent, AgentAction, AgentContext, AgentEvent, ProviderError, Role, default_greeting,
    outbound_opening,
};
use crate::session::ToolCall;

/// What the model is told when speech-to-text is off and the caller's words are unknown.
const SILENT_TURN: &str = "(המתקשר ענה, אך תוכן התשובה לא זמין. המשך/י לשאלה הבאה.)";
/// Completions asked for in one turn that answer tool results.
pub const MAX_TOOL_ROUNDS: usize = 3;

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

    /// The messages of this turn: the system prompt, the conversation, what was just said.
    fn messages(&self, ctx: &AgentContext, caller_said: &str) -> Vec<Value> {
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
        messages
    }

    fn body(&self, ctx: &AgentContext, messages: &[Value]) -> Value {
        json!({
            "model": self.cfg.chat_model,
            "messages": messages,
            "stream": true,
            "tools": crate::tool_host::chat_tools(ctx),
            "temperature": 0.4,
        })
    }

    /// The request body for this turn.
    pub fn request_body(&self, ctx: &AgentContext, caller_said: &str) -> Value {
        self.body(ctx, &self.messages(ctx, caller_said))
    }

    async fn complete(
        &self,
        ctx: &AgentContext,
        messages: &[Value],
    ) -> Result<BoxStream<'static, Result<ChatEvent, ProviderError>>, ProviderError> {
        let req = self
            .client
            .post(self.cfg.url("chat/completions"))
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&self.body(ctx, messages));
        let resp = ensure_success(self.cfg.auth(req).send().await?).await?;
        Ok(decode_body(resp, ChatStreamDecoder::default()))
    }
}

/// A function call the model made in this round.
struct Called {
    id: String,
    name: String,
    arguments: String,
}

/// One turn's conversation with the model, across tool rounds.
struct Turn {
    agent: OpenAiAgent,
    ctx: AgentContext,
    messages: Vec<Value>,
    events: BoxStream<'static, Result<ChatEvent, ProviderError>>,
    /// What the model said this round (it goes back with its tool calls).
    said: String,
    called: Vec<Called>,
    pending: VecDeque<Result<AgentEvent, ProviderError>>,
    rounds: usize,
    /// The tool results are in `messages`: ask for the next completion.
    follow_up: bool,
    done: bool,
}

impl Turn {
    /// Runs the round's tool calls: their actions and records go out, and their results
    /// go into the messages for the next completion unless the turn is over.
    async fn run_tools(&mut self) {
        let called = std::mem::take(&mut self.called);
        let mut ending = false;
        let mut results = Vec::new();
        for c in &called {
            let outcome = crate::tool_host::run(&self.ctx, &c.name, &c.arguments).await;
            if let Some(action) = outcome.action.clone() {
                ending |= action == AgentAction::EndCall
                    || (matches!(action, AgentAction::Transfer { .. }) && outcome.ok);
                self.pending.push_back(Ok(AgentEvent::Action(action)));
            }
            self.pending.push_back(Ok(AgentEvent::Tool(ToolCall {
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                output: outcome.output.clone(),
                ok: outcome.ok,
            })));
            results.push(json!({"role": "tool", "tool_call_id": c.id, "content": outcome.output}));
        }
        if ending || self.rounds >= MAX_TOOL_ROUNDS {
            self.done = true;
            return;
        }
        let calls: Vec<Value> = called
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect();
        let said = std::mem::take(&mut self.said);
        let content = if said.trim().is_empty() {
            Value::Null
        } else {
            Value::String(said)
        };
        self.messages
            .push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
        self.messages.extend(results);
        self.follow_up = true;
    }
}

async fn next(mut t: Turn) -> Option<(Result<AgentEvent, ProviderError>, Turn)> {
    loop {
        if let Some(item) = t.pending.pop_front() {
            return Some((item, t));
        }
        if t.done {
            return None;
        }
        if t.follow_up {
            t.follow_up = false;
            t.rounds += 1;
            match t.agent.complete(&t.ctx, &t.messages).await {
                Ok(events) => t.events = events,
                Err(e) => {
                    t.done = true;
                    return Some((Err(e), t));
                }
            }
        }
        match t.events.next().await {
            Some(Ok(ChatEvent::Text(text))) => {
                t.said.push_str(&text);
                return Some((Ok(AgentEvent::Text(text)), t));
            }
            Some(Ok(ChatEvent::ToolCall {
                id,
                name,
                arguments,
            })) => t.called.push(Called {
                id,
                name,
                arguments,
            }),
            Some(Err(e)) => {
                t.done = true;
                return Some((Err(e), t));
            }
            None if t.called.is_empty() => t.done = true,
            None => t.run_tools().await,
        }
    }
}

#[async_trait]
impl Agent for OpenAiAgent {
    async fn reply(
        &self,
        ctx: &AgentContext,
        caller_said: &str,
    ) -> Result<BoxStream<'static, Result<AgentEvent, ProviderError>>, ProviderError> {
        let messages = self.messages(ctx, caller_said);
        let events = self.complete(ctx, &messages).await?;
        let turn = Turn {
            agent: self.clone(),
            ctx: ctx.clone(),
            messages,
            events,
            said: String::new(),
            called: Vec::new(),
            pending: VecDeque::new(),
            rounds: 1,
            follow_up: false,
            done: false,
        };
        Ok(stream::unfold(turn, next).boxed())
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
