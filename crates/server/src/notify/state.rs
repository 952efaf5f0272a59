//! The notify feature's slice of the service: the settings (SMTP, the WhatsApp template),
//! the database, sign-in for its API, and the WhatsApp feature's senders, which its
//! WhatsApp notifications go out through (the one place it reaches another feature).

use std::sync::Arc;

use crate::config::Settings;
use crate::store::Db;
use crate::whatsapp::state::WaState;

#[derive(Clone)]
pub struct NotifyState {
    pub settings: Arc<Settings>,
    pub db: Db,
    /// Login limits and sessions, for the API routes.
    pub auth: Arc<crate::auth::AuthState>,
    /// The WhatsApp providers' clients (Twilio's REST client, the Graph API's and the
    /// bridge's HTTP client).
    pub wa: WaState,
}

crate::feature_state!(NotifyState);
