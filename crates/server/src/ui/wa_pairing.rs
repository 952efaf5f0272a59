//! The business's WhatsApp pairing page (W3, W5, #21): with `WHATSAPP_PROVIDER=baileys` the
//! owner links the business's own WhatsApp number as a WhatsApp-Web device by scanning the
//! QR code shown here, sees the state as it changes (the page refreshes itself while it is
//! not settled), and can disconnect. The bridge holds the session; this page only asks it.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};

use super::page::{Layout, PageResult, ok};
use super::viewer::OwnerViewer;
use crate::app::AppState;
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
    /// Not settled yet: the page refreshes itself.
    refresh: bool,
    can_connect: bool,
    can_disconnect: bool,
}

pub async fn page(State(state): State<AppState>, o: OwnerViewer) -> PageResult {
    let l = Layout::new("חיבור וואטסאפ", "settings", Some(o.0.v.nav.clone()));
    if !pairing::enabled(&state) {
        return Ok(ok(&PairingPage {
            l,
            enabled: false,
            state: "off".into(),
            label: "",
            advice: "",
            number: String::new(),
            qr_svg: String::new(),
            error: String::new(),
            refresh: false,
            can_connect: false,
            can_disconnect: false,
        }));
    }
    let (session, error) = match pairing::get(&state, o.0.business_id).await {
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
    Ok(ok(&PairingPage {
        l,
        enabled: true,
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
pub async fn connect(State(state): State<AppState>, o: OwnerViewer) -> PageResult {
    if pairing::enabled(&state) {
        if let Err(e) = pairing::connect(&state, o.0.business_id).await {
            tracing::warn!(error = %e, "WHATSAPP_BRIDGE_UNREACHABLE: connect failed");
        }
        tracing::info!(business_id = o.0.business_id, "UI_WHATSAPP_CONNECT");
    }
    Ok(Redirect::to("/app/biz/settings/whatsapp").into_response())
}

/// `POST /app/biz/settings/whatsapp/disconnect`: unlink the device.
pub async fn disconnect(State(state): State<AppState>, o: OwnerViewer) -> PageResult {
    if pairing::enabled(&state) {
        if let Err(e) = pairing::logout(&state, o.0.business_id).await {
            tracing::warn!(error = %e, "WHATSAPP_BRIDGE_UNREACHABLE: disconnect failed");
        }
        tracing::info!(business_id = o.0.business_id, "UI_WHATSAPP_DISCONNECT");
    }
    Ok(Redirect::to("/app/biz/settings/whatsapp").into_response())
}
