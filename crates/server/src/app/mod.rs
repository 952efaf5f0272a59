//! The application: shared state, the router, and the `run(listener, shutdown)` seam.
//!
//! `main` and the tests start the service the same way: build an [`App`] from [`Settings`]
//! (connect, migrate, refuse broken configuration), bind a listener (port 0 in tests), and
//! serve until a shutdown future resolves. Shutdown stops accepting, lets in-flight requests
//! finish, cancels every background task through one token, and closes the pool, all
//! within a bounded grace period.

pub mod replay;

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::AuthCtx;
use crate::calls::state::CallsState;
use crate::config::Settings;
use crate::crm::state::CrmState;
use crate::hooks::HooksState;
use crate::jobs::{Dispatch, Handler, JobsState};
use crate::notify::state::NotifyState;
use crate::ops::state::OpsState;
use crate::store::Db;
use crate::ui::state::WebState;
use crate::whatsapp::state::WaState;

/// How long in-flight work may run after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// The whole service: each feature's slice of state, and what only the application needs
/// (the metrics registry, the outbox's replay, the job dispatch table).
///
/// Handlers never take this: each feature's router runs on its own slice ([`CallsState`],
/// [`WaState`], [`CrmState`], [`WebState`], [`OpsState`], [`JobsState`], [`HooksState`]), and the sign-in
/// extractors reach [`crate::auth::AuthCtx`] from any of them through `FromRef`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub metrics: PrometheusHandle,
    /// Cancelled when the server shuts down; every spawned task watches it.
    pub shutdown: CancellationToken,
    /// Call-log writes kept on disk while the database is unavailable.
    pub outbox: Arc<crate::outbox::Outbox>,
    pub calls: CallsState,
    pub whatsapp: WaState,
    pub crm: CrmState,
    pub web: WebState,
    pub ops: OpsState,
    pub jobs: JobsState,
    /// Signed webhooks out: their API and their deliveries.
    pub hooks: HooksState,
    pub notify: NotifyState,
    pub auth: AuthCtx,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A configured service, ready to serve.
pub struct App {
    pub state: AppState,
}

