//! Status callbacks, sent in order on their own task.
//!
//! Twilio's callbacks are asynchronous to the call (a slow `stream_status` handler
//! never delays media) but arrive in order; one queue per call drained by one task
//! gives both, and the call waits for the queue before it reports.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::journal::Journal;
use crate::report::TimelineKind;
use crate::state::Shared;
use crate::webhook;

struct Job {
    what: String,
    url: String,
    method: String,
    params: Vec<(String, String)>,
}

pub(crate) struct Callbacks {
    tx: mpsc::UnboundedSender<Job>,
    task: JoinHandle<()>,
}

impl Callbacks {
    pub(crate) fn spawn(shared: Arc<Shared>, journal: Journal) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let task = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let out = webhook::send(
                    &shared.http,
                    &shared.cfg.auth_token,
                    &job.method,
                    &job.url,
                    &job.params,
                )
                .await;
                journal.log(
                    TimelineKind::Callback,
                    format!("{}: {}", job.what, out.line),
                );
                if let Some(e) = out.error {
                    journal.error(e.code, e.message);
                }
            }
        });
        Self { tx, task }
    }

    pub(crate) fn post(
        &self,
        what: String,
        url: String,
        method: String,
        params: Vec<(String, String)>,
    ) {
        let _ = self.tx.send(Job {
            what,
            url,
            method,
            params,
        });
    }

    /// Waits until every queued callback has been sent.
    pub(crate) async fn drain(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}
