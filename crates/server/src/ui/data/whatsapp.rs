//! WhatsApp threads and messages, read from `whatsapp_messages` when that table exists.

use crate::store::Db;

/// WhatsApp's customer-service window: free text only within 24 hours of the customer's
/// last message; after that only an approved template may be sent.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Message {
    pub id: i64,
    pub customer_id: Option<i64>,
    pub direction: String,
    pub body: Option<String>,
    pub template: Option<String>,
    pub status: String,
    pub error_message: Option<String>,
    pub created_at: i64,
    pub provider: String,
    pub error_code: Option<String>,
}

const COLUMNS: &str = "id, customer_id, direction, body, template, status, error_message, \
                       created_at, provider, error_code";

/// One conversation in the inbox: its last message and who it is with.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Thread {
    pub customer_id: i64,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub direction: String,
    pub body: Option<String>,
    pub status: String,
    pub created_at: i64,
}

/// Threads by latest message; `unanswered_only` keeps those whose last message is the
/// customer's.
pub async fn threads(
    db: &Db,
    business_id: i64,
    unanswered_only: bool,
    limit: i64,
) -> Result<Vec<Thread>, sqlx::Error> {
    let filter = if unanswered_only {
        " AND m.direction = 'in'"
    } else {
        ""
    };
    sqlx::query_as(&format!(
        "SELECT m.customer_id AS customer_id, c.name AS name, c.phone AS phone, \
         m.direction AS direction, m.body AS body, m.status AS status, m.created_at AS created_at \
         FROM whatsapp_messages m \
         JOIN (SELECT customer_id, MAX(id) AS last_id FROM whatsapp_messages \
               WHERE business_id = $1 AND customer_id IS NOT NULL GROUP BY customer_id) t \
           ON m.id = t.last_id \
         JOIN customers c ON c.id = m.customer_id AND c.business_id = $1 \
         WHERE m.business_id = $1{filter} ORDER BY m.id DESC LIMIT $2"
    ))
    .bind(business_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// The messages with one customer, oldest first (the last `limit`).
pub async fn messages(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<Message>, sqlx::Error> {
    let mut rows: Vec<Message> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM whatsapp_messages WHERE business_id = $1 AND customer_id = $2 \
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(business_id)
    .bind(customer_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    rows.reverse();
    Ok(rows)
}

/// The ticks of an outgoing message's delivery status, and their meaning in Hebrew.
pub fn ticks(status: &str) -> (&'static str, &'static str) {
    match status {
        "read" => ("✓✓", "נקראה"),
        "delivered" => ("✓✓", "נמסרה"),
        "sent" => ("✓", "נשלחה"),
        "failed" | "undelivered" => ("✗", "נכשלה"),
        _ => ("🕓", "ממתינה"),
    }
}