impl App {
    /// Opens the database (migrating it) and prepares everything that does not need a socket.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        if !settings.is_postgres() {
            let _ = std::fs::create_dir_all(&settings.data_dir);
        }
        let db = Db::open(settings.database_url.expose()).await?;
        let providers = crate::ops::Providers::detect(&settings);
        if settings.twilio_auth_token.is_none() {
            tracing::warn!(
                "TWILIO_AUTH_TOKEN is not set: Twilio webhook signatures are NOT checked \
                 (development mode only)"
            );
        }
        let twilio = crate::providers::twilio(&settings);
        let data_dir = settings.data_dir.clone();
        let whatsapp = crate::whatsapp::Whatsapp::new(&settings);
        let voice = crate::providers::voice(&settings)?;
        let prompts = crate::prompts::Prompts::new(
            settings.data_dir.clone(),
            db.clone(),
            voice.tts.clone(),
            providers.espeak,
        );
        let registry = if settings.is_postgres() {
            crate::calls::watchdog::RegistryMode::Shared
        } else {
            crate::calls::watchdog::RegistryMode::Memory
        };
        let watchdog = crate::calls::watchdog::Watchdog::new(
            registry,
            settings.watchdog_start_timeout,
            settings.watchdog_media_timeout,
            db.clone(),
            twilio.clone(),
            prompts.clone(),
        );
        // A shared registry's entry is written with the call's row, by the writer.
        let call_writer = (registry == crate::calls::watchdog::RegistryMode::Shared)
            .then(|| crate::store::call_batch::CallWriter::start(db.clone()));
        let google = crate::appointments::gcal::Google::from_settings(&settings)?;
        let settings = Arc::new(settings);
        let metrics = crate::telemetry::metrics_handle();
        let shutdown = CancellationToken::new();
        let outbox = Arc::new(crate::outbox::Outbox::new(&data_dir));
        let auth = Arc::new(crate::auth::AuthState::new());
        let calls = CallsState {
            settings: settings.clone(),
            db: db.clone(),
            shutdown: shutdown.clone(),
            outbox: outbox.clone(),
            auth: auth.clone(),
            twilio: twilio.clone(),
            watchdog,
            prompts: prompts.clone(),
            numbers: Default::default(),
            call_writer,
            voice: voice.clone(),
            providers: providers.clone(),
            google: google.clone(),
        };
        let whatsapp = WaState {
            settings: settings.clone(),
            db: db.clone(),
            outbox: outbox.clone(),
            auth: auth.clone(),
            twilio,
            whatsapp,
            voice: voice.clone(),
            google: google.clone(),
        };
        let ops = OpsState {
            settings: settings.clone(),
            db: db.clone(),
            metrics: metrics.clone(),
            providers,
            voice,
        };
        let web = WebState {
            settings: settings.clone(),
            db: db.clone(),
            shutdown: shutdown.clone(),
            auth: auth.clone(),
            ui: Default::default(),
            prompts,
            metrics: metrics.clone(),
            ops: ops.clone(),
            wa: whatsapp.clone(),
        };
        let notify = NotifyState {
            settings: settings.clone(),
            db: db.clone(),
            auth: auth.clone(),
            wa: whatsapp.clone(),
        };
        let state = AppState(Arc::new(Inner {
            notify,
            crm: CrmState {
                settings: settings.clone(),
                db: db.clone(),
                auth: auth.clone(),
                crm_counts: Arc::default(),
                google,
            },
            jobs: JobsState {
                settings: settings.clone(),
                db: db.clone(),
                shutdown: shutdown.clone(),
                auth: auth.clone(),
            },
            hooks: HooksState::new(settings.clone(), db.clone(), auth.clone()),
            auth: AuthCtx {
                settings: settings.clone(),
                db: db.clone(),
                auth,
            },
            settings,
            db,
            metrics,
            shutdown,
            outbox,
            calls,
            whatsapp,
            web,
            ops,
        }));
        Ok(App { state })
    }

    pub fn router(&self) -> Router {
        crate::routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then drains and closes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let token = state.shutdown.clone();
        let app = self.router();
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, db = state.db.backend.name(), "mokdan listening");
        }
        {
            // A restarted single node first re-arms the calls it was serving (V8).
            let watchdog = state.calls.watchdog.clone();
            let base = state
                .settings
                .public_base_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", state.settings.listen));
            let token = token.clone();
            tokio::spawn(async move {
                watchdog.rearm_unwatched(&base).await;
                watchdog.run(token).await
            });
        }
        tokio::spawn(crate::calls::conversation::prewarm_all(state.calls.clone()));
        tokio::spawn(state.outbox.clone().run(
            state.db.clone(),
            Arc::new(replay::Replay(state.clone())),
            token.clone(),
        ));
        {
            let state = state.clone();
            tokio::spawn(async move {
                if state.settings.job_workers > 0 {
                    crate::calls::post_call::resume_parked(&state.calls).await;
                    crate::notify::resume_parked(&state.notify).await;
                }
                crate::jobs::run_workers(state.jobs.clone(), state.job_handler()).await
            });
        }
        let trigger = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested: draining");
            trigger.cancel();
        });
        let limits = crate::http::serve::HttpLimits {
            header_timeout: state.settings.http_header_timeout,
            body_timeout: state.settings.http_body_timeout,
        };
        let server = crate::http::serve::serve(listener, app, token.clone(), limits);
        let forced = async {
            token.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            result = server => result?,
            _ = forced => tracing::warn!("shutdown grace period over: closing remaining connections"),
        }
        state.db.close().await;
        tracing::info!("mokdan stopped");
        Ok(())
    }
}

impl AppState {
    /// The dispatch table: every job kind, routed to the feature that owns it.
    pub fn job_handler(&self) -> Arc<dyn Handler> {
        let jobs = self.jobs.clone();
        let cleanup = move |job| {
            let jobs = jobs.clone();
            async move { crate::jobs::cleanup::run(&jobs, &job).await }
        };
        Arc::new(
            Dispatch::new()
                .with(
                    crate::calls::post_call::KINDS,
                    Arc::new(crate::calls::post_call::PostCall(self.calls.clone())),
                )
                .with(
                    crate::whatsapp::jobs::KINDS,
                    Arc::new(crate::whatsapp::jobs::WaJobs(self.whatsapp.clone())),
                )
                .with(
                    crate::hooks::KINDS,
                    Arc::new(crate::hooks::Hooks(self.hooks.clone())),
                )
                .with(
                    crate::appointments::notices::KINDS,
                    Arc::new(crate::appointments::notices::AppointmentJobs(
                        self.whatsapp.clone(),
                    )),
                )
                .with(
                    crate::notify::KINDS,
                    Arc::new(crate::notify::Notify(self.notify.clone())),
                )
                .with(
                    crate::appointments::sync::KINDS,
                    Arc::new(crate::appointments::sync::CalendarJobs {
                        db: self.db.clone(),
                        google: self.crm.google.clone(),
                    }),
                )
                .with(&[crate::jobs::cleanup::CLEANUP], Arc::new(cleanup)),
        )
    }
}

/// Builds and serves in one call: the seam tests and `main` share.
pub async fn run(
    listener: TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = App::build(settings).await?;
    app.serve(listener, shutdown).await?;
    Ok(())
}
