//! Server-sent events as OpenAI streams them, kept free of I/O so they can be fed any
//! byte split in tests: [`SseFramer`] turns body bytes into each event's `data`, and
//! [`decode_body`] runs a decoder over a response body as a stream. On top of that sits the
//! decoding of a streamed `chat/completions` response: text deltas become
//! [`ChatEvent::Text`] as they arrive, and tool calls — whose JSON arguments arrive split
//! across many events — are assembled into [`ChatEvent::ToolCall`]s when the choice
//! finishes (the agent runs them and answers the model with their results). (Streamed transcriptions are decoded in `stt_stream.rs`.)

use std::collections::{BTreeMap, VecDeque};

use futures::stream::BoxStream;
use futures::{StreamExt, stream};
use serde::Deserialize;
use serde_json::Value;

use crate::provider::{AgentAction, ProviderError};

/// One item of a streamed chat completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChatEvent {
    /// The next piece of the model's text.
    Text(String),
    /// A whole function call, as the model made it.
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
}

/// Server-sent-events framing: body bytes in (split anywhere, even inside a UTF-8
/// character), the `data` of each complete event out. Comments (`:keep-alive`), `event:`,
/// `id:` and `retry:` lines carry nothing we use.
#[derive(Debug, Default)]
pub(crate) struct SseFramer {
    line: Vec<u8>,
    data: Option<String>,
}

impl SseFramer {
    /// Feeds body bytes; returns the data of the events they complete.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line_done(&line, &mut out);
        }
        out
    }

    /// The body ended: the data of the last event, if it was not terminated.
    pub(crate) fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut out);
        }
        out.extend(self.data.take());
        out
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<String>) {
        if line.is_empty() {
            out.extend(self.data.take());
            return;
        }
        let line = String::from_utf8_lossy(line);
        if let Some(value) = line.strip_prefix("data:") {
            let value = value.strip_prefix(' ').unwrap_or(value);
            match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
    }
}

/// An incremental decoder of one streamed answer.
pub(crate) trait StreamDecoder: Send + 'static {
    type Event: Send + 'static;
    /// Feeds body bytes; returns the events they complete.
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Self::Event>, ProviderError>;
    /// The body ended: the events still pending, or an error if the answer is incomplete.
    fn finish(&mut self) -> Result<Vec<Self::Event>, ProviderError>;
    /// The answer is complete (whatever follows is ignored).
    fn is_done(&self) -> bool;
}

struct BodyState<D: StreamDecoder> {
    body: BoxStream<'static, Result<bytes::Bytes, reqwest::Error>>,
    decoder: D,
    pending: VecDeque<D::Event>,
    finished: bool,
}

async fn next_event<D: StreamDecoder>(
    mut st: BodyState<D>,
) -> Option<(Result<D::Event, ProviderError>, BodyState<D>)> {
    loop {
        if let Some(ev) = st.pending.pop_front() {
            return Some((Ok(ev), st));
        }
        if st.finished {
            return None;
        }
        let decoded = match st.body.next().await {
            Some(Ok(bytes)) => st.decoder.feed(&bytes),
            Some(Err(e)) => Err(ProviderError::from(e)),
            None => {
                st.finished = true;
                st.decoder.finish()
            }
        };
        match decoded {
            Ok(events) => st.pending.extend(events),
            Err(e) => {
                st.finished = true;
                st.pending.clear();
                return Some((Err(e), st));
            }
        }
        if st.decoder.is_done() {
            st.finished = true;
        }
    }
}

/// A response body decoded as it arrives. An error (from the network or the decoder) is
/// the stream's last item.
pub(crate) fn decode_body<D: StreamDecoder>(
    resp: reqwest::Response,
    decoder: D,
) -> BoxStream<'static, Result<D::Event, ProviderError>> {
    let state = BodyState {
        body: resp.bytes_stream().boxed(),
        decoder,
        pending: VecDeque::new(),
        finished: false,
    };
    stream::unfold(state, next_event).boxed()
}

#[derive(Debug, Default)]
struct ToolCall {
    id: String,
    name: String,
    arguments: String,
}

/// Incremental decoder of one streamed `chat/completions` body.
#[derive(Debug, Default)]
pub(crate) struct ChatStreamDecoder {
    sse: SseFramer,
    tools: BTreeMap<u64, ToolCall>,
    done: bool,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: u64,
    #[serde(default)]
    delta: Delta,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallChunk>,
}

#[derive(Deserialize)]
struct ToolCallChunk {
    index: u64,
    id: Option<String>,
    function: Option<FunctionChunk>,
}

#[derive(Deserialize)]
struct FunctionChunk {
    name: Option<String>,
    arguments: Option<String>,
}

