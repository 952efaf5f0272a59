//! Where PostgreSQL and SQLite differ, and nowhere else.
//!
//! Queries elsewhere are written once in the shared subset. This module holds the few
//! things that cannot be: per-connection set-up, pool sizes, and statements that only one
//! dialect can express (row locks with `SKIP LOCKED`).

/// The database behind a [`super::Db`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Self {
        if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// SQLite serialises writers, so a small pool avoids lock convoys; PostgreSQL scales out.
    pub fn pool_size(self) -> u32 {
        match self {
            Backend::Sqlite => 8,
            Backend::Postgres => 24,
        }
    }

    /// Statements run on every new connection.
    pub fn session_setup(self) -> &'static [&'static str] {
        match self {
            // WAL lets readers run beside the writer; busy_timeout waits instead of failing.
            Backend::Sqlite => &[
                "PRAGMA journal_mode = WAL",
                "PRAGMA synchronous = NORMAL",
                "PRAGMA busy_timeout = 5000",
                "PRAGMA foreign_keys = ON",
            ],
            Backend::Postgres => &[],
        }
    }

    /// Whether `WITH x AS (INSERT … RETURNING …)` works, so dependent writes can be one
    /// statement (one round trip, one commit).
    pub fn has_writable_ctes(self) -> bool {
        self == Backend::Postgres
    }

    /// Whether claimed rows are locked with [`SKIP_LOCKED`] (SQLite serialises writers and
    /// has no row locks).
    pub fn skips_locked(self) -> bool {
        self == Backend::Postgres
    }
}

/// The suffix that locks claimed rows without waiting for other claimers (PostgreSQL).
pub const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";
