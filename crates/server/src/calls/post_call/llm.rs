//! The LLM's summary and extraction: OpenAI `chat/completions` in JSON mode, validated.
//!
//! The model is asked for one JSON object in a fixed shape. What comes back is parsed with
//! serde and bounded (a summary of sane length, short fields, a known urgency), because a
//! model's output is input like any other. An invalid answer is asked for once more; after
//! that the caller falls back to the extractive summary.

use std::time::Duration;

use serde::Deserialize;

use crate::store::post_call::Extraction;

const INSTRUCTION: &str = "אתה עוזר שמסכם שיחות טלפון שהתקבלו בעסק קטן. \
קרא את תמלול השיחה והחזר אובייקט JSON אחד בלבד, עם השדות: \
\"summary\" (סיכום קצר בעברית, עד שלושה משפטים), \
\"name\" (שם המתקשר, או null אם לא נאמר), \
\"reason\" (סיבת הפנייה בקצרה, או null), \
\"urgency\" (אחד מ: \"low\", \"normal\", \"high\"), \
\"callback_time\" (מתי המתקשר ביקש שיחזרו אליו, כפי שנאמר, או null). \
אל תמציא פרטים שלא נאמרו בשיחה.";

const MAX_SUMMARY: usize = 1200;
const MAX_FIELD: usize = 200;

/// Why the LLM gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The request failed: worth retrying the job later.
    #[error("chat/completions failed: {0}")]
    Transport(String),
    /// Answers came back but none was valid.
    #[error("the model's answer was not valid: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Raw {
    summary: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    callback_time: Option<String>,
}

/// Asks the model (twice at most if its answer is invalid).
pub async fn extract(
    base_url: &str,
    api_key: &str,
    model: &str,
    transcript: &str,
) -> Result<Extraction, LlmError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| LlmError::Transport(e.to_string()))?;
    let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
    let body = serde_json::json!({
        "model": model,
        "temperature": 0,
        "response_format": { "type": "json_object" },
        "messages": [
            { "role": "system", "content": INSTRUCTION },
            { "role": "user", "content": format!("תמלול השיחה:\n{transcript}") },
        ],
    });
    let mut last = String::new();
    for _ in 0..2 {
        let mut req = client.post(&url).json(&body);
        if !api_key.is_empty() {
            req = req.bearer_auth(api_key);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| LlmError::Transport(e.without_url().to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(LlmError::Transport(format!("HTTP {status}")));
        }
        let parsed: Result<ChatResponse, _> = resp.json().await;
        let content = parsed
            .ok()
            .and_then(|r| r.choices.into_iter().next())
            .and_then(|c| c.message.content);
        match content.as_deref().map(validate) {
            Some(Ok(x)) => return Ok(x),
            Some(Err(e)) => last = e,
            None => last = "no message content".into(),
        }
        tracing::warn!(error = %last, "LLM extraction invalid: asking again");
    }
    Err(LlmError::Invalid(last))
}

/// Parses and bounds the model's JSON.
pub fn validate(content: &str) -> Result<Extraction, String> {
    let raw: Raw = serde_json::from_str(content.trim()).map_err(|e| format!("JSON: {e}"))?;
    let summary = raw.summary.trim().to_string();
    if summary.is_empty() || summary.chars().count() > MAX_SUMMARY {
        return Err(format!("summary of {} characters", summary.chars().count()));
    }
    let field = |v: Option<String>, what: &str| -> Result<Option<String>, String> {
        match v
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "null")
        {
            Some(s) if s.chars().count() > MAX_FIELD => Err(format!("{what} too long")),
            other => Ok(other),
        }
    };
    Ok(Extraction {
        summary,
        name: field(raw.name, "name")?,
        reason: field(raw.reason, "reason")?,
        urgency: field(raw.urgency, "urgency")?.and_then(|u| normalise_urgency(&u)),
        callback_time: field(raw.callback_time, "callback_time")?,
    })
}

/// `low`, `normal` or `high`, from English or Hebrew words; anything else is dropped.
pub fn normalise_urgency(u: &str) -> Option<String> {
    let u = u.trim().to_lowercase();
    let level = match u.as_str() {
        "low" | "נמוכה" | "נמוך" => "low",
        "normal" | "medium" | "רגילה" | "רגיל" | "בינונית" => "normal",
        "high" | "urgent" | "גבוהה" | "גבוה" | "דחוף" | "דחופה" => "high",
        _ => return None,
    };
    Some(level.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_answers_are_bounded_and_normalised() {
        let x = validate(
            r#"{"summary":" דני ביקש תור ","name":"דני","reason":"תור","urgency":"HIGH","callback_time":null}"#,
        )
        .unwrap();
        assert_eq!(x.summary, "דני ביקש תור");
        assert_eq!(x.urgency.as_deref(), Some("high"));
        assert_eq!(x.callback_time, None);
    }

    #[test]
    fn invalid_answers_are_refused() {
        assert!(validate("not json").is_err());
        assert!(validate(r#"{"name":"x"}"#).is_err());
        assert!(validate(r#"{"summary":""}"#).is_err());
        let long = "א".repeat(500);
        assert!(validate(&format!(r#"{{"summary":"s","name":"{long}"}}"#)).is_err());
    }
}
