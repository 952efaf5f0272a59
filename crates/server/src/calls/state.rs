//! The calls feature's slice of the service: what answering, streaming, watching and
//! following up a call needs, and nothing of the CRM, the web app or WhatsApp.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::store::Db;

#[derive(Clone)]
pub struct CallsState {
    pub settings: Arc<Settings>,
    pub db: Db,
    /// Cancelled when the server shuts down; every spawned task watches it.
    pub shutdown: CancellationToken,
    /// Call-log writes kept on disk while the database is unavailable.
    pub outbox: Arc<crate::outbox::Outbox>,
    /// Login limits and sessions, for the API routes that place calls.
    pub auth: Arc<crate::auth::AuthState>,
    /// The Twilio REST client, when an account is configured.
    pub twilio: Option<telephony::rest::TwilioClient>,
    pub watchdog: Arc<super::watchdog::Watchdog>,
    pub prompts: Arc<crate::prompts::Prompts>,
    /// Which business owns a number, cached for a few seconds.
    pub numbers: Arc<crate::store::businesses::NumberCache>,
    /// Group commit of `incoming_call` rows on PostgreSQL.
    pub call_writer: Option<crate::store::call_batch::CallWriter>,
    /// Speech and agent providers shared by every live call.
    pub voice: voice::session::Providers,
    /// Which providers are configured (the engines a call and its follow-up use).
    pub providers: crate::ops::Providers,
    /// Staff members' Google Calendars, for the appointment tools' free times (#19).
    pub google: Option<crate::appointments::gcal::Google>,
}

crate::feature_state!(CallsState);
