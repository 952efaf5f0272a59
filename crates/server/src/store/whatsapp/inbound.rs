//! Inbound messages: the business and customer linked, the message stored once, and the
//! auto-reply job enqueued with it (W2, W4).

use super::Linked;
use crate::domain::Phone;
use crate::store::{Db, now_ms};

/// Links a message to the business that owns `number` (one of its numbers, or its
/// WhatsApp number: never two businesses, as migration 0012 and the API hold, so no tenant
/// can take in another's messages) and to that business's customer with phone `from`:
/// created if new, named if unnamed, `last_inbound_at` moved forward to `at`. One
/// statement, safe under concurrent deliveries; `None` when no business owns the number.
pub async fn link_customer(
    db: &Db,
    number: &Phone,
    from: &Phone,
    name: Option<&str>,
    at: i64,
) -> Result<Option<Linked>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO customers (business_id, name, phone, source, last_inbound_at, created_at, \
         updated_at) \
         SELECT id, $3, $2, 'whatsapp', $4, $4, $4 FROM businesses \
         WHERE id = (SELECT business_id FROM business_numbers WHERE number = $1) \
         OR whatsapp_number = $1 ORDER BY id LIMIT 1 \
         ON CONFLICT (business_id, phone) DO UPDATE SET \
         name = COALESCE(customers.name, excluded.name), \
         last_inbound_at = CASE WHEN customers.last_inbound_at IS NULL \
           OR customers.last_inbound_at < excluded.last_inbound_at \
           THEN excluded.last_inbound_at ELSE customers.last_inbound_at END, \
         updated_at = excluded.updated_at, deleted_at = NULL, deleted_by = NULL \
         RETURNING id AS customer_id, business_id, \
         (SELECT auto_reply FROM businesses b WHERE b.id = customers.business_id) AS auto_reply, \
         (SELECT name FROM businesses b WHERE b.id = customers.business_id) AS business_name",
    )
    .bind(number.as_str())
    .bind(from.as_str())
    .bind(name.map(str::trim).filter(|n| !n.is_empty()))
    .bind(at)
    .fetch_optional(&db.pool)
    .await
}

/// An inbound message as a webhook carried it.
#[derive(Clone, Debug, Default)]
pub struct NewInbound {
    pub business_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub provider: &'static str,
    pub provider_message_id: String,
    pub from_number: String,
    pub to_number: Option<String>,
    pub body: Option<String>,
    pub media: Option<String>,
    pub profile_name: Option<String>,
    pub reply_to: Option<String>,
}

/// What recording an inbound message did.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// `Some` only for the one delivery that inserted the message.
    pub message_id: Option<i64>,
    /// The business and customer, when a business owns the number written to.
    pub linked: Option<Linked>,
    /// The auto-reply job enqueued with the message, if any.
    pub reply_job: Option<i64>,
}

/// The auto-reply to enqueue with an inbound message, if its business has auto-reply on.
#[derive(Clone, Debug)]
pub struct ReplyJob {
    /// The job's kind.
    pub kind: &'static str,
    /// Our public base URL, for the reply's status callbacks.
    pub base: Option<String>,
    pub max_attempts: i64,
}

impl ReplyJob {
    /// The job's payload for inbound message `inbound_id`.
    pub fn payload(&self, inbound_id: i64) -> serde_json::Value {
        serde_json::json!({ "inbound_id": inbound_id, "base": self.base })
    }

    /// One reply job per inbound message.
    pub fn key(inbound_id: i64) -> String {
        format!("wa_reply:{inbound_id}")
    }
}

/// Links (see [`link_customer`]) and stores an inbound message unless already stored.
/// On PostgreSQL both writes are one statement: one round trip and one commit per webhook.
pub async fn record_inbound(
    db: &Db,
    to: Option<&Phone>,
    from: &Phone,
    m: &NewInbound,
) -> Result<Receipt, sqlx::Error> {
    record_inbound_with(db, to, from, m, None).await
}

