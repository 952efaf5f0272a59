//! Whether the configured OpenAI-compatible server answers, for `/readyz` (O1).
//!
//! A key in the environment says nothing about the service behind it: a revoked key or an
//! unreachable server left `/readyz` saying `"openai":"ok"` while every call fell back to
//! the scripted agent. So readiness asks the server for its model list (`GET
//! {OPENAI_BASE_URL}/models`, the cheapest authenticated request) with a short timeout,
//! and keeps the answer for a while: a monitor polling `/readyz` every second costs one
//! request per [`TTL`], and a slow provider never slows readiness beyond [`TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long an answer is kept.
pub const TTL: Duration = Duration::from_secs(30);
/// How long the server may take to answer.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// The probe of one OpenAI-compatible server, with its last answer.
#[derive(Debug)]
pub struct OpenAiProbe {
    target: Option<(String, crate::config::Secret)>,
    http: reqwest::Client,
    last: Mutex<Option<(Instant, &'static str)>>,
}

impl OpenAiProbe {
    /// A probe of `base` with `key`; no key, nothing to probe (`disabled`).
    pub fn new(base: &str, key: Option<&crate::config::Secret>) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Arc::new(OpenAiProbe {
            target: key.map(|k| (base.trim_end_matches('/').to_string(), k.clone())),
            http,
            last: Mutex::new(None),
        })
    }

    /// `ok` when the server answered the model list, `unauthorized` when it refused the
    /// key, `error` when it failed or did not answer in time, `disabled` with no key.
    pub async fn state(&self) -> &'static str {
        let Some((base, key)) = &self.target else {
            return "disabled";
        };
        // One probe at a time: concurrent readiness checks wait for it and share it.
        let mut last = self.last.lock().await;
        if let Some((at, state)) = *last
            && at.elapsed() < TTL
        {
            return state;
        }
        let answer = self
            .http
            .get(format!("{base}/models"))
            .bearer_auth(key.expose())
            .send()
            .await;
        let state = match answer {
            Ok(r) if r.status().is_success() => "ok",
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => "unauthorized",
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "OpenAI readiness probe: the server answered an error"
                );
                "error"
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "OpenAI readiness probe: no answer");
                "error"
            }
        };
        *last = Some((Instant::now(), state));
        state
    }
}

/// The probe of the Realtime service: the WebSocket handshake with the key, closed at once
/// (a refused key answers 401 at the handshake), kept for [`TTL`] like the model list.
#[derive(Debug)]
pub struct RealtimeProbe {
    cfg: Option<voice::realtime::RealtimeConfig>,
    last: Mutex<Option<(Instant, &'static str)>>,
}

impl RealtimeProbe {
    /// A probe of the configured Realtime engine; `None`: the cascade (`disabled`).
    pub fn new(cfg: Option<voice::realtime::RealtimeConfig>) -> Arc<Self> {
        let cfg = cfg.map(|mut c| {
            c.connect_timeout = TIMEOUT;
            c
        });
        Arc::new(RealtimeProbe {
            cfg,
            last: Mutex::new(None),
        })
    }

    /// `ok`, `unauthorized` (the key was refused), `error`, or `disabled`.
    pub async fn state(&self) -> &'static str {
        let Some(cfg) = &self.cfg else {
            return "disabled";
        };
        let mut last = self.last.lock().await;
        if let Some((at, state)) = *last
            && at.elapsed() < TTL
        {
            return state;
        }
        let state = voice::realtime::probe(cfg).await.as_str();
        *last = Some((Instant::now(), state));
        state
    }
}
