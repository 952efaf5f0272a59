//! Pairing a business's own WhatsApp number with the Baileys bridge (W3, W5, #21): its
//! session endpoints (`GET /sessions`, `GET /sessions/{business}`,
//! `POST /sessions/{business}/connect|logout`, docs/baileys-bridge.md), called with the
//! shared secret, and what the web app shows of them: the state in Hebrew with what to do,
//! and the QR code rendered here as an SVG (no script, no image URL: the app's CSP holds).

use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

use crate::config::WhatsappProvider;
use crate::whatsapp::baileys::SECRET_HEADER;
use crate::whatsapp::state::WaState;

/// One business's session, as the bridge reports it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Session {
    pub business: String,
    pub state: String,
    pub qr: Option<String>,
    pub number: Option<String>,
    pub reason: Option<String>,
}

#[derive(Deserialize)]
struct SessionList {
    sessions: Vec<Session>,
}

/// Whether pairing applies: WhatsApp goes through the bridge.
pub fn enabled(state: &WaState) -> bool {
    state.settings.whatsapp_provider == Some(WhatsappProvider::Baileys)
        && state.settings.baileys_bridge_url.is_some()
}

async fn call(
    state: &WaState,
    method: reqwest::Method,
    path: &str,
) -> Result<Option<reqwest::Response>, String> {
    let base = state
        .settings
        .baileys_bridge_url
        .as_deref()
        .ok_or("BAILEYS_BRIDGE_URL is not set")?;
    let mut request = state
        .whatsapp
        .http
        .request(method, format!("{}{path}", base.trim_end_matches('/')))
        .timeout(std::time::Duration::from_secs(5));
    if let Some(secret) = &state.settings.baileys_shared_secret {
        request = request.header(SECRET_HEADER, secret.expose());
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("the bridge does not answer: {}", e.without_url()))?;
    match response.status().as_u16() {
        404 => Ok(None),
        200..=299 => Ok(Some(response)),
        403 => Err("the bridge refused the shared secret (BAILEYS_SHARED_SECRET)".into()),
        s => Err(format!("the bridge answered {s}")),
    }
}

async fn one(
    state: &WaState,
    method: reqwest::Method,
    path: &str,
) -> Result<Option<Session>, String> {
    match call(state, method, path).await? {
        None => Ok(None),
        Some(r) => r
            .json()
            .await
            .map(Some)
            .map_err(|e| format!("the bridge answered something unreadable: {e}")),
    }
}

/// The business's session, or `None` if it was never started.
pub async fn get(state: &WaState, business_id: i64) -> Result<Option<Session>, String> {
    one(
        state,
        reqwest::Method::GET,
        &format!("/sessions/{business_id}"),
    )
    .await
}

/// Starts pairing (a fresh QR code if the session was logged out).
pub async fn connect(state: &WaState, business_id: i64) -> Result<Option<Session>, String> {
    let path = format!("/sessions/{business_id}/connect");
    one(state, reqwest::Method::POST, &path).await
}

/// Unlinks the device from the phone and forgets its credentials.
pub async fn logout(state: &WaState, business_id: i64) -> Result<Option<Session>, String> {
    let path = format!("/sessions/{business_id}/logout");
    one(state, reqwest::Method::POST, &path).await
}

/// Every session the bridge holds, for the operator.
pub async fn all(state: &WaState) -> Result<Vec<Session>, String> {
    match call(state, reqwest::Method::GET, "/sessions").await? {
        None => Ok(vec![]),
        Some(r) => r
            .json::<SessionList>()
            .await
            .map(|l| l.sessions)
            .map_err(|e| format!("the bridge answered something unreadable: {e}")),
    }
}

/// The state in Hebrew, and what the owner should do about it.
pub fn hebrew(s: Option<&Session>) -> (&'static str, &'static str) {
    let Some(s) = s else {
        return (
            "לא מחובר",
            "לחצו על \"חיבור\" כדי לקבל קוד QR ולקשר את מספר הוואטסאפ של העסק.",
        );
    };
    match (s.state.as_str(), s.reason.as_deref()) {
        ("connected", _) => ("מחובר", "הודעות וואטסאפ נשלחות ומתקבלות דרך המספר של העסק."),
        ("unpaired", _) => (
            "ממתין לסריקה",
            "בטלפון של העסק: וואטסאפ ← הגדרות ← מכשירים מקושרים ← קישור מכשיר, וסרקו את הקוד.",
        ),
        ("pairing", _) => ("מתחבר…", "הקוד נסרק; וואטסאפ משלים את הקישור."),
        ("connecting", _) => (
            "מתחבר מחדש…",
            "החיבור לוואטסאפ נותק ומתחדש מעצמו. אם זה נמשך, ודאו שהטלפון מחובר לאינטרנט.",
        ),
        ("logged_out", Some("banned")) => (
            "המספר נחסם על ידי וואטסאפ",
            "וואטסאפ חסמה את המספר. פתחו את וואטסאפ בטלפון של העסק ובקשו בדיקה חוזרת; \
             אחרי שהחסימה תוסר, לחצו על \"חיבור\" וסרקו קוד חדש. עד אז הודעות לא יישלחו.",
        ),
        ("logged_out", Some("replaced")) => (
            "מנותק: מכשיר אחר השתלט",
            "חיבור וואטסאפ ווב אחר תפס את המקום. לחצו על \"חיבור\" וסרקו קוד חדש.",
        ),
        ("logged_out", _) => (
            "מנותק",
            "המכשיר הוסר מהמכשירים המקושרים בטלפון. הודעות לא יישלחו עד שתלחצו על \"חיבור\" \
             ותסרקו קוד חדש.",
        ),
        _ => ("לא ידוע", "רעננו את הדף בעוד רגע."),
    }
}

/// A send the bridge refused, in Hebrew with what to do (its `code`, see the contract).
pub fn send_error_hebrew(code: &str) -> Option<&'static str> {
    Some(match code {
        "logged_out" | "replaced" => {
            "לא נשלח: וואטסאפ של העסק מנותק. חברו אותו מחדש בהגדרות ← חיבור מספר הוואטסאפ."
        }
        "banned" => "לא נשלח: וואטסאפ חסמה את מספר העסק. בקשו בדיקה חוזרת באפליקציית וואטסאפ.",
        "unpaired" => "לא נשלח: מספר הוואטסאפ של העסק עוד לא קושר. סרקו את הקוד בהגדרות.",
        "no_session" => "לא נשלח: מספר הוואטסאפ של העסק לא מחובר לשרת החיבור. קשרו אותו בהגדרות.",
        "not_registered" => "לא נשלח: למספר הזה אין וואטסאפ.",
        _ => return None,
    })
}

/// The QR code text as an inline SVG, or `None` if it cannot be encoded.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Inline in the page: the XML declaration has no place in HTML.
    svg.find("<svg").map(|at| svg[at..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qr_code_becomes_an_svg_without_script() {
        let svg = qr_svg("2@abc,def,ghi,jkl").unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn banned_and_logged_out_say_what_to_do() {
        let banned = Session {
            state: "logged_out".into(),
            reason: Some("banned".into()),
            ..Default::default()
        };
        assert!(hebrew(Some(&banned)).0.contains("נחסם"));
        let out = Session {
            state: "logged_out".into(),
            reason: Some("logged_out".into()),
            ..Default::default()
        };
        assert!(hebrew(Some(&out)).1.contains("חיבור"));
    }
}
