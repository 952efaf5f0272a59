//! Test harness: the real application on port 0, on a fresh database per test.
//!
//! Each test gets its own SQLite file or its own PostgreSQL database, so tests never share
//! state and can run in parallel. `dual_test!` runs one test body on both backends.
#![allow(dead_code)]

pub mod ai;
pub mod cluster;
pub mod crm;
pub mod flaky_rest;
pub mod nginx;
pub mod node;
pub mod proxy;
pub mod realtime;
pub mod realtime_stt;
pub mod sick;
pub mod smtp;
pub mod twilio;
pub mod web;
pub mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;

use mokdan::{App, Settings};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where the test PostgreSQL server is; databases are created on it per test.
pub fn pg_admin_url() -> String {
    std::env::var("MOKDAN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The database that holds every test's schema.
const TEST_DATABASE: &str = "mokdan_test";

/// Creates an empty schema for one test and returns the database part of a URL that
/// selects it (`mokdan_test?options=-c search_path=…`). Schemas are cheap to create and to
/// drop, unlike databases, so a suite of hundreds of tests stays fast and leaves nothing.
pub async fn create_pg_database() -> String {
    use sqlx::Connection;
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&pg_admin_url())
        .await
        .expect("PostgreSQL must be running for the test suite (see scripts/test.sh)");
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(TEST_DATABASE)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
    if exists.is_none() {
        // Tests race to create it; losing the race is fine.
        // Safe: a constant name.
        let _ = sqlx::Executor::execute(
            &mut admin,
            sqlx::AssertSqlSafe(format!("CREATE DATABASE {TEST_DATABASE}")),
        )
        .await;
    }
    let _ = admin.close().await;
    let url = pg_url(&pg_host_port(), TEST_DATABASE);
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to the test database");
    // Safe: the name is `t_` and a UUID's hex digits.
    sqlx::Executor::execute(
        &mut conn,
        sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")),
    )
    .await
    .expect("create test schema");
    let _ = conn.close().await;
    format!("{TEST_DATABASE}?options=-c%20search_path%3D{schema}")
}

/// A database URL on `host:port` for a database created by [`create_pg_database`].
pub fn pg_url(host_port: &str, db: &str) -> String {
    let admin = url::Url::parse(&pg_admin_url()).unwrap();
    let user = if admin.username().is_empty() {
        "postgres"
    } else {
        admin.username()
    };
    format!("postgres://{user}@{host_port}/{db}")
}

pub fn pg_host_port() -> String {
    let admin = url::Url::parse(&pg_admin_url()).unwrap();
    format!(
        "{}:{}",
        admin.host_str().unwrap_or("127.0.0.1"),
        admin.port().unwrap_or(5432)
    )
}

/// A fresh database on the backend, and the temp dir that holds the data dir.
pub async fn fresh_database(backend: Backend) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}/test.db", dir.path().display()),
        Backend::Postgres => pg_url(&pg_host_port(), &create_pg_database().await),
    };
    (url, dir)
}

/// A running application.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub db_url: String,
    pub http: reqwest::Client,
    pub state: mokdan::AppState,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts the app with extra environment variables on top of the test defaults.
    pub async fn spawn_with(backend: Backend, vars: &[(&str, &str)]) -> Self {
        let (url, dir) = fresh_database(backend).await;
        Self::spawn_on(url, dir, vars).await
    }

    pub async fn spawn_on(db_url: String, dir: tempfile::TempDir, vars: &[(&str, &str)]) -> Self {
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("DATABASE_URL".into(), db_url.clone());
        env.insert(
            "MOKDAN_DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        );
        for (k, v) in vars {
            env.insert(k.to_string(), v.to_string());
        }
        let settings = Settings::from_map(&env).expect("test settings");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = App::build(settings).await.expect("app builds");
        let state = app.state.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        TestApp {
            addr,
            base: format!("http://{addr}"),
            db_url,
            http: reqwest::Client::new(),
            state,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// Begins shutdown and waits for the server task to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn join(mut self) -> std::io::Result<()> {
        self.task.take().unwrap().await.unwrap()
    }
}

/// Runs an async test body once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! dual_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    };
}

/// Polls `check` every 50 ms until it yields a value, or panics after `secs` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