fn arg(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Maps one of our tools to an action; `None` for an unknown tool or unusable arguments.
pub(crate) fn tool_action(name: &str, arguments: &str) -> Option<AgentAction> {
    let args: Value = if arguments.trim().is_empty() {
        Value::Object(Default::default())
    } else {
        match serde_json::from_str(arguments) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(tool = name, error = %e, "tool call with invalid JSON arguments");
                return None;
            }
        }
    };
    let action = match name {
        "end_call" => AgentAction::EndCall,
        "transfer_call" => AgentAction::Transfer {
            number: arg(&args, "number")?,
        },
        "save_caller_details" => AgentAction::SaveDetails {
            name: arg(&args, "name"),
            reason: arg(&args, "reason"),
            callback_time: arg(&args, "callback_time"),
            urgency: arg(&args, "urgency"),
        },
        "request_callback" => AgentAction::CallBack {
            when: arg(&args, "when")?,
        },
        other => {
            tracing::warn!(tool = other, "model called an unknown tool");
            return None;
        }
    };
    Some(action)
}

impl StreamDecoder for ChatStreamDecoder {
    type Event = ChatEvent;

    /// True once `data: [DONE]` has been seen.
    fn is_done(&self) -> bool {
        self.done
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<ChatEvent>, ProviderError> {
        let mut out = Vec::new();
        for data in self.sse.feed(bytes) {
            self.dispatch(&data, &mut out)?;
        }
        Ok(out)
    }

    /// Dispatches what is pending and any unfinished tool calls.
    fn finish(&mut self) -> Result<Vec<ChatEvent>, ProviderError> {
        let mut out = Vec::new();
        for data in self.sse.finish() {
            self.dispatch(&data, &mut out)?;
        }
        self.flush_tools(&mut out);
        Ok(out)
    }
}

impl ChatStreamDecoder {
    fn dispatch(&mut self, data: &str, out: &mut Vec<ChatEvent>) -> Result<(), ProviderError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            self.flush_tools(out);
            return Ok(());
        }
        if self.done || data.is_empty() {
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("bad chat stream chunk: {e}")))?;
        if let Some(err) = chunk.error {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| err.to_string(), str::to_string);
            return Err(ProviderError::Protocol(format!("chat stream error: {msg}")));
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content
                && !text.is_empty()
            {
                out.push(ChatEvent::Text(text));
            }
            for call in choice.delta.tool_calls {
                let acc = self.tools.entry(call.index).or_default();
                if let Some(id) = call.id {
                    acc.id.push_str(&id);
                }
                if let Some(f) = call.function {
                    if let Some(n) = f.name {
                        acc.name.push_str(&n);
                    }
                    if let Some(a) = f.arguments {
                        acc.arguments.push_str(&a);
                    }
                }
            }
            if choice.finish_reason.is_some() {
                self.flush_tools(out);
            }
        }
        Ok(())
    }

    fn flush_tools(&mut self, out: &mut Vec<ChatEvent>) {
        for (index, call) in std::mem::take(&mut self.tools) {
            let id = match call.id.trim() {
                // Some compatible servers leave the id out; the result must still name it.
                "" => format!("call_{index}"),
                id => id.to_string(),
            };
            out.push(ChatEvent::ToolCall {
                id,
                name: call.name,
                arguments: call.arguments,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        ": keep-alive\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"שלום \"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"דנה.\"},\"finish_reason\":null}]}\r\n\r\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"save_caller_details\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"name\\\": \\\"דנה\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\", \\\"reason\\\": \\\"תור\\\"}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"end_call\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n",
    );

    fn expected() -> Vec<ChatEvent> {
        vec![
            ChatEvent::Text("שלום ".into()),
            ChatEvent::Text("דנה.".into()),
            ChatEvent::ToolCall {
                id: "call_1".into(),
                name: "save_caller_details".into(),
                arguments: "{\"name\": \"דנה\", \"reason\": \"תור\"}".into(),
            },
            ChatEvent::ToolCall {
                id: "call_2".into(),
                name: "end_call".into(),
                arguments: "{}".into(),
            },
        ]
    }

    #[test]
    fn decodes_text_and_split_tool_calls_at_any_byte_split() {
        let bytes = BODY.as_bytes();
        for step in [1, 2, 3, 7, 64, bytes.len()] {
            let mut d = ChatStreamDecoder::default();
            let mut events = vec![];
            for chunk in bytes.chunks(step) {
                events.extend(d.feed(chunk).unwrap());
            }
            events.extend(d.finish().unwrap());
            assert!(d.is_done());
            assert_eq!(events, expected(), "split every {step} bytes");
        }
    }

    #[test]
    fn an_error_object_in_the_stream_is_a_protocol_error() {
        let mut d = ChatStreamDecoder::default();
        let r = d.feed(b"data: {\"error\":{\"message\":\"overloaded\"}}\n\n");
        assert!(matches!(r, Err(ProviderError::Protocol(m)) if m.contains("overloaded")));
    }

    #[test]
    fn tools_map_to_actions() {
        assert_eq!(
            tool_action("transfer_call", r#"{"number":"+972501234567"}"#),
            Some(AgentAction::Transfer {
                number: "+972501234567".into()
            })
        );
        assert_eq!(
            tool_action("request_callback", r#"{"when":"מחר ב-10"}"#),
            Some(AgentAction::CallBack {
                when: "מחר ב-10".into()
            })
        );
        assert_eq!(tool_action("transfer_call", "{}"), None);
        assert_eq!(tool_action("end_call", ""), Some(AgentAction::EndCall));
        assert_eq!(tool_action("launch_rockets", "{}"), None);
        assert_eq!(tool_action("end_call", "{not json"), None);
    }
}
