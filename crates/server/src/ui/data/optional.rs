//! Tables that other parts of the service bring (WhatsApp messages, the job queue, notes,
//! sessions). The app shows those sections only when the table exists, so the same binary
//! works whichever of them a deployment has. Each is checked once per process with a query
//! that reads no rows; migrations run at start, so the answer cannot change while serving.

use tokio::sync::OnceCell;

use crate::store::Db;

#[derive(Default)]
pub struct Tables {
    whatsapp: OnceCell<bool>,
    jobs: OnceCell<bool>,
    notes: OnceCell<bool>,
    sessions: OnceCell<bool>,
}

async fn exists(db: &Db, table: &'static str) -> bool {
    crate::store::table_exists(db, table).await
}

impl Tables {
    pub async fn whatsapp(&self, db: &Db) -> bool {
        *self
            .whatsapp
            .get_or_init(|| exists(db, "whatsapp_messages"))
            .await
    }
    pub async fn jobs(&self, db: &Db) -> bool {
        *self.jobs.get_or_init(|| exists(db, "jobs")).await
    }
    pub async fn notes(&self, db: &Db) -> bool {
        *self
            .notes
            .get_or_init(|| exists(db, "customer_notes"))
            .await
    }
    pub async fn sessions(&self, db: &Db) -> bool {
        *self.sessions.get_or_init(|| exists(db, "sessions")).await
    }
}
