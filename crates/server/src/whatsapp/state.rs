//! The WhatsApp feature's slice of the service: receiving, replying and sending through
//! the configured provider, and the bridge's pairing.

use std::sync::Arc;

use crate::config::Settings;
use crate::store::Db;

#[derive(Clone)]
pub struct WaState {
    pub settings: Arc<Settings>,
    pub db: Db,
    /// Writes kept on disk while the database is unavailable.
    pub outbox: Arc<crate::outbox::Outbox>,
    /// Login limits and sessions, for the API routes.
    pub auth: Arc<crate::auth::AuthState>,
    /// Twilio's REST client, when configured (WhatsApp through Twilio).
    pub twilio: Option<telephony::rest::TwilioClient>,
    /// The HTTP client for Meta's Graph API and the Baileys bridge.
    pub whatsapp: Arc<super::Whatsapp>,
    /// The agent that writes auto-replies.
    pub voice: voice::session::Providers,
    /// The Google account staff calendars are shared with: a booking in writing never
    /// takes a time their calendar marks busy (#19).
    pub google: Option<crate::appointments::gcal::Google>,
}

crate::feature_state!(WaState);
