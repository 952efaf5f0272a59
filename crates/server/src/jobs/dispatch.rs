//! The dispatch table: which handler runs a claimed job, by its kind.
//!
//! Features register the kinds they own (`calls::post_call::KINDS`, `whatsapp::jobs::KINDS`)
//! with a handler holding their own state, so the queue knows no feature and a feature's
//! jobs see only that feature's slice of the service.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::worker::{Handler, JobError, JobResult};
use crate::store::jobs::Job;

/// Kinds and their handlers. A kind nobody registered fails permanently.
#[derive(Clone, Default)]
pub struct Dispatch {
    kinds: HashMap<&'static str, Arc<dyn Handler>>,
}

impl Dispatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes each of `kinds` to `handler`.
    pub fn with(mut self, kinds: &[&'static str], handler: Arc<dyn Handler>) -> Self {
        for kind in kinds {
            let previous = self.kinds.insert(kind, handler.clone());
            debug_assert!(previous.is_none(), "job kind `{kind}` registered twice");
        }
        self
    }
}

impl Handler for Dispatch {
    fn run(&self, job: Job) -> BoxFuture<'static, JobResult> {
        match self.kinds.get(job.kind.as_str()) {
            Some(handler) => handler.run(job),
            None => {
                let kind = job.kind;
                Box::pin(
                    async move { Err(JobError::permanent(format!("unknown job kind `{kind}`"))) },
                )
            }
        }
    }
}
