//! The one store layer both databases share.
//!
//! Every query goes through sqlx's `Any` driver with `$n` placeholders, which PostgreSQL and
//! SQLite both accept, over portable column types (BIGINT ids and epoch-millisecond times,
//! TEXT, no booleans). So one function serves both backends; where the dialects truly differ
//! (schema DDL, row locking) the difference lives in [`dialect`] and in the two migration
//! folders. Every function that reads tenant data takes the `business_id` it is scoped to
//! as its first argument (C4).
//!
//! Query text is `&'static str` (sqlx refuses text built at run time): column lists and
//! shared fragments are joined at compile time with `const_format::formatcp!`, a query that
//! varies by one fragment picks one of two such texts with [`either!`], and the few texts
//! that must be assembled at run time (placeholder lists, a search's filter) are wrapped in
//! `AssertSqlSafe` where they are built, with why they are safe: from fixed fragments and
//! `$n` placeholders only, every value bound.

/// One of two statements fixed at compile time: `{NAME}` in the text becomes the first
/// fragment when the condition holds, the second otherwise.
macro_rules! either {
    ($cond:expr, $sql:literal, $name:ident = $yes:expr, $no:expr $(,)?) => {
        if $cond {
            const_format::formatcp!($sql, $name = $yes)
        } else {
            const_format::formatcp!($sql, $name = $no)
        }
    };
}

pub mod appointments;
pub mod appointments_caller;
pub mod appointments_customer;
pub mod appointments_view;
pub mod audit;
pub mod businesses;
pub mod calendar_sync;
pub mod call_batch;
pub mod call_policy;
pub mod call_review;
pub mod call_values;
pub mod calls;
pub mod constraints;
pub mod crm_calls;
pub mod customers;
pub mod dialect;
pub mod hooks;
pub mod jobs;
pub mod lead_care;
pub mod lead_tasks;
pub mod leads;
pub mod notify;
pub mod post_call;
pub mod prompts;
pub mod saved_filters;
pub mod scheduling;
pub mod sessions;
pub mod turns;
pub mod user_links;
pub mod users;
pub mod watch;
pub mod whatsapp;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, AssertSqlSafe, ConnectOptions, Connection};

/// A pooled connection idle this long is pinged before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(2);

pub use constraints::unique_field;
pub use dialect::Backend;

/// A pool on either backend, and which backend it is.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Why the database could not be opened; the message never carries the password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL: cannot connect to {url}: {cause}")]
    Connect { url: String, cause: String },
    #[error("DATABASE_URL: migrations failed on {url}: {cause}")]
    Migrate { url: String, cause: String },
}

impl Db {
    /// Connects (creating the SQLite file and its folder when needed) without migrating.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url);
        let shown = redact_url(url);
        let fail = |e: &dyn std::fmt::Display| DbError::Connect {
            url: shown.clone(),
            cause: e.to_string(),
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url).map_err(|e| fail(&e))?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| fail(&e))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        // One direct connection first: its error says why (refused, auth, no such
        // database), where a pool would only say that it timed out.
        let probe = tokio::time::timeout(Duration::from_secs(5), options.connect())
            .await
            .map_err(|_| fail(&"timed out after 5 s"))?
            .map_err(|e| fail(&e))?;
        let _ = probe.close().await;
        let pool = AnyPoolOptions::new()
            .max_connections(backend.pool_size())
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(3))
            // A ping on every acquire is one more round trip on every query (on the answer
            // path of a webhook that is most of its cost); a connection that sat idle may
            // have died with the database, so only those are tested before use.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    for stmt in backend.session_setup() {
                        sqlx::query(*stmt).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options);
        let pool = tokio::time::timeout(Duration::from_secs(5), pool)
            .await
            .map_err(|_| fail(&"timed out after 5 s"))?
            .map_err(|e| fail(&e))?;
        Ok(Db { pool, backend })
    }

    /// Connects and applies the embedded migrations for this backend (C1).
    pub async fn open(url: &str) -> Result<Self, DbError> {
        let db = Self::connect(url).await?;
        db.migrate().await.map_err(|e| DbError::Migrate {
            url: redact_url(url),
            cause: e.to_string(),
        })?;
        Ok(db)
    }

    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&self.pool).await,
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await
            }
        }
    }

    /// A cheap round trip, for `/readyz`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether a table exists, by a query that reads no rows (for tables other parts of the
/// service bring, whose sections are shown only when they are there).
pub async fn table_exists(db: &Db, table: &'static str) -> bool {
    // Safe: `table` is a `&'static str` name written in the code, never input.
    sqlx::query(AssertSqlSafe(format!("SELECT 1 FROM {table} WHERE 1 = 0")))
        .fetch_optional(&db.pool)
        .await
        .is_ok()
}

/// Milliseconds since the Unix epoch: the one time format stored in every table.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// `sqlite://path` → the same URL with `mode=rwc`, after creating the folder.
fn prepare_sqlite_url(url: &str) -> std::io::Result<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:"
        && let Some(parent) = Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let query = if query.contains("mode=") {
        query.to_string()
    } else if query.is_empty() {
        "mode=rwc".to_string()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// The URL with any password replaced, for messages and logs (S2).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// True when the error is a unique-constraint violation on either backend.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                || db.code().as_deref() == Some("23505")
                || db.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:hunter2@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://./x.db"), "sqlite://./x.db");
    }

    #[test]
    fn sqlite_urls_gain_create_mode() {
        let dir = std::env::temp_dir().join(format!("mokdan-url-{}", std::process::id()));
        let url = format!("sqlite://{}/a.db", dir.display());
        let out = prepare_sqlite_url(&url).unwrap();
        assert!(out.ends_with("a.db?mode=rwc"), "{out}");
        assert!(dir.is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
