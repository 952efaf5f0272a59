//! The set-up checklist on the dashboard (X5): while anything a business needs is missing,
//! it says what is done, what each missing step enables, in Hebrew, and links to where it is
//! done. It is honest: a step counts as done only when the service can show it is (the
//! first inbound call proves the number's webhooks point here; a key set in the service's
//! configuration, not a wish in a form).

use super::state::WebState;
use crate::config::Settings;
use crate::store::{Db, businesses, crm_calls};

/// One step of the checklist.
pub struct Step {
    pub id: &'static str,
    pub done: bool,
    pub title: &'static str,
    /// What the step gives the business, or what is missing while it is not done.
    pub why: &'static str,
    pub href: &'static str,
    pub action: &'static str,
}

/// The checklist, or `None` once every step is done.
pub struct Checklist {
    pub steps: Vec<Step>,
    pub done: usize,
}

/// What the service itself has configured (set by whoever runs it, not per business).
fn service(settings: &Settings) -> (bool, bool, bool, bool) {
    let twilio = settings.twilio_account_sid.is_some() && settings.twilio_auth_token.is_some();
    let stt = settings.openai_stt_configured() || settings.google_credentials.is_some();
    let model = settings.openai_api_key.is_some();
    let whatsapp = settings.whatsapp_provider.is_some();
    (twilio, stt, model, whatsapp)
}

pub async fn checklist(
    state: &WebState,
    business_id: i64,
) -> Result<Option<Checklist>, sqlx::Error> {
    steps(&state.db, &state.settings, business_id).await
}

/// The steps for one business; public for the tests.
pub async fn steps(
    db: &Db,
    settings: &Settings,
    business_id: i64,
) -> Result<Option<Checklist>, sqlx::Error> {
    let business = businesses::get(db, business_id).await?;
    let numbers = businesses::numbers(db, business_id).await?;
    let (any_call, inbound) = crm_calls::firsts(db, business_id).await?;
    let (twilio, stt, model, whatsapp) = service(settings);
    let greeting = business
        .as_ref()
        .and_then(|b| b.greeting.as_deref())
        .is_some_and(|g| !g.trim().is_empty());
    let wa_number = business
        .as_ref()
        .and_then(|b| b.whatsapp_number.as_deref())
        .is_some_and(|n| !n.trim().is_empty());
    let steps = vec![
        Step {
            id: "number",
            done: !numbers.is_empty() && twilio,
            title: "מספר טלפון לעסק",
            why: "המספר שהלקוחות מחייגים אליו; בלעדיו מוקדן לא עונה לאף שיחה. מפעיל השירות מחבר את חשבון טוויליו ומשייך את המספר לעסק.",
            href: "/app/biz/settings",
            action: "להגדרות העסק",
        },
        Step {
            id: "webhooks",
            done: inbound,
            title: "השיחה הראשונה מהמספר הגיעה",
            why: "מוכיח שהמספר בטוויליו מפנה את השיחות למוקדן. אם חייגתם ולא הגיעה שיחה, כתובות ההפניה של המספר בטוויליו אינן מוגדרות.",
            href: "/app/biz/calls",
            action: "ליומן השיחות",
        },
        Step {
            id: "stt",
            done: stt,
            title: "זיהוי דיבור",
            why: "מתמלל את דברי המתקשרים, כך שכל שיחה נרשמת כטקסט ונוצר ממנה ליד. בלעדיו התשובות נשמרות כהקלטה בלבד, להאזנה.",
            href: "/app/biz/calls",
            action: "לשיחות",
        },
        Step {
            id: "model",
            done: model,
            title: "מודל השיחה של הסוכן",
            why: "מאפשר לסוכן לנהל שיחה חופשית ולענות על שאלות. בלעדיו הסוכן שואל רק את שאלות הקליטה הקבועות.",
            href: "/app/biz/settings",
            action: "להנחיות הסוכן",
        },
        Step {
            id: "whatsapp",
            done: whatsapp && wa_number,
            title: "וואטסאפ",
            why: "מאפשר לענות ולשלוח הודעות וואטסאפ ללקוחות מתוך המערכת, ממספר הוואטסאפ של העסק.",
            href: "/app/biz/settings/whatsapp",
            action: "לחיבור הוואטסאפ",
        },
        Step {
            id: "greeting",
            done: greeting,
            title: "ברכת פתיחה משלכם",
            why: "מה שהמתקשרים שומעים ראשון. עד שתכתבו אחת, נשמעת ברכת ברירת המחדל עם שם העסק.",
            href: "/app/biz/settings",
            action: "לכתיבת הברכה",
        },
        Step {
            id: "test-call",
            done: any_call,
            title: "שיחת ניסיון",
            why: "שיחה מדומה אל העסק, כדי לשמוע איך מוקדן עונה לפני שלקוח אמיתי מתקשר.",
            href: "/app/biz/try",
            action: "לשיחת ניסיון",
        },
    ];
    let done = steps.iter().filter(|s| s.done).count();
    Ok((done < steps.len()).then_some(Checklist { steps, done }))
}

/// Why the service cannot place a call for this business now, in Hebrew, or `None` when it
/// can: the button that would fail is shown disabled with this reason beside it.
pub fn call_out_blocked(settings: &Settings, has_number: bool) -> Option<&'static str> {
    if settings.twilio_account_sid.is_none() || settings.twilio_auth_token.is_none() {
        Some("אי אפשר להתקשר מכאן עדיין: חשבון הטלפוניה (טוויליו) לא חובר לשירות.")
    } else if !has_number {
        Some("אי אפשר להתקשר מכאן עדיין: לעסק אין מספר טלפון משלו להתקשר ממנו.")
    } else {
        None
    }
}

/// Why a WhatsApp message cannot be sent now, in Hebrew, or `None` when it can.
pub fn whatsapp_blocked(settings: &Settings) -> Option<&'static str> {
    settings
        .whatsapp_provider
        .is_none()
        .then_some("אי אפשר לשלוח מכאן עדיין: וואטסאפ לא חובר לשירות.")
}
