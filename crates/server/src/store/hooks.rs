//! Signed webhooks out (#22): a business's endpoints (`webhook_endpoints`) and the
//! deliveries of its events to them (`webhook_deliveries`).
//!
//! A delivery and the job that sends it are written in one transaction, so an event is
//! never recorded without its sender nor sent without its record. Every read of tenant
//! data takes the `business_id` first (C4); only the sender, which holds a delivery id from
//! its own job, reads by id alone.

use const_format::formatcp;
use sqlx::FromRow;

use super::{Db, now_ms};

/// A delivery waiting for its first (or next) attempt.
pub const PENDING: &str = "pending";
/// The endpoint answered 2xx.
pub const DELIVERED: &str = "delivered";
/// Given up: a permanent refusal, the last attempt failed, or the endpoint is gone.
pub const FAILED: &str = "failed";

/// An endpoint as stored (with its secret: never shown after creation).
#[derive(Clone, Debug, FromRow)]
pub struct Endpoint {
    pub id: i64,
    pub business_id: i64,
    pub url: String,
    pub description: Option<String>,
    pub secret: String,
    /// Comma-separated event types.
    pub events: String,
    pub enabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    pub fn event_list(&self) -> Vec<String> {
        self.events
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    }

    pub fn wants(&self, event: &str) -> bool {
        self.enabled != 0 && self.events.split(',').any(|e| e.trim() == event)
    }
}

const ENDPOINT_COLUMNS: &str =
    "id, business_id, url, description, secret, events, enabled, created_at, updated_at";

/// A delivery as stored.
#[derive(Clone, Debug, FromRow)]
pub struct Delivery {
    pub id: i64,
    pub endpoint_id: i64,
    pub business_id: i64,
    pub event: String,
    pub msg_id: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const DELIVERY_COLUMNS: &str = "id, endpoint_id, business_id, event, msg_id, payload, status, \
     attempts, last_status_code, last_error, delivered_at, created_at, updated_at";

/// What a new endpoint holds.
#[derive(Clone, Debug)]
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub secret: &'a str,
    pub events: &'a str,
    pub enabled: bool,
}

pub async fn create_endpoint(
    db: &Db,
    business_id: i64,
    e: &NewEndpoint<'_>,
) -> Result<Endpoint, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as(formatcp!(
        "INSERT INTO webhook_endpoints (business_id, url, description, secret, events, enabled, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         RETURNING {ENDPOINT_COLUMNS}"
    ))
    .bind(business_id)
    .bind(e.url)
    .bind(e.description)
    .bind(e.secret)
    .bind(e.events)
    .bind(i64::from(e.enabled))
    .bind(now)
    .fetch_one(&db.pool)
    .await
}

/// The business's endpoints, oldest first.
pub async fn endpoints(db: &Db, business_id: i64) -> Result<Vec<Endpoint>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE business_id = $1 ORDER BY id"
    ))
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

/// The business's enabled endpoints: what an event is offered to (one indexed query, and
/// nothing more when the business has none).
pub async fn enabled_endpoints(db: &Db, business_id: i64) -> Result<Vec<Endpoint>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints \
         WHERE business_id = $1 AND enabled = 1 ORDER BY id"
    ))
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

/// [`enabled_endpoints`] of the business a call belongs to, by its CallSid (one query).
pub async fn enabled_endpoints_of_call(
    db: &Db,
    call_sid: &str,
) -> Result<Vec<Endpoint>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled = 1 AND business_id = \
         (SELECT business_id FROM call_logs WHERE call_sid = $1) ORDER BY id"
    ))
    .bind(call_sid)
    .fetch_all(&db.pool)
    .await
}

pub async fn endpoint(db: &Db, business_id: i64, id: i64) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Writes an endpoint's changeable fields; `None` when the business has no such endpoint.
pub async fn update_endpoint(
    db: &Db,
    business_id: i64,
    id: i64,
    url: &str,
    description: Option<&str>,
    events: &str,
    enabled: bool,
) -> Result<Option<Endpoint>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "UPDATE webhook_endpoints SET url = $3, description = $4, events = $5, enabled = $6, \
         updated_at = $7 WHERE business_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
    ))
    .bind(business_id)
    .bind(id)
    .bind(url)
    .bind(description)
    .bind(events)
    .bind(i64::from(enabled))
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

