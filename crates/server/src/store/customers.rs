//! Customers and leads (C2): one row per phone number per business, created by whatever
//! meets the customer first (a call, a WhatsApp message, the CRM) and enriched by the rest.

use const_format::formatcp;
use sqlx::{AssertSqlSafe, FromRow};

use super::{Backend, Db, now_ms};
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
    /// When staff deleted it (it can be restored); `None` for a live lead.
    pub deleted_at: Option<i64>,
    /// When to get back to the lead (#20).
    pub follow_up_at: Option<i64>,
}

pub const COLUMNS: &str = "id, business_id, name, phone, email, status, tags, notes, \
     owner_user_id, source, last_inbound_at, created_at, updated_at, deleted_at, follow_up_at";

/// A lead in the lists and the API: not deleted.
pub const LIVE: &str = "deleted_at IS NULL";

/// Finds the business's customer with this phone, creating it if new; a known name is kept,
/// an unknown one is filled in. Safe under concurrent calls for the same phone.
pub async fn upsert_by_phone(
    db: &Db,
    business_id: i64,
    phone: &Phone,
    name: Option<&str>,
    source: &str,
) -> Result<i64, sqlx::Error> {
    Ok(
        upsert_by_phone_created(db, business_id, phone, name, source)
            .await?
            .0,
    )
}

/// [`upsert_by_phone`], and whether this call created the customer (a new lead, #22): the
/// row keeps its first `created_at`, so only the insert returns this call's time.
pub async fn upsert_by_phone_created(
    db: &Db,
    business_id: i64,
    phone: &Phone,
    name: Option<&str>,
    source: &str,
) -> Result<(i64, bool), sqlx::Error> {
    let now = now_ms();
    let (id, created_at): (i64, i64) = sqlx::query_as(
        "INSERT INTO customers (business_id, name, phone, source, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         ON CONFLICT (business_id, phone) DO UPDATE SET \
         name = COALESCE(customers.name, excluded.name), updated_at = excluded.updated_at, \
         deleted_at = NULL, deleted_by = NULL \
         RETURNING id, created_at",
    )
    .bind(business_id)
    .bind(name.map(str::trim).filter(|n| !n.is_empty()))
    .bind(phone.as_str())
    .bind(source)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    Ok((id, created_at == now))
}

pub async fn get(db: &Db, business_id: i64, id: i64) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND id = $2 AND {LIVE}"
    ))
    .bind(business_id)
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// The names of some of a business's customers, by id (customers with no name are left
/// out), for lists that show people rather than numbers.
pub async fn names_of(
    db: &Db,
    business_id: i64,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, sqlx::Error> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Default::default());
    }
    // Safe: only placeholders are formatted in; the ids are bound.
    let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = AssertSqlSafe(format!(
        "SELECT id, name FROM customers WHERE business_id = $1 AND name IS NOT NULL \
         AND id IN ({})",
        marks.join(", ")
    ));
    let mut q = sqlx::query_as::<_, (i64, String)>(sql).bind(business_id);
    for id in &ids {
        q = q.bind(*id);
    }
    Ok(q.fetch_all(&db.pool)
        .await?
        .into_iter()
        .filter(|(_, n)| !n.trim().is_empty())
        .collect())
}

pub async fn by_phone(
    db: &Db,
    business_id: i64,
    phone: &Phone,
) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(formatcp!(
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
    /// Matches anywhere in the name or email, or in the phone (digits of the E.164 form).
    pub q: Option<String>,
    pub status: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// The text a search looks in: the name and the email, one space apart. PostgreSQL's
/// trigram index `customers_search_trgm` (migration 0009) is built on exactly this
/// expression, so the two must stay the same.
pub const SEARCH_TEXT: &str = "(COALESCE(name, '') || ' ' || COALESCE(email, ''))";

/// [`SEARCH_TEXT`] containing the `%text%` pattern bound at `$n` (escaped with a backslash).
///
/// PostgreSQL: `ILIKE`, which the trigram index serves. SQLite: `LIKE` on the lowered text
/// (SQLite's `LIKE` folds ASCII only), a scan of the business's rows.
fn contains(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("{SEARCH_TEXT} ILIKE ${n} ESCAPE '\\'"),
        Backend::Sqlite => format!("LOWER({SEARCH_TEXT}) LIKE ${n} ESCAPE '\\'"),
    }
}

/// The `WHERE` text and bind values after `business_id` ($1) for a list query (public for
/// the tests that check PostgreSQL's indexes serve it).
pub fn list_filter(backend: Backend, q: &ListQuery) -> (String, Vec<String>) {
    let mut sql = format!("business_id = $1 AND {LIVE}");
    let mut binds = Vec::new();
    if let Some(text) = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        binds.push(format!("%{escaped}%"));
        let text_n = binds.len() + 1;
        let mut any = vec![contains(backend, text_n)];
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        // A local form (050…) matches the stored +97250…: drop a leading trunk zero. The
        // phone is stored as E.164, so its digits are searched as they are (trigram index
        // on PostgreSQL; three digits at least, the shortest a trigram can serve).
        let digits = digits.strip_prefix('0').unwrap_or(&digits).to_string();
        if digits.len() >= 3 {
            binds.push(format!("%{digits}%"));
            any.push(format!("phone LIKE ${}", binds.len() + 1));
        }
        sql.push_str(&format!(" AND ({})", any.join(" OR ")));
    }
    if let Some(status) = &q.status {
        binds.push(status.clone());
        sql.push_str(&format!(" AND status = ${}", binds.len() + 1));
    }
    (sql, binds)
}

