//! The operator's health page in Hebrew (#20, O1): each part of the service `/readyz`
//! reports, what it is, whether it works, and what to do when it does not. The raw
//! `/readyz` stays folded beneath for whoever debugs.

use serde_json::Value;

/// One part of the service as the page shows it.
pub struct Component {
    pub key: &'static str,
    pub name: &'static str,
    pub what: &'static str,
    /// תקין, לא מוגדר, תקלה …
    pub state: &'static str,
    /// `ok`, `off` or `bad`, for the badge's colour.
    pub class: &'static str,
    /// What to do, when it is not ok.
    pub advice: &'static str,
}

/// (key, name, what it is, what to do when it is off, what to do when it fails)
const PARTS: [(&str, &str, &str, &str, &str); 9] = [
    (
        "db",
        "מסד הנתונים",
        "כל השיחות, הלידים וההודעות נשמרים בו.",
        "",
        "בדקו ש־DATABASE_URL נכון ושהשרת של מסד הנתונים פועל; עד שיחזור, פעולות נשמרות בתיבת הדואר היוצא.",
    ),
    (
        "disk",
        "תיקיית הנתונים",
        "הקלטות, קטעי דיבור מוכנים ותיבת הדואר היוצא.",
        "",
        "פנו מקום בדיסק או בדקו הרשאות כתיבה לתיקייה שב־MOKDAN_DATA_DIR.",
    ),
    (
        "twilio",
        "טוויליו (טלפוניה)",
        "הוצאת שיחות, העברות, מעבר להקלטה והורדת הקלטות.",
        "הגדירו TWILIO_ACCOUNT_SID ו־TWILIO_AUTH_TOKEN.",
        "בדקו את פרטי החשבון בטוויליו.",
    ),
    (
        "stt",
        "זיהוי דיבור",
        "תמלול דברי המתקשרים בזמן השיחה ואחריה.",
        "הגדירו OPENAI_API_KEY (או OPENAI_STT_BASE_URL) או GOOGLE_APPLICATION_CREDENTIALS; בינתיים התשובות נשמרות כהקלטה.",
        "בדקו את המפתח ואת כתובת השרת.",
    ),
    (
        "tts",
        "הקראה",
        "הקול של מוקדן בשיחה.",
        "התקינו espeak-ng או הגדירו ספק הקראה.",
        "בדקו את ספק ההקראה.",
    ),
    (
        "openai",
        "OpenAI",
        "המודל שמנהל את השיחה ומסכם אותה.",
        "הגדירו OPENAI_API_KEY; בלעדיו הסוכן שואל שאלות קבועות.",
        "השרת של OpenAI לא ענה או דחה את המפתח: בדקו את המפתח ואת החיבור.",
    ),
    (
        "realtime",
        "שיחה קולית ישירה",
        "מודל שמדבר ושומע בעצמו, במקום זיהוי דיבור, מודל והקראה.",
        "הגדירו OPENAI_REALTIME_MODEL כדי להפעיל.",
        "המפתח נדחה או שהשירות לא ענה: שיחות עוברות להקלטה עד שיתוקן.",
    ),
    (
        "google",
        "Google",
        "זיהוי דיבור והקראה של Google.",
        "הגדירו GOOGLE_APPLICATION_CREDENTIALS כדי להפעיל.",
        "בדקו את קובץ ההרשאות.",
    ),
    (
        "whatsapp",
        "וואטסאפ",
        "קבלת הודעות ומענה להן.",
        "הגדירו WHATSAPP_PROVIDER ואת פרטי הספק.",
        "בדקו את פרטי הספק או את שרת החיבור.",
    ),
];

/// The components of a `/readyz` answer, in a fixed order.
pub fn components(ready: &Value) -> Vec<Component> {
    PARTS
        .iter()
        .map(|(key, name, what, off, bad)| {
            let value = ready.get(*key).and_then(Value::as_str).unwrap_or("unknown");
            let (state, class, advice) = match value {
                "ok" | "twilio" | "meta" | "baileys" => ("תקין", "ok", ""),
                "disabled" | "none" => ("לא מוגדר", "off", *off),
                "full" => ("הדיסק מלא", "bad", *bad),
                "unauthorized" => ("המפתח נדחה", "bad", *bad),
                "unknown" | "unchecked" => ("לא נבדק", "off", *bad),
                _ => ("תקלה", "bad", *bad),
            };
            Component {
                key,
                name,
                what,
                state,
                class,
                advice,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_says_what_it_is_and_what_to_do() {
        let ready = serde_json::json!({
            "db": "ok", "disk": "full", "twilio": "disabled", "stt": "ok",
            "tts": "ok", "openai": "unauthorized", "realtime": "disabled",
            "google": "disabled", "whatsapp": "twilio",
        });
        let c = components(&ready);
        let by = |k: &str| c.iter().find(|c| c.key == k).unwrap();
        assert_eq!(by("db").state, "תקין");
        assert!(by("db").advice.is_empty());
        assert_eq!(by("disk").state, "הדיסק מלא");
        assert!(by("disk").advice.contains("MOKDAN_DATA_DIR"));
        assert_eq!(by("openai").state, "המפתח נדחה");
        assert!(by("twilio").advice.contains("TWILIO_ACCOUNT_SID"));
        assert_eq!(by("whatsapp").class, "ok");
        assert!(c.iter().all(|c| !c.name.is_empty() && !c.what.is_empty()));
    }
}
