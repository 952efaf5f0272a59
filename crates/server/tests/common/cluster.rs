//! Two `mokdan serve` nodes on one PostgreSQL behind nginx, with the sim as Twilio.
//!
//! This is the documented deployment (deploy/, docs/deployment.md "Deploying with
//! PostgreSQL behind a TLS proxy") on loopback: both nodes share `DATABASE_URL`, `JWT_SECRET`,
//! `TWILIO_AUTH_TOKEN` and `PUBLIC_BASE_URL` (nginx's address), and the sim places its
//! calls at nginx, which spreads webhooks and media sockets over the nodes.

use std::time::Duration;

use mokdan::store::Db;
use sim::{CallSpec, CallerScript, Sim, SimConfig};

use super::nginx::Nginx;
use super::node::Node;
use super::twilio::{ACCOUNT_SID, AUTH_TOKEN};

pub const NUMBER: &str = "+97231234567";
pub const CALLER: &str = "+972501234567";
pub const JWT_SECRET: &str = "cluster-test-jwt-secret-0123456789";

pub struct Cluster {
    pub sim: Sim,
    pub nodes: Vec<Node>,
    pub nginx: Nginx,
    /// The test's own connection to the shared database, for assertions.
    pub db: Db,
    pub business_id: i64,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts the sim, a fresh PostgreSQL schema with one business, two nodes and nginx;
    /// `None` (the test is skipped, with the reason printed) when nginx is missing.
    pub async fn start(extra: &[(&str, &str)]) -> Option<Cluster> {
        super::nginx::binary()?;
        let sim = Sim::start(SimConfig::new(ACCOUNT_SID, AUTH_TOKEN).speed(3.0))
            .await
            .unwrap();
        let db_url = super::pg_url(&super::pg_host_port(), &super::create_pg_database().await);
        // Migrate once before the nodes start (as `mokdan migrate` in a release step).
        let db = Db::open(&db_url).await.expect("database opens");
        let phone = mokdan::domain::Phone::parse(NUMBER).unwrap();
        let business_id = mokdan::store::businesses::create(&db, "מוסך הצפון", &phone)
            .await
            .unwrap();
        let proxy_addr = Nginx::pick_addr();
        let public = format!("http://{proxy_addr}");
        let api = sim.api_base();
        let mut env: Vec<(&str, &str)> = vec![
            ("MOKDAN_ENV", "production"),
            ("DATABASE_URL", &db_url),
            ("PUBLIC_BASE_URL", &public),
            ("JWT_SECRET", JWT_SECRET),
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_API_BASE", &api),
            ("MOKDAN_WATCHDOG_START_SECS", "3"),
            ("MOKDAN_WATCHDOG_MEDIA_SECS", "3"),
        ];
        env.extend_from_slice(extra);
        let dir = tempfile::tempdir().unwrap();
        let (dir_a, dir_b) = (dir.path().join("a"), dir.path().join("b"));
        let (a, b) = tokio::join!(
            Node::start("node-a", &dir_a, &env),
            Node::start("node-b", &dir_b, &env),
        );
        let nginx = Nginx::start(proxy_addr, &[a.addr, b.addr]).await?;
        Some(Cluster {
            sim,
            nodes: vec![a, b],
            nginx,
            db,
            business_id,
            http: reqwest::Client::new(),
            _dir: dir,
        })
    }

    /// A call placed at nginx.
    pub fn spec(&self, script: CallerScript) -> CallSpec {
        CallSpec::new(self.nginx.base(), NUMBER, CALLER, script)
    }

    /// The REST Calls updates (redirects) the nodes made for a call.
    pub fn redirects(&self, call_sid: &str) -> Vec<sim::RestRequest> {
        self.sim
            .rest_log()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with(&format!("/Calls/{call_sid}.json")))
            .collect()
    }

    /// Which nodes logged lines containing all of `needles`.
    pub fn nodes_logging(&self, needles: &[&str]) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].lines_with(needles).is_empty())
            .collect()
    }

    /// Lines containing all of `needles`, over every node.
    pub fn count_lines(&self, needles: &[&str]) -> usize {
        self.nodes.iter().map(|n| n.lines_with(needles).len()).sum()
    }

    /// POSTs a webhook through nginx, signed for the public URL as Twilio signs it.
    pub async fn post_signed(&self, path: &str, form: &[(String, String)]) -> reqwest::Response {
        let url = format!("{}{path}", self.nginx.base());
        let sig = telephony::signature::compute(AUTH_TOKEN, &url, form);
        self.http
            .post(&url)
            .header("X-Twilio-Signature", sig)
            .form(form)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .unwrap()
    }

    pub async fn row(&self, call_sid: &str) -> mokdan::store::calls::CallRow {
        mokdan::store::calls::by_sid(&self.db, call_sid)
            .await
            .unwrap()
            .expect("call row")
    }
}
