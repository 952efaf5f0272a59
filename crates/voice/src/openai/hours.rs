//! Opening hours as the LLM receptionist reads them. Businesses store hours either as the
//! CRM API's JSON (`{"sun": ["09:00", "18:00"], "fri": null, ...}`, a day's value being a
//! range, a list of ranges, text, or empty for closed) or as free text typed in the web app;
//! both become one short Hebrew line for the system prompt, and anything else is passed on
//! as written.

use serde_json::Value;

/// Day keys in the week's order (Sunday first, as in Israel), with their Hebrew names.
const DAYS: [(&str, &str); 7] = [
    ("sun", "ראשון"),
    ("mon", "שני"),
    ("tue", "שלישי"),
    ("wed", "רביעי"),
    ("thu", "חמישי"),
    ("fri", "שישי"),
    ("sat", "שבת"),
];

/// The longest hours text put in a prompt.
const MAX_CHARS: usize = 1000;

/// Opening hours as one readable line; `None` when there are none.
pub fn hours_text(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let text = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => {
            let day = |key: &str| {
                DAYS.iter()
                    .position(|(k, _)| key.to_ascii_lowercase().starts_with(k))
                    .unwrap_or(DAYS.len())
            };
            let mut days: Vec<(&String, &Value)> = map.iter().collect();
            days.sort_by_key(|(k, _)| day(k));
            days.iter()
                .map(|(k, v)| {
                    let name = DAYS.get(day(k)).map_or(k.as_str(), |(_, he)| he);
                    format!("{name}: {}", value_text(v))
                })
                .collect::<Vec<_>>()
                .join("; ")
        }
        Ok(Value::String(s)) => s,
        Ok(Value::Null) => return None,
        Ok(other) => value_text(&other),
        Err(_) => raw.to_string(),
    };
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(MAX_CHARS).collect())
}

/// One day's hours: `09:00–18:00`, several ranges joined, or closed.
fn value_text(v: &Value) -> String {
    match v {
        Value::Null | Value::Bool(false) => "סגור".to_string(),
        Value::String(s) if s.trim().is_empty() => "סגור".to_string(),
        Value::String(s) => s.trim().to_string(),
        Value::Array(items) if items.is_empty() => "סגור".to_string(),
        Value::Array(items) if items.iter().all(Value::is_string) && items.len() == 2 => {
            format!(
                "{}–{}",
                items[0].as_str().unwrap_or_default(),
                items[1].as_str().unwrap_or_default()
            )
        }
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Object(map) => match (map.get("open"), map.get("close")) {
            (Some(Value::String(o)), Some(Value::String(c))) => format!("{o}–{c}"),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_hours_read_in_week_order() {
        let raw = r#"{"fri": ["09:00", "13:00"], "sun": ["09:00", "18:00"], "sat": null,
                      "mon": [["08:00", "12:00"], ["16:00", "19:00"]]}"#;
        assert_eq!(
            hours_text(raw).unwrap(),
            "ראשון: 09:00–18:00; שני: 08:00–12:00, 16:00–19:00; שישי: 09:00–13:00; שבת: סגור"
        );
    }

    #[test]
    fn free_text_and_json_text_pass_through() {
        assert_eq!(
            hours_text("א׳–ה׳ 9:00–17:00").as_deref(),
            Some("א׳–ה׳ 9:00–17:00")
        );
        assert_eq!(hours_text(r#""א-ה 9-17""#).as_deref(), Some("א-ה 9-17"));
        assert_eq!(hours_text("  "), None);
        assert_eq!(hours_text("null"), None);
        assert!(hours_text(&"x".repeat(5000)).unwrap().chars().count() <= MAX_CHARS);
    }
}