/// Deletes an endpoint and its deliveries; false when the business has no such endpoint.
pub async fn delete_endpoint(db: &Db, business_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM webhook_deliveries WHERE business_id = $1 AND endpoint_id = $2")
        .bind(business_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let gone = sqlx::query("DELETE FROM webhook_endpoints WHERE business_id = $1 AND id = $2")
        .bind(business_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(gone > 0)
}

/// A delivery to record, with the job that sends it.
#[derive(Clone, Debug)]
pub struct NewDelivery<'a> {
    pub endpoint_id: i64,
    pub event: &'a str,
    pub msg_id: &'a str,
    pub payload: &'a str,
    pub job_kind: &'a str,
    pub max_attempts: i64,
}

/// Records deliveries of one event and, in the same transaction, the job of each (its
/// payload `{"delivery_id": …}`). The ids of the new deliveries.
pub async fn insert_deliveries(
    db: &Db,
    business_id: i64,
    deliveries: &[NewDelivery<'_>],
) -> Result<Vec<i64>, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let mut ids = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO webhook_deliveries (endpoint_id, business_id, event, msg_id, payload, \
             status, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) RETURNING id",
        )
        .bind(d.endpoint_id)
        .bind(business_id)
        .bind(d.event)
        .bind(d.msg_id)
        .bind(d.payload)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let payload = serde_json::json!({ "delivery_id": id });
        super::jobs::insert_on(
            &mut *tx,
            &super::jobs::NewJob {
                kind: d.job_kind,
                payload: &payload,
                idempotency_key: Some(&format!("{}:{id}", d.job_kind)),
                run_after: now,
                max_attempts: d.max_attempts,
            },
        )
        .await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// Filters of the deliveries list.
#[derive(Clone, Debug, Default)]
pub struct DeliveryQuery {
    pub endpoint_id: Option<i64>,
    pub limit: i64,
}

/// The business's deliveries, newest first.
pub async fn deliveries(
    db: &Db,
    business_id: i64,
    q: &DeliveryQuery,
) -> Result<Vec<Delivery>, sqlx::Error> {
    let Some(endpoint_id) = q.endpoint_id else {
        return sqlx::query_as(formatcp!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE business_id = $1 \
             ORDER BY id DESC LIMIT $2"
        ))
        .bind(business_id)
        .bind(q.limit)
        .fetch_all(&db.pool)
        .await;
    };
    sqlx::query_as(formatcp!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE business_id = $1 \
         AND endpoint_id = $2 ORDER BY id DESC LIMIT $3"
    ))
    .bind(business_id)
    .bind(endpoint_id)
    .bind(q.limit)
    .fetch_all(&db.pool)
    .await
}

pub async fn delivery(db: &Db, business_id: i64, id: i64) -> Result<Option<Delivery>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Puts a delivery back to `pending` and enqueues a new job for it, in one transaction
/// (the same message: its body and `webhook-id` do not change). `None` when the business
/// has no such delivery; `Some(false)` when it is still pending (its job has it).
pub async fn resend(
    db: &Db,
    business_id: i64,
    id: i64,
    job_kind: &str,
    max_attempts: i64,
) -> Result<Option<bool>, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let row: Option<(String,)> =
        sqlx::query_as("SELECT status FROM webhook_deliveries WHERE business_id = $1 AND id = $2")
            .bind(business_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((status,)) = row else {
        return Ok(None);
    };
    if status == PENDING {
        return Ok(Some(false));
    }
    let moved = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', updated_at = $3 \
         WHERE business_id = $1 AND id = $2 AND status <> 'pending'",
    )
    .bind(business_id)
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(Some(false));
    }
    let payload = serde_json::json!({ "delivery_id": id });
    let key = format!("{job_kind}:{id}:resend:{}", uuid::Uuid::new_v4().simple());
    super::jobs::insert_on(
        &mut *tx,
        &super::jobs::NewJob {
            kind: job_kind,
            payload: &payload,
            idempotency_key: Some(&key),
            run_after: now,
            max_attempts,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Some(true))
}

/// A delivery with what sending it needs from its endpoint (the sender's read, by id).
#[derive(Clone, Debug, FromRow)]
pub struct Outgoing {
    pub id: i64,
    pub business_id: i64,
    pub msg_id: String,
    pub payload: String,
    pub status: String,
    pub url: String,
    pub secret: String,
    pub enabled: i64,
}

pub async fn outgoing(db: &Db, delivery_id: i64) -> Result<Option<Outgoing>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.business_id, d.msg_id, d.payload, d.status, e.url, e.secret, e.enabled \
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.id = $1",
    )
    .bind(delivery_id)
    .fetch_optional(&db.pool)
    .await
}

/// Records one attempt: its status code (if an answer came), its error (if it failed) and
/// the delivery's new status.
pub async fn record_attempt(
    db: &Db,
    delivery_id: i64,
    status: &str,
    status_code: Option<i64>,
    error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let error = error.map(|e| e.chars().take(500).collect::<String>());
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, \
         last_status_code = $3, last_error = $4, \
         delivered_at = CASE WHEN $2 = 'delivered' THEN $5 ELSE delivered_at END, \
         updated_at = $5 WHERE id = $1",
    )
    .bind(delivery_id)
    .bind(status)
    .bind(status_code)
    .bind(error)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Marks a delivery failed without an attempt (its endpoint was disabled meanwhile).
pub async fn give_up(db: &Db, delivery_id: i64, why: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = $2, updated_at = $3 \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(delivery_id)
    .bind(why)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}
