//! Customers and leads (C2): one row per phone number per business, created by whatever
//! meets the customer first (a call, a WhatsApp message, the CRM) and enriched by the rest.

use sqlx::FromRow;

use super::{Db, now_ms};
use crate::domain::Phone;

#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Customer {
    pub id: i64,
    pub business_id: i64,
    pub name: Option<String>,
    pub phone: String,
    pub email: Option<String>,
    pub status: String,
    pub tags: String,
    pub notes: String,
    pub owner_user_id: Option<i64>,
    pub source: Option<String>,
    pub last_inbound_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str = "id, business_id, name, phone, email, status, tags, notes, \
     owner_user_id, source, last_inbound_at, created_at, updated_at";

/// Finds the business's customer with this phone, creating it if new; a known name is kept,
/// an unknown one is filled in. Safe under concurrent calls for the same phone.
pub async fn upsert_by_phone(
    db: &Db,
    business_id: i64,
    phone: &Phone,
    name: Option<&str>,
    source: &str,
) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO customers (business_id, name, phone, source, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (business_id, phone) DO UPDATE SET \
         name = COALESCE(customers.name, excluded.name), updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(business_id)
    .bind(name.map(str::trim).filter(|n| !n.is_empty()))
    .bind(phone.as_str())
    .bind(source)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    Ok(id)
}

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND id = $2"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

pub async fn by_phone(
    db: &Db,
    business_id: i64,
    phone: &Phone,
) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND phone = $2"
    ))
    .bind(business_id)
    .bind(phone.as_str())
    .fetch_optional(&db.pool)
    .await
}

/// The statuses a lead moves through.
pub const STATUSES: [&str; 5] = ["new", "contacted", "qualified", "won", "lost"];

/// A page of a business's customers, newest first, with the total matching count.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Matches anywhere in the name, or in the phone (digits of the E.164 form).
    pub q: Option<String>,
    pub status: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// The `WHERE` text and bind values after `business_id` ($1) for a list query.
fn list_filter(q: &ListQuery) -> (String, Vec<String>) {
    let mut sql = String::from("business_id = $1");
    let mut binds = Vec::new();
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        binds.push(format!("%{escaped}%"));
        let name_n = binds.len() + 1;
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        // A local form (050…) matches the stored +97250…: drop a leading trunk zero.
        let digits = digits.strip_prefix('0').unwrap_or(&digits).to_string();
        if digits.len() >= 3 {
            binds.push(format!("%{digits}%"));
            let phone_n = binds.len() + 1;
            sql.push_str(&format!(
                " AND (LOWER(COALESCE(name, '')) LIKE ${name_n} ESCAPE '\\' \
                 OR LOWER(COALESCE(email, '')) LIKE ${name_n} ESCAPE '\\' \
                 OR phone LIKE ${phone_n})"
            ));
        } else {
            sql.push_str(&format!(
                " AND (LOWER(COALESCE(name, '')) LIKE ${name_n} ESCAPE '\\' \
                 OR LOWER(COALESCE(email, '')) LIKE ${name_n} ESCAPE '\\')"
            ));
        }
    }
    if let Some(status) = &q.status {
        binds.push(status.clone());
        sql.push_str(&format!(" AND status = ${}", binds.len() + 1));
    }
    (sql, binds)
}

/// One page and the total count.
pub async fn list(
    db: &Db,
    business_id: i64,
    q: &ListQuery,
) -> Result<(Vec<Customer>, i64), sqlx::Error> {
    let (rows, total) = tokio::try_join!(page(db, business_id, q), count(db, business_id, q))?;
    Ok((rows, total))
}

/// One page, newest first.
pub async fn page(db: &Db, business_id: i64, q: &ListQuery) -> Result<Vec<Customer>, sqlx::Error> {
    let (filter, binds) = list_filter(q);
    let n = binds.len() + 2;
    // A deferred join: the page's ids come from the (business_id, created_at, id) index
    // alone, so skipped rows (OFFSET) are never read from the table; only the page is.
    let page_sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND id IN \
         (SELECT id FROM customers WHERE {filter} \
          ORDER BY created_at DESC, id DESC LIMIT ${n} OFFSET ${}) \
         ORDER BY created_at DESC, id DESC",
        n + 1
    );
    let mut page = sqlx::query_as::<_, Customer>(&page_sql).bind(business_id);
    for b in &binds {
        page = page.bind(b);
    }
    page.bind(q.limit).bind(q.offset).fetch_all(&db.pool).await
}

