//! Tools whose answers live outside this crate (#18.3, #19): the appointment book, for one.
//!
//! The agent's own actions (save details, call back, transfer, end the call) are checked
//! and answered here and carried out by the server afterwards. A question such as "which
//! times are free on Tuesday?" cannot be answered that way: the model needs the real
//! answer from the business's database before it speaks. The server hands the call a
//! [`ToolHost`] on [`AgentContext::tool_host`]; its functions are declared to the model in
//! both engines next to the built-in ones, and a call of one is awaited (bounded by
//! [`HOST_TIMEOUT`]) and its JSON result goes back to the model exactly as a built-in
//! tool's does. The built-in tools keep their names: a host function named like one of
//! them is neither declared nor called.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::provider::AgentContext;
use crate::realtime::tools::Outcome;

/// The longest a host function may take before the model is told it failed.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(5);

/// The names of the built-in tools, which a host cannot take over.
const BUILT_IN: [&str; 4] = [
    "end_call",
    "transfer_call",
    "save_caller_details",
    "request_callback",
];

/// One function a host offers: its name, what it does (for the model) and the JSON
/// schema of its arguments (an object).
#[derive(Debug, Clone, PartialEq)]
pub struct HostFunction {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// Functions answered by the server while the conversation goes on.
#[async_trait]
pub trait ToolHost: Send + Sync {
    /// The functions offered to the model.
    fn functions(&self) -> Vec<HostFunction>;

    /// Extra instructions for the model about these functions (appended to the prompt).
    fn instructions(&self) -> Option<String> {
        None
    }

    /// Runs `name` with its arguments (a JSON object). `Ok` is the result the model
    /// reads (an object; `"ok": true` is added when it says nothing of it), `Err` a
    /// failure it can apologise for.
    async fn call(&self, name: &str, arguments: &Value) -> Result<Value, String>;
}

impl fmt::Debug for dyn ToolHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.functions().into_iter().map(|f| f.name).collect();
        f.debug_struct("ToolHost")
            .field("functions", &names)
            .finish()
    }
}

/// Two contexts are equal only when they carry the same host.
impl PartialEq for dyn ToolHost {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(self, other)
    }
}

/// The host's functions the model may call (none that shadows a built-in tool).
fn offered(host: &Arc<dyn ToolHost>) -> Vec<HostFunction> {
    host.functions()
        .into_iter()
        .filter(|f| !BUILT_IN.contains(&f.name.as_str()))
        .collect()
}

/// The chat tools for this call: the built-in ones, then the host's.
pub(crate) fn chat_tools(ctx: &AgentContext) -> Value {
    let mut tools = crate::openai::prompt::tools();
    if let (Some(host), Some(list)) = (&ctx.tool_host, tools.as_array_mut()) {
        for f in offered(host) {
            list.push(json!({
                "type": "function",
                "function": {
                    "name": f.name,
                    "description": f.description,
                    "parameters": f.parameters,
                },
            }));
        }
    }
    tools
}

fn failed(error: &str) -> Outcome {
    Outcome {
        action: None,
        output: json!({ "ok": false, "error": error }).to_string(),
        ok: false,
    }
}

/// Runs a function call: a built-in tool at once, a host's function through the host.
pub async fn run(ctx: &AgentContext, name: &str, arguments: &str) -> Outcome {
    let host = ctx
        .tool_host
        .as_ref()
        .filter(|_| !BUILT_IN.contains(&name))
        .filter(|h| offered(h).iter().any(|f| f.name == name));
    let Some(host) = host else {
        return crate::realtime::tools::run(ctx, name, arguments);
    };
    let args: Value = match arguments.trim() {
        "" => json!({}),
        text => match serde_json::from_str(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => return failed("invalid arguments: send a JSON object and call again"),
        },
    };
    match tokio::time::timeout(HOST_TIMEOUT, host.call(name, &args)).await {
        Ok(Ok(mut result)) => {
            if let Some(map) = result.as_object_mut() {
                map.entry("ok").or_insert(Value::Bool(true));
            } else {
                result = json!({ "ok": true, "result": result });
            }
            let ok = result["ok"] != Value::Bool(false);
            Outcome {
                action: None,
                output: result.to_string(),
                ok,
            }
        }
        Ok(Err(error)) => failed(&error),
        Err(_) => {
            tracing::warn!(tool = name, "a host function did not answer in time");
            failed("the system did not answer in time; apologise and offer a call back")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Book;

    #[async_trait]
    impl ToolHost for Book {
        fn functions(&self) -> Vec<HostFunction> {
            ["find_free_slots", "end_call", "slow"]
                .into_iter()
                .map(|n| HostFunction {
                    name: n.into(),
                    description: format!("{n} for tests"),
                    parameters: json!({"type": "object", "properties": {}}),
                })
                .collect()
        }
        async fn call(&self, name: &str, arguments: &Value) -> Result<Value, String> {
            match name {
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(json!({}))
                }
                "find_free_slots" if arguments["day"] == "bad" => Err("no such day".into()),
                _ => Ok(json!({ "slots": ["2027-01-05T09:00:00+02:00"], "asked": arguments })),
            }
        }
    }

    fn ctx() -> AgentContext {
        AgentContext {
            tool_host: Some(Arc::new(Book)),
            ..Default::default()
        }
    }

    #[test]
    fn host_functions_follow_the_built_in_tools_and_never_replace_them() {
        let tools = chat_tools(&ctx());
        let names: Vec<&str> = tools
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "end_call",
                "transfer_call",
                "save_caller_details",
                "request_callback",
                "find_free_slots",
                "slow"
            ]
        );
        assert_eq!(tools[4]["type"], "function");
        assert_eq!(
            chat_tools(&AgentContext::default())
                .as_array()
                .unwrap()
                .len(),
            4
        );
        // Equal only to itself.
        let a = ctx();
        assert_eq!(a, a.clone());
        assert_ne!(a, ctx());
    }

    #[tokio::test(start_paused = true)]
    async fn host_results_and_failures_go_back_as_json() {
        let ctx = ctx();
        let ok = run(&ctx, "find_free_slots", r#"{"day":"2027-01-05"}"#).await;
        assert!(ok.ok && ok.action.is_none(), "{ok:?}");
        let v: Value = serde_json::from_str(&ok.output).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["asked"]["day"], "2027-01-05");
        let err = run(&ctx, "find_free_slots", r#"{"day":"bad"}"#).await;
        assert!(!err.ok);
        assert_eq!(
            serde_json::from_str::<Value>(&err.output).unwrap()["error"],
            "no such day"
        );
        assert!(!run(&ctx, "find_free_slots", "[1]").await.ok);
        assert!(!run(&ctx, "slow", "{}").await.ok, "bounded by the timeout");
        // The built-in end_call, not the host's.
        let end = run(&ctx, "end_call", "{}").await;
        assert_eq!(end.action, Some(crate::AgentAction::EndCall));
        assert!(!run(&ctx, "book_everything", "{}").await.ok);
    }
}
