//! The Hebrew system prompt and tool definitions for an LLM receptionist. Replies are
//! spoken over the phone, so the prompt asks for short, spoken-style Hebrew with no
//! formatting, one question at a time, and tells the model when to use each tool. It
//! carries the business's opening hours and whether (and where) a call can be transferred.

use serde_json::{Value, json};

use super::hours::hours_text;
use crate::agent::scripted::DEFAULT_QUESTIONS;
use crate::provider::AgentContext;

/// The system prompt for this business and call.
pub fn system_prompt(ctx: &AgentContext) -> String {
    let business = match ctx.business_name.trim() {
        "" => "העסק",
        b => b,
    };
    let questions: Vec<String> = if ctx.questions.iter().any(|q| !q.trim().is_empty()) {
        ctx.questions
            .iter()
            .filter(|q| !q.trim().is_empty())
            .cloned()
            .collect()
    } else {
        DEFAULT_QUESTIONS.iter().map(|q| q.to_string()).collect()
    };
    let mut p = match &ctx.outbound {
        None => format!(
            "את/ה נציג/ת שירות טלפוני של \"{business}\" ומדבר/ת עם לקוח בשיחת טלפון, בעברית.\n\
             כללים:\n\
             - ענה/י בקצרה: משפט אחד או שניים, בעברית מדוברת וטבעית, כמו בשיחת טלפון.\n\
             - בלי רשימות, בלי כותרות, בלי סימני עיצוב, בלי אימוג'י ובלי קישורים; מספרים במילים כשזה טבעי.\n\
             - שאלה אחת בכל פעם.\n\
             - אל תמציא/י מידע על העסק; אם אינך יודע/ת, הצע/י שנחזור אל הלקוח.\n\
             - אסוף/י מהלקוח את הפרטים האלה: {}\n\
             - כשיש לך את הפרטים, קרא/י לכלי save_caller_details.\n\
             - אם הלקוח מבקש שיחזרו אליו בזמן מסוים, קרא/י לכלי request_callback.\n\
             - כשהשיחה הסתיימה, אמור/י תודה ולהתראות וקרא/י לכלי end_call.\n",
            questions.join(" ")
        ),
        Some(outbound) => {
            let purpose = outbound
                .purpose
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| format!("מטרת השיחה, כפי שהעסק כתב אותה: {p}\n"))
                .unwrap_or_else(|| "מטרת השיחה לא נמסרה: שאל/י במה אפשר לעזור.\n".into());
            format!(
                "את/ה נציג/ת טלפוני/ת של \"{business}\". זו שיחה יוצאת: העסק התקשר אל האדם \
                 שעונה, והוא לא התקשר אליכם. כבר הצגת את עצמך ואת סיבת השיחה במשפט הפתיחה.\n\
                 {purpose}\
                 כללים:\n\
                 - ענה/י בקצרה: משפט אחד או שניים, בעברית מדוברת וטבעית, כמו בשיחת טלפון.\n\
                 - בלי רשימות, בלי כותרות, בלי סימני עיצוב, בלי אימוג'י ובלי קישורים; מספרים במילים כשזה טבעי.\n\
                 - שאלה אחת בכל פעם. אם זה לא זמן נוח, שאל/י מתי לחזור, קרא/י לכלי request_callback וסיים/י.\n\
                 - אל תמציא/י מידע על העסק; אם אינך יודע/ת, אמור/י שהעסק יחזור עם תשובה.\n\
                 - כשהבנת מה האדם רוצה שנעביר לעסק, קרא/י לכלי save_caller_details.\n\
                 - כשהשיחה הסתיימה, אמור/י תודה ולהתראות וקרא/י לכלי end_call.\n"
            )
        }
    };
    match ctx
        .transfer_number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(number) => p.push_str(&format!(
            "- אם הלקוח מבקש לדבר עם אדם, או שאינך יכול/ה לעזור לו, אמור/י שאת/ה מעביר/ה \
             אותו לנציג/ה וקרא/י לכלי transfer_call עם המספר {number}.\n"
        )),
        None => p.push_str(
            "- אין אפשרות להעביר את השיחה לנציג/ה. אם הלקוח מבקש לדבר עם אדם, אמור/י שנחזור \
             אליו בהקדם וקרא/י לכלי request_callback.\n",
        ),
    }
    if let Some(hours) = ctx.business_hours.as_deref().and_then(hours_text) {
        p.push_str(&format!("שעות הפעילות של העסק: {hours}\n"));
    }
    if let Some(number) = ctx.caller_number.as_deref().filter(|n| !n.is_empty()) {
        if ctx.outbound.is_some() {
            p.push_str(&format!("מספר הטלפון אליו התקשרת: {number}\n"));
        } else {
            p.push_str(&format!("מספר הטלפון של המתקשר: {number}\n"));
        }
    }
    if let Some(extra) = ctx
        .system_prompt
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        p.push_str("\nהנחיות ומידע על העסק:\n");
        p.push_str(extra.trim());
        p.push('\n');
    }
    if let Some(text) = ctx.tool_host.as_ref().and_then(|h| h.instructions()) {
        p.push('\n');
        p.push_str(text.trim());
        p.push('\n');
    }
    p
}