/// How many customers match (ignoring the page).
pub async fn count(db: &Db, business_id: i64, q: &ListQuery) -> Result<i64, sqlx::Error> {
    let (filter, binds) = list_filter(q);
    let count_sql = format!("SELECT COUNT(*) FROM customers WHERE {filter}");
    let mut count = sqlx::query_as::<_, (i64,)>(&count_sql).bind(business_id);
    for b in &binds {
        count = count.bind(b);
    }
    let (total,) = count.fetch_one(&db.pool).await?;
    Ok(total)
}

/// Every customer of a business, oldest first (for export).
pub async fn all(db: &Db, business_id: i64) -> Result<Vec<Customer>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 ORDER BY created_at, id"
    ))
    .bind(business_id)
    .fetch_all(&db.pool)
    .await
}

/// A customer's editable fields, validated by the caller.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields {
    pub name: Option<String>,
    pub phone: String,
    pub email: Option<String>,
    pub status: String,
    pub tags: String,
    pub notes: String,
    pub owner_user_id: Option<i64>,
}

impl Fields {
    pub fn of(c: &Customer) -> Self {
        Fields {
            name: c.name.clone(),
            phone: c.phone.clone(),
            email: c.email.clone(),
            status: c.status.clone(),
            tags: c.tags.clone(),
            notes: c.notes.clone(),
            owner_user_id: c.owner_user_id,
        }
    }
}

/// Inserts a customer; a phone the business already has is a unique violation.
pub async fn create(
    db: &Db,
    business_id: i64,
    f: &Fields,
    source: &str,
) -> Result<Customer, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO customers (business_id, name, phone, email, status, tags, notes, \
         owner_user_id, source, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}"
    ))
    .bind(business_id)
    .bind(&f.name)
    .bind(&f.phone)
    .bind(&f.email)
    .bind(&f.status)
    .bind(&f.tags)
    .bind(&f.notes)
    .bind(f.owner_user_id)
    .bind(source)
    .bind(now_ms())
    .fetch_one(&db.pool)
    .await
}

/// Writes a customer's fields; `None` when the business has no such customer.
pub async fn update(
    db: &Db,
    business_id: i64,
    id: i64,
    f: &Fields,
) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE customers SET name = $3, phone = $4, email = $5, status = $6, tags = $7, \
         notes = $8, owner_user_id = $9, updated_at = $10 \
         WHERE business_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(business_id)
    .bind(id)
    .bind(&f.name)
    .bind(&f.phone)
    .bind(&f.email)
    .bind(&f.status)
    .bind(&f.tags)
    .bind(&f.notes)
    .bind(f.owner_user_id)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

pub async fn delete(db: &Db, business_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM customers WHERE business_id = $1 AND id = $2")
        .bind(business_id)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A note on a customer's timeline.
#[derive(Clone, Debug, FromRow, serde::Serialize)]
pub struct Note {
    pub id: i64,
    pub customer_id: i64,
    pub author_user_id: Option<i64>,
    pub body: String,
    pub created_at: i64,
}

/// Adds a note to a customer of this business; `None` when the business has no such customer.
pub async fn add_note(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    author_user_id: Option<i64>,
    body: &str,
) -> Result<Option<Note>, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO customer_notes (business_id, customer_id, author_user_id, body, created_at) \
         SELECT $1, id, $3, $4, $5 FROM customers WHERE business_id = $1 AND id = $2 \
         RETURNING id, customer_id, author_user_id, body, created_at",
    )
    .bind(business_id)
    .bind(customer_id)
    .bind(author_user_id.filter(|id| *id > 0))
    .bind(body)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

pub async fn notes(db: &Db, business_id: i64, customer_id: i64) -> Result<Vec<Note>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, customer_id, author_user_id, body, created_at FROM customer_notes \
         WHERE business_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC",
    )
    .bind(business_id)
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await
}

/// Whether `user_id` belongs to this business (a lead's owner must).
pub async fn is_business_user(
    db: &Db,
    business_id: i64,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT id FROM users WHERE business_id = $1 AND id = $2")
            .bind(business_id)
            .bind(user_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.is_some())
}