/// A text search matching at most this many customers sorts all its matches, found through
/// the trigram indexes; one matching more walks the created-order index and filters.
///
/// Left to itself, PostgreSQL's planner picks the walk whenever it expects 50 matches soon,
/// assuming matches are spread evenly in time. When they are not (a name fragment that only
/// recent, or only old, customers have), the walk reads most of the business to fill a
/// page: 250 ms for `לקוח 12` on 100 000 customers, against 16 ms for sorting its 1 111
/// matches. Knowing the count bounds the cost either way: sorting is proportional to the
/// matches (at most this many), and walking past many matches is short.
pub const SORT_MATCHES_UP_TO: i64 = 20_000;

/// One page and the total count; `known_total` is a recent count of the same filter.
///
/// Without text the page and the count run at once. A text search whose count is not known
/// reads its matches once, sorting them and counting them in the same statement; with the
/// count known, the page is read the way that count makes cheap.
pub async fn list(
    db: &Db,
    business_id: i64,
    q: &ListQuery,
    known_total: Option<i64>,
) -> Result<(Vec<Customer>, i64), sqlx::Error> {
    let searching = q.q.as_deref().is_some_and(|t| !t.trim().is_empty());
    match (searching, known_total) {
        (_, Some(total)) => {
            let sort_matches = searching && total <= SORT_MATCHES_UP_TO;
            Ok((page(db, business_id, q, sort_matches).await?, total))
        }
        (false, None) => {
            tokio::try_join!(page(db, business_id, q, false), count(db, business_id, q))
        }
        (true, None) => {
            let rows = counted_page(db, business_id, q).await?;
            let total = match rows.first() {
                Some(first) => first.matches,
                None if q.offset == 0 => 0,
                // Past the last match: no row to carry the count.
                None => count(db, business_id, q).await?,
            };
            Ok((rows.into_iter().map(|r| r.customer).collect(), total))
        }
    }
}

/// A customer and how many rows the query matched in all.
#[derive(FromRow)]
struct Counted {
    #[sqlx(flatten)]
    customer: Customer,
    matches: i64,
}

/// A page of a search, sorted from all its matches, each row carrying their count.
async fn counted_page(
    db: &Db,
    business_id: i64,
    q: &ListQuery,
) -> Result<Vec<Counted>, sqlx::Error> {
    let (filter, binds) = list_filter(db.backend, q);
    let n = binds.len() + 2;
    let sql = format!(
        "SELECT {COLUMNS}, COUNT(*) OVER () AS matches FROM customers WHERE {filter} \
         ORDER BY {} LIMIT ${n} OFFSET ${}",
        sort_order(db.backend, true),
        n + 1
    );
    // Safe: the filter is fixed fragments and `$n` placeholders (the search text is bound).
    let mut query = sqlx::query_as::<_, Counted>(AssertSqlSafe(sql)).bind(business_id);
    for b in &binds {
        query = query.bind(b);
    }
    query.bind(q.limit).bind(q.offset).fetch_all(&db.pool).await
}

/// Newest first. `sort_matches` on PostgreSQL orders by `created_at + 0`, which is not the
/// index's column, so the planner cannot walk the created-order index.
fn sort_order(backend: Backend, sort_matches: bool) -> &'static str {
    if sort_matches && backend == Backend::Postgres {
        "created_at + 0 DESC, id DESC"
    } else {
        "created_at DESC, id DESC"
    }
}

/// Below this offset a page is read straight from the (business_id, created_at, id) index
/// and the table; from it on, through a deferred join.
///
/// Measured with pgbench on PostgreSQL 15, 50 rows a page, a business of 100 000 customers
/// interleaved 1 in 10 with other businesses' rows: over the first 20 pages the direct
/// read does 5 300 pages/s against 2 900 for the deferred join; at offset 5 000 they are
/// even (1 600 against 1 700); at offset 20 000 the deferred join does 800 against 350.
pub const DEFERRED_JOIN_FROM: i64 = 4_000;