/// [`record_inbound`], and with the message (in the same statement on PostgreSQL, the same
/// transaction on SQLite) the auto-reply job, when `reply` is given, the message is new and
/// its business has auto-reply on. A crash can never keep the message and lose its reply.
pub async fn record_inbound_with(
    db: &Db,
    to: Option<&Phone>,
    from: &Phone,
    m: &NewInbound,
    reply: Option<&ReplyJob>,
) -> Result<Receipt, sqlx::Error> {
    let at = now_ms();
    if let Some(to) = to
        && db.backend.has_writable_ctes()
    {
        return record_inbound_in_one(db, to, from, m, reply, at).await;
    }
    let linked = match to {
        Some(to) => link_customer(db, to, from, m.profile_name.as_deref(), at).await?,
        None => None,
    };
    let mut m = m.clone();
    m.business_id = linked.as_ref().map(|l| l.business_id);
    m.customer_id = linked.as_ref().map(|l| l.customer_id);
    let reply = reply.filter(|_| linked.as_ref().is_some_and(|l| l.auto_reply != 0));
    let Some(reply) = reply else {
        // No reply to enqueue: one short write, as SQLite likes them (a transaction would
        // hold the write lock across statements and make other writers wait).
        let message_id = insert_inbound(db, &m).await?;
        return Ok(Receipt {
            message_id,
            linked,
            reply_job: None,
        });
    };
    let mut tx = db.pool.begin().await?;
    let message_id = insert_inbound_on(&mut *tx, &m).await?;
    let mut reply_job = None;
    if let Some(id) = message_id {
        let payload = reply.payload(id);
        let key = ReplyJob::key(id);
        reply_job = crate::store::jobs::insert_on(
            &mut *tx,
            &crate::store::jobs::NewJob {
                kind: reply.kind,
                payload: &payload,
                idempotency_key: Some(&key),
                run_after: at,
                max_attempts: reply.max_attempts,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Receipt {
        message_id,
        linked,
        reply_job,
    })
}

/// [`link_customer`], [`insert_inbound`] and the reply job as one statement with writable
/// CTEs.
async fn record_inbound_in_one(
    db: &Db,
    to: &Phone,
    from: &Phone,
    m: &NewInbound,
    reply: Option<&ReplyJob>,
    at: i64,
) -> Result<Receipt, sqlx::Error> {
    type Row = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    );
    let (message_id, customer_id, business_id, auto_reply, business_name, reply_job): Row =
        sqlx::query_as(
            "WITH c AS ( \
           INSERT INTO customers (business_id, name, phone, source, last_inbound_at, \
             created_at, updated_at) \
           SELECT id, $3, $2, 'whatsapp', $4, $4, $4 FROM businesses \
           WHERE id = (SELECT business_id FROM business_numbers WHERE number = $1) \
           OR whatsapp_number = $1 ORDER BY id LIMIT 1 \
           ON CONFLICT (business_id, phone) DO UPDATE SET \
           name = COALESCE(customers.name, excluded.name), \
           last_inbound_at = CASE WHEN customers.last_inbound_at IS NULL \
             OR customers.last_inbound_at < excluded.last_inbound_at \
             THEN excluded.last_inbound_at ELSE customers.last_inbound_at END, \
           updated_at = excluded.updated_at, deleted_at = NULL, deleted_by = NULL \
           RETURNING id, business_id), \
         m AS ( \
           INSERT INTO whatsapp_messages (business_id, customer_id, provider, \
             provider_message_id, direction, from_number, to_number, body, media, status, \
             status_rank, profile_name, reply_to, created_at, updated_at) \
           SELECT c.business_id, c.id, $5, $6, 'in', $2, $7, $8, $9, 'received', 0, $3, \
             $10, $4, $4 FROM (SELECT 1 AS one) o LEFT JOIN c ON true \
           ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id), \
         j AS ( \
           INSERT INTO jobs (kind, payload, state, attempts, max_attempts, run_after, \
             idempotency_key, created_at, updated_at) \
           SELECT $11, json_build_object('inbound_id', m.id, 'base', $12::text)::text, \
             'queued', 0, $13, $4, 'wa_reply:' || m.id, $4, $4 \
           FROM m JOIN c ON true JOIN businesses b ON b.id = c.business_id \
           WHERE $11 IS NOT NULL AND b.auto_reply <> 0 \
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id) \
         SELECT (SELECT id FROM m), c.id, c.business_id, b.auto_reply, b.name, \
           (SELECT id FROM j) \
         FROM (SELECT 1 AS one) o LEFT JOIN c ON true \
         LEFT JOIN businesses b ON b.id = c.business_id",
        )
        .bind(to.as_str())
        .bind(from.as_str())
        .bind(
            m.profile_name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty()),
        )
        .bind(at)
        .bind(m.provider)
        .bind(&m.provider_message_id)
        .bind(&m.to_number)
        .bind(&m.body)
        .bind(&m.media)
        .bind(&m.reply_to)
        .bind(reply.map(|r| r.kind))
        .bind(reply.and_then(|r| r.base.clone()))
        .bind(reply.map_or(1, |r| r.max_attempts))
        .fetch_one(&db.pool)
        .await?;
    let linked = match (customer_id, business_id) {
        (Some(customer_id), Some(business_id)) => Some(Linked {
            customer_id,
            business_id,
            auto_reply: auto_reply.unwrap_or(0),
            business_name: business_name.unwrap_or_default(),
        }),
        _ => None,
    };
    Ok(Receipt {
        message_id,
        linked,
        reply_job,
    })
}

/// Stores an inbound message unless it is already stored; `Some(id)` only for the one
/// delivery that inserted it.
pub async fn insert_inbound(db: &Db, m: &NewInbound) -> Result<Option<i64>, sqlx::Error> {
    insert_inbound_on(&db.pool, m).await
}

async fn insert_inbound_on<'c, E>(conn: E, m: &NewInbound) -> Result<Option<i64>, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO whatsapp_messages (business_id, customer_id, provider, \
         provider_message_id, direction, from_number, to_number, body, media, status, \
         status_rank, profile_name, reply_to, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'in', $5, $6, $7, $8, 'received', 0, $9, $10, $11, $11) \
         ON CONFLICT (provider, provider_message_id) DO NOTHING RETURNING id",
    )
    .bind(m.business_id)
    .bind(m.customer_id)
    .bind(m.provider)
    .bind(&m.provider_message_id)
    .bind(&m.from_number)
    .bind(&m.to_number)
    .bind(&m.body)
    .bind(&m.media)
    .bind(&m.profile_name)
    .bind(&m.reply_to)
    .bind(now_ms())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}
