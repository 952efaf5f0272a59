//! The public face of the simulator: start it, place calls, read what happened.
//!
//! One `Sim` is one fake Twilio account: its REST API listens on a local port (the
//! server's `TWILIO_API_BASE`), and the calls it places, the recordings it keeps and
//! the requests it receives are all visible to the test that owns it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::SimConfig;
use crate::error::ProtocolError;
use crate::launch::{crashed, start_inbound};
use crate::report::{CallReport, RecordingInfo};
use crate::script::CallerScript;
use crate::state::{CallInfo, Control, MessageInfo, RestRequest, Shared};

/// An inbound call to place at a mokdan server.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// The server's base URL, e.g. `http://127.0.0.1:8080` (the sim POSTs
    /// `{server}/webhook/incoming_call`).
    pub server: String,
    /// The business's number (E.164).
    pub to: String,
    /// The caller's number (E.164).
    pub from: String,
    pub script: CallerScript,
}

impl CallSpec {
    pub fn new(
        server: impl Into<String>,
        to: impl Into<String>,
        from: impl Into<String>,
        script: CallerScript,
    ) -> Self {
        Self {
            server: server.into(),
            to: to.into(),
            from: from.into(),
            script,
        }
    }
}

/// A call in progress.
pub struct CallHandle {
    call_sid: String,
    control: mpsc::UnboundedSender<Control>,
    task: JoinHandle<CallReport>,
}

impl CallHandle {
    pub fn call_sid(&self) -> &str {
        &self.call_sid
    }

    /// Hangs the call up from Twilio's side (as a REST `Status=completed` would).
    pub fn hang_up(&self) {
        let _ = self.control.send(Control::Hangup);
    }

    /// Waits for the call to end.
    pub async fn finish(self) -> CallReport {
        match self.task.await {
            Ok(r) => r,
            Err(e) => crashed(&self.call_sid, &e.to_string()),
        }
    }
}

impl std::future::IntoFuture for CallHandle {
    type Output = CallReport;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = CallReport> + Send>>;

    /// `handle.await` is `handle.finish().await`.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.finish())
    }
}

/// A running fake Twilio.
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Sim {
    /// Binds the REST API on `127.0.0.1:0`.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<Sim> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Self::serve_on(listener, cfg).await
    }

    /// Serves the REST API on `listener` (for `mokdan sim serve`).
    pub async fn serve_on(listener: TcpListener, cfg: SimConfig) -> anyhow::Result<Sim> {
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let shared = Arc::new(Shared::new(cfg, format!("http://{addr}")));
        let app = crate::rest::router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(target: "sim", error = %e, "the sim's REST API stopped");
            }
        });
        Ok(Sim {
            shared,
            addr,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`: what the server's `TWILIO_API_BASE` should be.
    pub fn api_base(&self) -> String {
        self.shared.api_base.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.cfg
    }

    /// Places an inbound call and waits for it to end.
    pub async fn call(&self, spec: CallSpec) -> anyhow::Result<CallReport> {
        Ok(self.start_call(spec).await?.finish().await)
    }

    /// Places an inbound call (after synthesising the caller's speech) and returns
    /// at once.
    pub async fn start_call(&self, spec: CallSpec) -> anyhow::Result<CallHandle> {
        let (call_sid, control, task) = start_inbound(
            self.shared.clone(),
            &spec.server,
            &spec.to,
            &spec.from,
            &spec.script,
        )
        .await?;
        Ok(CallHandle {
            call_sid,
            control,
            task,
        })
    }

    /// Who answers the outbound calls the server places through the REST API.
    pub fn set_callee_script(&self, script: CallerScript) {
        self.shared.set_callee_script(script);
    }

    /// Every request the REST API received, in order.
    pub fn rest_log(&self) -> Vec<RestRequest> {
        self.shared.rest_log()
    }

    /// Every call, inbound and outbound, as the REST API shows it.
    pub fn calls(&self) -> Vec<CallInfo> {
        self.shared.calls()
    }

    /// Reports of every finished call (including REST-created ones).
    pub fn call_reports(&self) -> Vec<CallReport> {
        self.shared.reports()
    }

    /// Waits up to `timeout` for call `sid` to end and returns its report.
    pub async fn wait_for_call(&self, sid: &str, timeout: Duration) -> Option<CallReport> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.report_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.shared.report(sid) {
                return Some(r);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.shared.report(sid);
            }
        }
    }

    /// Stores a recording of `call_sid` as if Twilio had made it (for jobs that fetch
    /// recordings without a whole call); returns it with its media URL.
    pub fn add_recording(&self, call_sid: &str, wav: Vec<u8>) -> RecordingInfo {
        let sid = crate::sid::new_sid("RE");
        let cfg = &self.shared.cfg;
        let (secs, channels) = audio::wav::read(&wav)
            .map(|w| (w.duration().as_secs_f64(), w.channels))
            .unwrap_or((0.0, 1));
        let info = RecordingInfo {
            url: format!(
                "{}/2010-04-01/Accounts/{}/Recordings/{sid}",
                self.shared.api_base, cfg.account_sid
            ),
            sid,
            call_sid: call_sid.to_owned(),
            duration: Duration::from_secs_f64(secs),
            source: "RecordVerb".into(),
            channels,
        };
        self.shared.add_recording(crate::state::StoredRecording {
            info: info.clone(),
            wav,
            created: std::time::SystemTime::now(),
        });
        info
    }

    /// Makes recording media downloads wait `delay` before answering (a slow Twilio);
    /// `Duration::ZERO` releases any download waiting now.
    pub fn set_recording_delay(&self, delay: Duration) {
        self.shared.recording_delay_ms.store(
            delay.as_millis() as u64,
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    pub fn recordings(&self) -> Vec<RecordingInfo> {
        self.shared
            .with_recordings(|r| r.iter().map(|r| r.info.clone()).collect())
    }

    /// The WAV bytes of recording `sid`.
    pub fn recording_wav(&self, sid: &str) -> Option<Vec<u8>> {
        self.shared
            .with_recordings(|r| r.iter().find(|r| r.info.sid == sid).map(|r| r.wav.clone()))
    }

    pub fn messages(&self) -> Vec<MessageInfo> {
        self.shared.messages()
    }

    /// Protocol errors outside calls (message status callbacks that failed).
    pub fn errors(&self) -> Vec<ProtocolError> {
        self.shared.errors()
    }

    /// Serves until the task ends (for `mokdan sim serve`; stop it with `shutdown`
    /// from elsewhere or by ending the process).
    pub async fn wait(mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// Stops the REST API gracefully.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
