//! The business's WhatsApp pairing page (W3, W5, #21): with `WHATSAPP_PROVIDER=baileys` the
//! owner links the business's own WhatsApp number as a WhatsApp-Web device by scanning the
//! QR code shown here, sees the state as it changes (the page refreshes itself while it is
//! not settled), and can disconnect. The bridge holds the session; this page only asks it.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};

use super::page::{Layout, PageResult, ok};
use super::viewer::OwnerViewer;
use crate::store::businesses;
use crate::ui::state::WebState;
use crate::whatsapp::pairing;

#[derive(Template)]
#[template(path = "wa_pairing.html")]
struct PairingPage {
    l: Layout,
    enabled: bool,
    /// The bridge's state word (`none` if never started), for tests and styling.
    state: String,
    label: &'static str,
    advice: &'static str,
    number: String,
    qr_svg: String,
    error: String,
    /// The paired number is not one of the business's: its messages would not reach it.
    mismatch: String,
    /// Not settled yet: the page refreshes itself.
    refresh: bool,
    can_connect: bool,
    can_disconnect: bool,
}

pub async fn page(State(state): State<WebState>, o: OwnerViewer) -> PageResult {
    let l = Layout::new("חיבור וואטסאפ", "settings", Some(o.0.v.nav.clone()));
    if !pairing::enabled(&state.wa) {
        return Ok(ok(&PairingPage {
            l,
            enabled: false,
            state: "off".into(),
            label: "",
            advice: "",
            number: String::new(),
            qr_svg: String::new(),
            error: String::new(),
            mismatch: String::new(),
            refresh: false,
            can_connect: false,
            can_disconnect: false,
        }));
    }
    let (session, error) = match pairing::get(&state.wa, o.0.business_id).await {
        Ok(s) => (s, String::new()),
        Err(e) => {
            tracing::warn!(error = %e, "WHATSAPP_BRIDGE_UNREACHABLE: pairing state unknown");
            (
                None,
                "שרת החיבור לוואטסאפ אינו זמין כרגע. נסו שוב בעוד רגע.".to_string(),
            )
        }
    };
    let (label, advice) = pairing::hebrew(session.as_ref());
    let word = session
        .as_ref()
        .map_or("none", |s| s.state.as_str())
        .to_string();
    let qr_svg = session
        .as_ref()
        .and_then(|s| s.qr.as_deref())
        .and_then(pairing::qr_svg)
        .unwrap_or_default();
    let mismatch = match session.as_ref().and_then(|s| s.number.clone()) {
        Some(paired) if word == "connected" => {
            let mut own = businesses::numbers(&state.db, o.0.business_id).await?;
            if let Some(b) = businesses::get(&state.db, o.0.business_id).await? {
                own.extend(b.whatsapp_number);
            }
            if own.iter().any(|n| n == &paired) {
                String::new()
            } else {
                tracing::warn!(
                    business_id = o.0.business_id,
                    "WHATSAPP_PAIRED_NUMBER_MISMATCH: the linked phone is not the business's WhatsApp number"
                );
                "המספר שקושר אינו מספר הוואטסאפ של העסק, ולכן הודעות אליו לא יגיעו לכאן. נתקו וקשרו את \
                 הטלפון של העסק, או בקשו מהמפעיל לעדכן את מספר הוואטסאפ של העסק."
                    .to_string()
            }
        }
        _ => String::new(),
    };
    Ok(ok(&PairingPage {
        l,
        enabled: true,
        mismatch,
        refresh: matches!(word.as_str(), "unpaired" | "pairing" | "connecting"),
        can_connect: error.is_empty() && matches!(word.as_str(), "none" | "logged_out"),
        can_disconnect: error.is_empty() && !matches!(word.as_str(), "none" | "logged_out"),
        number: session
            .as_ref()
            .and_then(|s| s.number.clone())
            .unwrap_or_default(),
        state: word,
        label,
        advice,
        qr_svg,
        error,
    }))
}

/// `POST /app/biz/settings/whatsapp/connect`: start pairing, then show the page.
pub async fn connect(State(state): State<WebState>, o: OwnerViewer) -> PageResult {
    if pairing::enabled(&state.wa) {
        if let Err(e) = pairing::connect(&state.wa, o.0.business_id).await {
            tracing::warn!(error = %e, "WHATSAPP_BRIDGE_UNREACHABLE: connect failed");
        }
        tracing::info!(business_id = o.0.business_id, "UI_WHATSAPP_CONNECT");
    }
    Ok(Redirect::to("/app/biz/settings/whatsapp").into_response())
}

/// `POST /app/biz/settings/whatsapp/disconnect`: unlink the device.
pub async fn disconnect(State(state): State<WebState>, o: OwnerViewer) -> PageResult {
    if pairing::enabled(&state.wa) {
        if let Err(e) = pairing::logout(&state.wa, o.0.business_id).await {
            tracing::warn!(error = %e, "WHATSAPP_BRIDGE_UNREACHABLE: disconnect failed");
        }
        tracing::info!(business_id = o.0.business_id, "UI_WHATSAPP_DISCONNECT");
    }
    Ok(Redirect::to("/app/biz/settings/whatsapp").into_response())
}
