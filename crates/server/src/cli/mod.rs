//! The `mokdan` command line: `serve`, `migrate`, `business add`, `user add` (and more as
//! the service grows).
//!
//! Every failure ends as one line on stderr and a non-zero exit, never a panic or a
//! backtrace: a configuration refusal names its variable, a database refusal names
//! `DATABASE_URL` (O2).

mod admin;
mod bench;
pub mod sim;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Parser, Debug)]
#[command(
    name = "mokdan",
    version,
    about = "מוקדן — a Hebrew AI phone receptionist for small businesses"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service (webhooks, media socket, API, web app).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage businesses.
    Business {
        #[command(subcommand)]
        action: admin::BusinessCmd,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        action: admin::UserCmd,
    },
    /// A local Twilio: place a simulated call, or serve the fake REST API.
    Sim {
        #[command(subcommand)]
        which: sim::SimCmd,
    },
    /// Benchmarks that print figures (runs the `mokdan-bench` binary beside this one).
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Bench {
        /// `webhooks`, `streams`, `voice`, `api`, `jobs`, `whatsapp` or `mixed`, and its
        /// options (`mokdan bench --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<OsString>,
    },
}

/// Parses arguments, runs the command, and turns any failure into one line and an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Bench { args } = &cli.command {
        return bench::run(args);
    }
    run_command(dispatch(cli.command))
}

/// Runs one command on a fresh runtime; a failure becomes one `mokdan: error:` line and
/// the failure exit code. `mokdan-bench` ends the same way.
pub fn run_command(command: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("{e:#}")),
    }
}

fn fail(message: &str) -> ExitCode {
    let line = message.replace('\n', " ");
    eprintln!("mokdan: error: {line}");
    ExitCode::FAILURE
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    let settings = Settings::from_env().map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let db = crate::store::Db::open(settings.database_url.expose()).await?;
            println!("migrations applied ({})", db.backend.name());
            db.close().await;
            Ok(())
        }
        Command::Business { action } => admin::business(settings, action).await,
        Command::User { action } => admin::user(settings, action).await,
        Command::Sim { which } => sim::run(which).await,
        // Handed to the `mokdan-bench` binary in `main`, before settings or a runtime.
        Command::Bench { .. } => anyhow::bail!("`mokdan bench` runs before the runtime starts"),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init_logging(settings.env);
    crate::telemetry::log_settings(&settings);
    for warning in settings.startup_warnings() {
        // Loud: in the log and on standard error, where an operator starting it looks.
        eprintln!("mokdan: warning: {warning}");
        tracing::warn!("{warning}");
    }
    let listen = settings.listen;
    let production = settings.is_production();
    let app = crate::app::App::build(settings).await?;
    if !production && let Some(id) = crate::demo::seed_if_empty(&app.state.db).await? {
        tracing::info!(
            business_id = id,
            number = crate::demo::DEMO_NUMBER,
            "development: added a demo business; try `mokdan sim call`"
        );
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("MOKDAN_LISTEN/PORT: cannot listen on {listen}: {e}"))?;
    app.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
