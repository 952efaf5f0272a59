//! What the agent did in a turn, as the business reads it on the call page: each function
//! the model called (stored with the turn as `tool_calls`) becomes one Hebrew line,
//! "הפעולה: בקשה לשיחה חוזרת (מחר בעשר) → תוצאה: בוצע", with the raw call and result kept
//! for the folded technical details. Stored text is the model's and the caller's: it is
//! only ever shown escaped (askama), and a row that does not parse shows nothing.

use voice::session::ToolCall;

/// One function call of a turn, ready to show.
pub struct ToolView {
    /// The action in Hebrew (the function's name for one this page does not know).
    pub action: String,
    /// What the action was given, in short (values of its arguments).
    pub detail: String,
    pub ok: bool,
    /// `בוצע`, or `נכשל` with the reason given to the model.
    pub result: String,
    /// For the technical details: `name(arguments) → output`.
    pub raw: String,
}

fn action(name: &str) -> String {
    match name {
        "end_call" => "סיום השיחה",
        "transfer_call" => "העברת השיחה",
        "save_caller_details" => "שמירת פרטי המתקשר/ת",
        "request_callback" => "בקשה לשיחה חוזרת",
        other => other,
    }
    .to_string()
}

/// The argument values, in the order given, as one short line.
fn detail(arguments: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(arguments) else {
        return String::new();
    };
    let values: Vec<String> = map
        .values()
        .filter_map(|v| match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let line = values.join(", ");
    if line.chars().count() > 120 {
        let cut: String = line.chars().take(120).collect();
        format!("{cut}…")
    } else {
        line
    }
}

fn result(call: &ToolCall) -> String {
    if call.ok {
        return "בוצע".into();
    }
    let reason = serde_json::from_str::<serde_json::Value>(&call.output)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    if reason.is_empty() {
        "נכשל".into()
    } else {
        format!("נכשל ({reason})")
    }
}

/// The calls stored with a turn; none when there are none or they do not parse.
pub fn views(stored: Option<&str>) -> Vec<ToolView> {
    let Some(calls) = stored.and_then(|s| serde_json::from_str::<Vec<ToolCall>>(s).ok()) else {
        return Vec::new();
    };
    calls
        .iter()
        .map(|c| ToolView {
            action: action(&c.name),
            detail: detail(&c.arguments),
            ok: c.ok,
            result: result(c),
            raw: format!("{}({}) → {}", c.name, c.arguments, c.output),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_read_as_hebrew_lines() {
        let stored = serde_json::to_string(&[
            ToolCall {
                name: "request_callback".into(),
                arguments: r#"{"when":"מחר בעשר"}"#.into(),
                output: r#"{"ok":true,"result":"call-back requested for מחר בעשר"}"#.into(),
                ok: true,
            },
            ToolCall {
                name: "book_appointment".into(),
                arguments: r#"{"day":"שלישי","hour":10}"#.into(),
                output: r#"{"ok":false,"error":"the slot is taken"}"#.into(),
                ok: false,
            },
        ])
        .unwrap();
        let v = views(Some(&stored));
        assert_eq!(v.len(), 2);
        assert_eq!(
            (
                v[0].action.as_str(),
                v[0].detail.as_str(),
                v[0].result.as_str()
            ),
            ("בקשה לשיחה חוזרת", "מחר בעשר", "בוצע")
        );
        assert_eq!(
            (
                v[1].action.as_str(),
                v[1].detail.as_str(),
                v[1].result.as_str()
            ),
            ("book_appointment", "שלישי, 10", "נכשל (the slot is taken)")
        );
        assert!(v[0].raw.starts_with("request_callback({"));
        assert!(views(None).is_empty());
        assert!(views(Some("not json")).is_empty());
    }
}