fn function(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            },
        },
    })
}

/// The tools offered to the model; see `sse::tool_action` for their mapping.
pub(crate) fn tools() -> Value {
    let s = |d: &str| json!({"type": "string", "description": d});
    json!([
        function(
            "end_call",
            "End the phone call after saying goodbye.",
            json!({}),
            &[]
        ),
        function(
            "transfer_call",
            "Transfer the call to a phone number given in the business instructions.",
            json!({"number": s("E.164 phone number")}),
            &["number"],
        ),
        function(
            "save_caller_details",
            "Save the caller's details for the business.",
            json!({
                "name": s("caller's name"),
                "reason": s("reason for the call"),
                "callback_time": s("when to call back"),
                "urgency": {"type": "string", "enum": ["low", "normal", "urgent"]},
            }),
            &[],
        ),
        function(
            "request_callback",
            "The caller asked to be called back at a given time.",
            json!({"when": s("when to call back, as the caller said it")}),
            &["when"],
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_carries_the_business_and_its_knowledge() {
        let ctx = AgentContext {
            business_name: "מספרת רותי".into(),
            system_prompt: Some("פתוח א-ה 9:00-18:00".into()),
            caller_number: Some("+972501234567".into()),
            ..Default::default()
        };
        let p = system_prompt(&ctx);
        assert!(p.contains("מספרת רותי"));
        assert!(p.contains("פתוח א-ה 9:00-18:00"));
        assert!(p.contains("+972501234567"));
        assert!(p.contains(DEFAULT_QUESTIONS[0]));
        assert!(p.contains("בקצרה"));
        assert!(p.contains("אין אפשרות להעביר"), "no transfer number");
        assert!(!p.contains("שעות הפעילות"), "no hours");
    }

    #[test]
    fn an_outbound_call_has_its_own_instructions_and_the_number_called() {
        let ctx = AgentContext {
            business_name: "מספרת רותי".into(),
            caller_number: Some("+972541112222".into()),
            outbound: Some(crate::provider::Outbound {
                purpose: Some("תזכורת לתור מחר בעשר".into()),
            }),
            ..Default::default()
        };
        let p = system_prompt(&ctx);
        assert!(p.contains("שיחה יוצאת"), "{p}");
        assert!(p.contains("תזכורת לתור מחר בעשר"), "{p}");
        assert!(p.contains("מספר הטלפון אליו התקשרת: +972541112222"), "{p}");
        assert!(!p.contains("מספר הטלפון של המתקשר"), "{p}");
        assert!(!p.contains(DEFAULT_QUESTIONS[0]), "not the intake: {p}");
    }

    #[test]
    fn prompt_carries_the_hours_and_the_transfer_number() {
        let ctx = AgentContext {
            business_name: "מוסך".into(),
            business_hours: Some(r#"{"sun": ["08:00", "17:00"], "sat": null}"#.into()),
            transfer_number: Some("+972541112222".into()),
            ..Default::default()
        };
        let p = system_prompt(&ctx);
        assert!(
            p.contains("שעות הפעילות של העסק: ראשון: 08:00–17:00; שבת: סגור"),
            "{p}"
        );
        assert!(p.contains("transfer_call עם המספר +972541112222"), "{p}");
        assert!(!p.contains("אין אפשרות להעביר"));
        let free = AgentContext {
            business_hours: Some("א׳–ה׳ 9:00–17:00".into()),
            ..Default::default()
        };
        assert!(system_prompt(&free).contains("שעות הפעילות של העסק: א׳–ה׳ 9:00–17:00"));
    }

    #[test]
    fn tools_are_openai_function_tools() {
        let t = tools();
        let names: Vec<&str> = t
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["function"]["name"].as_str().unwrap())
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
        assert!(
            t.as_array()
                .unwrap()
                .iter()
                .all(|x| x["type"] == "function")
        );
    }
}
