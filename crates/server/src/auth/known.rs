//! Clients that have signed in to an account before, so a guesser cannot lock its owner out.
//!
//! The per-account limit (five failures a minute) stops guessing spread over many
//! addresses, but it used to refuse everyone, the account's owner included: five wrong
//! guesses a minute kept the right password at 429 for ever. Now the limit applies only to
//! clients without a recent successful login to that account: the address it came from
//! (remembered in memory for [`REMEMBER`]) or a browser holding the signed `mokdan_device`
//! cookie that a successful login sets (the "device cookie" defence). A known client still
//! has the per-IP limit, and its failures still count against the account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie a successful login leaves in the browser, sent back only to `/api/auth`.
pub const DEVICE_COOKIE: &str = "mokdan_device";
/// How long an address, or a device cookie, stays known after a successful login.
pub const REMEMBER: Duration = Duration::from_secs(30 * 24 * 3600);
/// Addresses remembered at most (the oldest are forgotten first when full).
const MAX_ENTRIES: usize = 100_000;

/// Accounts' recently successful client addresses, in this process's memory.
#[derive(Default)]
pub struct KnownClients {
    seen: Mutex<HashMap<(String, String), Instant>>,
}

impl KnownClients {
    /// Whether `ip` signed in to `account` within [`REMEMBER`].
    pub fn contains(&self, account: &str, ip: &str, now: Instant) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&(account.to_string(), ip.to_string()))
            .is_some_and(|at| now.duration_since(*at) < REMEMBER)
    }

    /// Remembers a successful login to `account` from `ip`.
    pub fn remember(&self, account: &str, ip: &str, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ENTRIES {
            seen.retain(|_, at| now.duration_since(*at) < REMEMBER);
            if seen.len() >= MAX_ENTRIES
                && let Some(oldest) = seen
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
            {
                seen.remove(&oldest);
            }
        }
        seen.insert((account.to_string(), ip.to_string()), now);
    }
}

fn mac(secret: &str, account: &str, issued: u64) -> String {
    let tag = crate::crypto::hmac_sha256(
        secret.as_bytes(),
        format!("device|{account}|{issued}").as_bytes(),
    );
    hex::encode(&tag[..16])
}

/// A device cookie's value for `account`, issued at `now_secs` (Unix seconds).
pub fn device_cookie(secret: &str, account: &str, now_secs: u64) -> String {
    format!("{now_secs}.{}", mac(secret, account, now_secs))
}

/// Whether `value` is a device cookie this service issued for `account` within [`REMEMBER`].
pub fn device_cookie_valid(secret: &str, account: &str, value: &str, now_secs: u64) -> bool {
    let Some((issued, sent)) = value.split_once('.') else {
        return false;
    };
    let Ok(issued) = issued.parse::<u64>() else {
        return false;
    };
    if issued > now_secs || now_secs - issued >= REMEMBER.as_secs() {
        return false;
    }
    crate::crypto::constant_time_eq(sent.as_bytes(), mac(secret, account, issued).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_is_bound_to_its_account_secret_and_age() {
        let c = device_cookie("s", "a@x", 1000);
        assert!(device_cookie_valid("s", "a@x", &c, 1001));
        assert!(!device_cookie_valid("s", "b@x", &c, 1001));
        assert!(!device_cookie_valid("t", "a@x", &c, 1001));
        assert!(!device_cookie_valid(
            "s",
            "a@x",
            &c,
            1000 + REMEMBER.as_secs()
        ));
        assert!(!device_cookie_valid("s", "a@x", "1000.00", 1001));
        assert!(!device_cookie_valid("s", "a@x", "garbage", 1001));
    }

    #[test]
    fn addresses_are_known_per_account_for_a_while() {
        let k = KnownClients::default();
        let t0 = Instant::now();
        k.remember("a@x", "1.2.3.4", t0);
        assert!(k.contains("a@x", "1.2.3.4", t0 + Duration::from_secs(60)));
        assert!(!k.contains("b@x", "1.2.3.4", t0));
        assert!(!k.contains("a@x", "1.2.3.5", t0));
        assert!(!k.contains("a@x", "1.2.3.4", t0 + REMEMBER));
    }
}
