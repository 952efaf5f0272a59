//! The agent's actions as Realtime functions, and what running one returns to the model.
//!
//! The declarations are the cascade's (same names, descriptions and JSON schemas), in the
//! Realtime shape (`name` at the top level). A call is checked before anything is done:
//! bad arguments, an unknown tool, or a transfer with no number to transfer to come back as
//! an error the model can apologise for; the rest are carried out by the server through the
//! session's `Action` output (stored on the call, or kept in the outbox while the database
//! is down, so an acknowledged action is never lost) and reported as done. Functions the
//! server answers during the call (appointments) are [`crate::tool_host`]'s.

use serde_json::{Value, json};

use crate::provider::{AgentAction, AgentContext};

/// The functions offered to the model (with the call's host functions, if any).
pub fn declarations(ctx: &AgentContext) -> Value {
    let chat = crate::tool_host::chat_tools(ctx);
    let tools = chat
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| {
                    let f = &t["function"];
                    json!({
                        "type": "function",
                        "name": f["name"],
                        "description": f["description"],
                        "parameters": f["parameters"],
                    })
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Value::Array(tools)
}

/// What a function call did: the action to carry out (if any) and the output for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub action: Option<AgentAction>,
    /// JSON text: `{"ok":true,...}` or `{"ok":false,"error":"..."}`.
    pub output: String,
    pub ok: bool,
}

fn failed(error: &str) -> Outcome {
    Outcome {
        action: None,
        output: json!({ "ok": false, "error": error }).to_string(),
        ok: false,
    }
}

/// Runs a call of `name`: one of the call's host functions through its host (awaited,
/// bounded), anything else as [`run`] does.
pub async fn run_any(ctx: &AgentContext, name: &str, arguments: &str) -> Outcome {
    crate::tool_host::run(ctx, name, arguments).await
}

/// Checks and runs a call of `name` with its JSON `arguments`.
pub fn run(ctx: &AgentContext, name: &str, arguments: &str) -> Outcome {
    let known = [
        "end_call",
        "transfer_call",
        "save_caller_details",
        "request_callback",
    ];
    if !known.contains(&name) {
        return failed("unknown tool");
    }
    let Some(action) = crate::openai::sse::tool_action(name, arguments) else {
        return failed("invalid arguments: check the required fields and call again");
    };
    let result = match &action {
        AgentAction::EndCall => json!({ "ok": true, "result": "the call ends after your goodbye" }),
        AgentAction::Transfer { .. } => {
            // Only ever the business's own number, whatever the model asked for.
            match ctx
                .transfer_number
                .as_deref()
                .filter(|n| !n.trim().is_empty())
            {
                Some(_) => json!({ "ok": true, "result": "transferring after your last sentence" }),
                None => {
                    return Outcome {
                        // Kept as a request to be called back (the server does that).
                        action: Some(action),
                        output: json!({
                            "ok": false,
                            "error": "no transfer is possible; a call-back request was saved instead",
                        })
                        .to_string(),
                        ok: false,
                    };
                }
            }
        }
        AgentAction::SaveDetails { .. } => json!({ "ok": true, "result": "details saved" }),
        AgentAction::CallBack { when } => {
            json!({ "ok": true, "result": format!("call-back requested for {when}") })
        }
    };
    Outcome {
        action: Some(action),
        output: result.to_string(),
        ok: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_declared_in_the_realtime_shape() {
        let d = declarations(&AgentContext::default());
        let names: Vec<&str> = d
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "end_call",
                "transfer_call",
                "save_caller_details",
                "request_callback"
            ]
        );
        assert_eq!(d[3]["parameters"]["required"][0], "when");
    }

    #[test]
    fn bad_calls_return_errors_the_model_can_apologise_for() {
        let ctx = AgentContext::default();
        assert!(!run(&ctx, "delete_everything", "{}").ok);
        assert!(!run(&ctx, "request_callback", "{not json").ok);
        assert!(!run(&ctx, "request_callback", "{}").ok);
        let t = run(&ctx, "transfer_call", r#"{"number":"+972541112222"}"#);
        assert!(!t.ok && t.output.contains("call-back"), "{t:?}");
        let ok = run(&ctx, "request_callback", r#"{"when":"מחר בעשר"}"#);
        assert!(ok.ok);
        assert_eq!(
            ok.action,
            Some(AgentAction::CallBack {
                when: "מחר בעשר".into()
            })
        );
    }
}
