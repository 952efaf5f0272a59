//! A short memory of live sessions, so a signed-in request does not always cost a database
//! round trip before its own work.
//!
//! A bearer JWT names its session, and a cookie is its session's token; either way the
//! session must still be live (not revoked, not expired) and its user still there with the
//! same role and business. Looking that up on every request was one of the two queries
//! behind each customer-list request. Here an answer is reused for at most [`TTL`].
//!
//! Every revocation this process makes (logout, a password, role or business change, a
//! user's or a business's deletion) calls [`SessionCache::clear`], so on one node it takes
//! effect at once. A revocation made by another process on the same database (another
//! node, `mokdan user set-password`) takes effect within [`TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::sessions::Principal;

/// How long a session check is reused.
pub const TTL: Duration = Duration::from_secs(2);
/// Entries kept at most (one per live credential seen within [`TTL`]).
const MAX_ENTRIES: usize = 10_000;

/// What a credential is known by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A JWT's session and user ids.
    Jwt { session_id: i64, user_id: i64 },
    /// The SHA-256 digest of a session cookie's token.
    Cookie(String),
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, (Principal, Instant)>,
    /// Bumped by every clear, so a lookup that began before it is not remembered after.
    generation: u64,
}

#[derive(Default)]
pub struct SessionCache {
    inner: Mutex<Inner>,
}

impl SessionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A principal checked within [`TTL`], and otherwise the generation to pass to
    /// [`SessionCache::put`] after looking it up.
    pub fn get(&self, key: &Key) -> Result<Principal, u64> {
        let inner = self.lock();
        match inner.entries.get(key) {
            Some((p, at)) if at.elapsed() < TTL => Ok(p.clone()),
            _ => Err(inner.generation),
        }
    }

    /// Remembers a principal looked up at `generation` (unless a clear came since).
    pub fn put(&self, key: Key, principal: Principal, generation: u64) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.retain(|_, (_, at)| at.elapsed() < TTL);
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
        }
        inner.entries.insert(key, (principal, Instant::now()));
    }

    /// Forgets everything: a session was revoked, or a user or business changed or went.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(user_id: i64) -> Principal {
        Principal {
            session_id: 1,
            user_id,
            role: "owner".into(),
            business_id: Some(1),
        }
    }

    #[test]
    fn remembers_until_cleared_and_not_across_a_clear() {
        let c = SessionCache::default();
        let key = Key::Jwt {
            session_id: 1,
            user_id: 7,
        };
        let g = c.get(&key).unwrap_err();
        c.put(key.clone(), principal(7), g);
        assert_eq!(c.get(&key).unwrap().user_id, 7);
        assert!(c.get(&Key::Cookie("x".into())).is_err());
        c.clear();
        assert!(c.get(&key).is_err());
        // A lookup that began before a clear is not remembered.
        let before = g;
        c.put(key.clone(), principal(7), before);
        assert!(c.get(&key).is_err());
    }
}
