//! What authentication needs of the service: the settings (secrets, trusted proxies, the
//! public base URL), the database (users, sessions, tokens) and the per-process limits.
//!
//! Every feature whose routes take a signed-in caller holds these three, and the
//! extractors ([`super::Caller`], [`super::Tenant`], [`super::Operator`] …) reach them
//! through axum's `FromRef`, so one set of extractors works under every feature's state.

use std::sync::Arc;

use crate::config::Settings;
use crate::store::Db;

/// The slice of the service that authenticates a request.
#[derive(Clone)]
pub struct AuthCtx {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub auth: Arc<super::AuthState>,
}

/// `FromRef<$state>` for [`AuthCtx`] and for the settings, for a feature state with
/// `settings`, `db` and `auth`: what the sign-in and Twilio extractors take.
#[macro_export]
macro_rules! feature_state {
    ($state:ty) => {
        impl axum::extract::FromRef<$state> for std::sync::Arc<$crate::config::Settings> {
            fn from_ref(s: &$state) -> Self {
                s.settings.clone()
            }
        }
        impl axum::extract::FromRef<$state> for $crate::auth::AuthCtx {
            fn from_ref(s: &$state) -> Self {
                $crate::auth::AuthCtx {
                    settings: s.settings.clone(),
                    db: s.db.clone(),
                    auth: s.auth.clone(),
                }
            }
        }
    };
}