/// One page, newest first. `sort_matches`: the filter matches few rows (see
/// [`SORT_MATCHES_UP_TO`]), so PostgreSQL is kept from walking the created-order index.
pub async fn page(
    db: &Db,
    business_id: i64,
    q: &ListQuery,
    sort_matches: bool,
) -> Result<Vec<Customer>, sqlx::Error> {
    let (filter, binds) = list_filter(db.backend, q);
    let n = binds.len() + 2;
    let order = sort_order(db.backend, sort_matches);
    let page_sql = if q.offset < DEFERRED_JOIN_FROM || sort_matches {
        format!(
            "SELECT {COLUMNS} FROM customers WHERE {filter} \
             ORDER BY {order} LIMIT ${n} OFFSET ${}",
            n + 1
        )
    } else {
        // A deferred join: the page's ids come from the index alone, so the skipped rows
        // (OFFSET) are never read from the table; only the page is.
        format!(
            "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND id IN \
             (SELECT id FROM customers WHERE {filter} \
              ORDER BY {order} LIMIT ${n} OFFSET ${}) \
             ORDER BY created_at DESC, id DESC",
            n + 1
        )
    };
    // Safe: the filter is fixed fragments and `$n` placeholders (the search text is bound).
    let mut page = sqlx::query_as::<_, Customer>(AssertSqlSafe(page_sql)).bind(business_id);
    for b in &binds {
        page = page.bind(b);
    }
    page.bind(q.limit).bind(q.offset).fetch_all(&db.pool).await
}

/// How many customers match (ignoring the page).
pub async fn count(db: &Db, business_id: i64, q: &ListQuery) -> Result<i64, sqlx::Error> {
    let (filter, binds) = list_filter(db.backend, q);
    let count_sql = format!("SELECT COUNT(*) FROM customers WHERE {filter}");
    // Safe: the filter is fixed fragments and `$n` placeholders (the search text is bound).
    let mut count = sqlx::query_as::<_, (i64,)>(AssertSqlSafe(count_sql)).bind(business_id);
    for b in &binds {
        count = count.bind(b);
    }
    let (total,) = count.fetch_one(&db.pool).await?;
    Ok(total)
}

/// Every customer of a business, oldest first (for export).
pub async fn all(db: &Db, business_id: i64) -> Result<Vec<Customer>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND {LIVE} ORDER BY created_at, id"
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
    create_on(&db.pool, business_id, f, source, now_ms()).await
}

/// [`create`] on any executor (a transaction), stamped `now`.
async fn create_on<'c, E>(
    conn: E,
    business_id: i64,
    f: &Fields,
    source: &str,
    now: i64,
) -> Result<Customer, sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query_as(formatcp!(
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
    .bind(now)
    .fetch_one(conn)
    .await
}

/// [`create`] and its audit entry (C3) in one commit: one statement on PostgreSQL, one
/// transaction on SQLite. A customer never exists without the entry that says who made it,
/// and the API's create pays for one disk flush, not two.
pub async fn create_audited(
    db: &Db,
    business_id: i64,
    f: &Fields,
    source: &str,
    actor_user_id: Option<i64>,
    actor_token_id: Option<i64>,
    changes: &serde_json::Value,
) -> Result<Customer, sqlx::Error> {
    let now = now_ms();
    let actor = actor_user_id.filter(|id| *id > 0);
    if db.backend.has_writable_ctes() {
        return sqlx::query_as(formatcp!(
            "WITH c AS (INSERT INTO customers (business_id, name, phone, email, status, tags, \
             notes, owner_user_id, source, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}), \
             a AS (INSERT INTO audit_log (business_id, actor_user_id, entity, entity_id, \
             action, changes, created_at, actor_token_id) \
             SELECT $1, $11, 'customer', c.id, 'create', $12, $10, $13 FROM c) \
             SELECT {COLUMNS} FROM c"
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
        .bind(now)
        .bind(actor)
        .bind(changes.to_string())
        .bind(actor_token_id)
        .fetch_one(&db.pool)
        .await;
    }
    let mut tx = db.pool.begin().await?;
    let c = create_on(&mut *tx, business_id, f, source, now).await?;
    super::audit::record_on(
        &mut *tx,
        super::audit::Entry {
            business_id: Some(business_id),
            actor_user_id: actor,
            actor_token_id,
            entity: "customer",
            entity_id: c.id,
            action: "create",
            changes: changes.clone(),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// Writes a customer's fields; `None` when the business has no such customer.
pub async fn update(
    db: &Db,
    business_id: i64,
    id: i64,
    f: &Fields,
) -> Result<Option<Customer>, sqlx::Error> {
    sqlx::query_as(formatcp!(
        "UPDATE customers SET name = $3, phone = $4, email = $5, status = $6, tags = $7, \
         notes = $8, owner_user_id = $9, updated_at = $10, deleted_at = NULL, deleted_by = NULL \
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
