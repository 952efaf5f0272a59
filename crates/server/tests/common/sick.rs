//! A database that a test can make sick and well again: PostgreSQL behind a proxy that is
//! cut, or SQLite with another connection holding the write lock.

use super::twilio::{self, AUTH_TOKEN};
use super::{Backend, TestApp};

/// A database that can be made sick: PostgreSQL behind a proxy that is cut, or SQLite with
/// another connection holding the write lock (reads still answer, writes wait).
pub struct Sick {
    proxy: Option<super::proxy::Proxy>,
    sqlite_url: Option<String>,
    lock: Option<sqlx::AnyConnection>,
}

impl Sick {
    /// The app on a database that can be made sick, with the usual Twilio credentials.
    pub async fn app(backend: Backend) -> (TestApp, Sick) {
        let vars = [
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
        ];
        Self::app_with(backend, &vars).await
    }

    /// The app on a database that can be made sick, with these variables.
    pub async fn app_with(backend: Backend, vars: &[(&str, &str)]) -> (TestApp, Sick) {
        match backend {
            Backend::Postgres => {
                let db = super::create_pg_database().await;
                let proxy = super::proxy::Proxy::start(&super::pg_host_port()).await;
                let url = super::pg_url(&proxy.addr.to_string(), &db);
                let app = TestApp::spawn_on(url, tempfile::tempdir().unwrap(), vars).await;
                let sick = Sick {
                    proxy: Some(proxy),
                    sqlite_url: None,
                    lock: None,
                };
                (app, sick)
            }
            Backend::Sqlite => {
                let (url, dir) = super::fresh_database(Backend::Sqlite).await;
                let app = TestApp::spawn_on(url.clone(), dir, vars).await;
                let sick = Sick {
                    proxy: None,
                    sqlite_url: Some(url),
                    lock: None,
                };
                (app, sick)
            }
        }
    }

    /// The database stops answering (PostgreSQL) or stops taking writes (SQLite).
    pub async fn start(&mut self) {
        use sqlx::Connection;
        if let Some(proxy) = &self.proxy {
            proxy.cut().await;
        }
        if let Some(url) = &self.sqlite_url {
            let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            self.lock = Some(conn);
        }
    }

    /// The database is well again.
    pub async fn end(&mut self) {
        if let Some(proxy) = &self.proxy {
            proxy.restore().await;
        }
        if let Some(mut conn) = self.lock.take() {
            sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
        }
    }
}
