//! Leads (the `customers` table) as the web app searches, lists and edits them, with the
//! search patterns its box makes (a name, an email or part of a number). Rows are the
//! store's one customer model, [`Customer`].

use super::customers::{COLUMNS, Customer, LIVE};
use super::{Db, now_ms};
use const_format::formatcp;

/// A page of leads matching a search, a status and the list's filters (#20).
pub struct Search<'a> {
    pub text: &'a str,
    pub status: &'a str,
    /// Whose leads: [`ANY_ASSIGNEE`], [`UNASSIGNED`] or a user's id.
    pub assignee: i64,
    /// Where they came from (`call`, `whatsapp`, `crm`, `import` …), or any when empty.
    pub source: &'a str,
    /// Created in `[from, to)` (epoch ms); 0 for no bound.
    pub from: i64,
    pub to: i64,
    pub sort: Sort,
    pub limit: i64,
    pub offset: i64,
}

/// Any assignee, or none at all.
pub const ANY_ASSIGNEE: i64 = 0;
pub const UNASSIGNED: i64 = -1;

/// The columns the list sorts by, each either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    UpdatedDesc,
    UpdatedAsc,
    NameAsc,
    NameDesc,
    CreatedDesc,
    CreatedAsc,
    StatusAsc,
    StatusDesc,
    FollowUpAsc,
    FollowUpDesc,
}

impl Sort {
    /// From the list's `sort` and `dir` parameters; unknown → the default.
    pub fn parse(column: &str, dir: &str) -> Sort {
        let asc = dir == "asc";
        match (column, asc) {
            ("name", true) => Sort::NameAsc,
            ("name", false) => Sort::NameDesc,
            ("created", true) => Sort::CreatedAsc,
            ("created", false) => Sort::CreatedDesc,
            ("status", true) => Sort::StatusAsc,
            ("status", false) => Sort::StatusDesc,
            ("follow_up", true) => Sort::FollowUpAsc,
            ("follow_up", false) => Sort::FollowUpDesc,
            ("updated", true) => Sort::UpdatedAsc,
            _ => Sort::UpdatedDesc,
        }
    }
}

const WHERE: &str = formatcp!(
    "business_id = $1 AND {LIVE} \
     AND ($2 = '' OR LOWER(COALESCE(name, '')) LIKE $3 ESCAPE '\\' \
          OR LOWER(COALESCE(email, '')) LIKE $3 ESCAPE '\\' OR phone LIKE $4) \
     AND ($5 = '' OR status = $5) \
     AND ($8 = 0 OR ($8 = -1 AND owner_user_id IS NULL) OR owner_user_id = $8) \
     AND ($9 = '' OR COALESCE(source, '') = $9) \
     AND ($10 = 0 OR created_at >= $10) AND ($11 = 0 OR created_at < $11)"
);

/// One page's statement per sort: the order is chosen from fixed text, never formatted in.
macro_rules! page_sql {
    ($order:literal) => {
        formatcp!(
            "SELECT {COLUMNS} FROM customers WHERE {WHERE} ORDER BY {} LIMIT $6 OFFSET $7",
            $order
        )
    };
}

fn page_sql(sort: Sort) -> &'static str {
    match sort {
        Sort::UpdatedDesc => page_sql!("updated_at DESC, id DESC"),
        Sort::UpdatedAsc => page_sql!("updated_at, id"),
        Sort::NameAsc => page_sql!("LOWER(COALESCE(name, '')), id"),
        Sort::NameDesc => page_sql!("LOWER(COALESCE(name, '')) DESC, id DESC"),
        Sort::CreatedDesc => page_sql!("created_at DESC, id DESC"),
        Sort::CreatedAsc => page_sql!("created_at, id"),
        Sort::StatusAsc => page_sql!("status, updated_at DESC, id DESC"),
        Sort::StatusDesc => page_sql!("status DESC, updated_at DESC, id DESC"),
        Sort::FollowUpAsc => {
            page_sql!("CASE WHEN follow_up_at IS NULL THEN 1 ELSE 0 END, follow_up_at, id")
        }
        Sort::FollowUpDesc => page_sql!(
            "CASE WHEN follow_up_at IS NULL THEN 1 ELSE 0 END, follow_up_at DESC, id DESC"
        ),
    }
}

fn patterns(text: &str) -> (String, String, String) {
    let text = text.trim().to_lowercase();
    let like = like_pattern(&text);
    let phone = phone_digits(&text)
        .map(|d| format!("%{d}%"))
        // A pattern no stored E.164 number matches.
        .unwrap_or_else(|| "-".into());
    (text, like, phone)
}

pub async fn search(
    db: &Db,
    business_id: i64,
    s: &Search<'_>,
) -> Result<(Vec<Customer>, i64), sqlx::Error> {
    let (text, like, phone) = patterns(s.text);
    let rows: Vec<Customer> = sqlx::query_as(page_sql(s.sort))
        .bind(business_id)
        .bind(&text)
        .bind(&like)
        .bind(&phone)
        .bind(s.status)
        .bind(s.limit)
        .bind(s.offset)
        .bind(s.assignee)
        .bind(s.source)
        .bind(s.from)
        .bind(s.to)
        .fetch_all(&db.pool)
        .await?;
    // The count takes the same placeholders ($6 and $7 always true), so both share WHERE.
    let (total,): (i64,) = sqlx::query_as(formatcp!(
        "SELECT COUNT(*) FROM customers WHERE {WHERE} AND $6 >= 0 AND $7 >= 0"
    ))
    .bind(business_id)
    .bind(&text)
    .bind(&like)
    .bind(&phone)
    .bind(s.status)
    .bind(s.limit)
    .bind(s.offset)
    .bind(s.assignee)
    .bind(s.source)
    .bind(s.from)
    .bind(s.to)
    .fetch_one(&db.pool)
    .await?;
    Ok((rows, total))
}

/// The newest leads still marked new, and how many there are.
pub async fn newest(
    db: &Db,
    business_id: i64,
    limit: i64,
) -> Result<(Vec<Customer>, i64), sqlx::Error> {
    let rows = sqlx::query_as(formatcp!(
        "SELECT {COLUMNS} FROM customers WHERE business_id = $1 AND status = 'new' AND {LIVE} \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    ))
    .bind(business_id)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let (n,): (i64,) = sqlx::query_as(formatcp!(
        "SELECT COUNT(*) FROM customers WHERE business_id = $1 AND status = 'new' AND {LIVE}"
    ))
    .bind(business_id)
    .fetch_one(&db.pool)
    .await?;
    Ok((rows, n))
}

/// What the lead form edits.
pub struct LeadFields<'a> {
    pub name: Option<&'a str>,
    pub phone: &'a str,
    pub email: Option<&'a str>,
    pub status: &'a str,
    pub tags: &'a str,
    pub notes: &'a str,
}

pub async fn create(db: &Db, business_id: i64, f: &LeadFields<'_>) -> Result<i64, sqlx::Error> {
    let now = now_ms();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO customers (business_id, name, phone, email, status, tags, notes, source, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'crm', $8, $8) RETURNING id",
    )
    .bind(business_id)
    .bind(f.name)
    .bind(f.phone)
    .bind(f.email)
    .bind(f.status)
    .bind(f.tags)
    .bind(f.notes)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    Ok(id)
}

/// Updates a lead of this business; false when it is not one.
pub async fn update(
    db: &Db,
    business_id: i64,
    id: i64,
    f: &LeadFields<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE customers SET name = $3, phone = $4, email = $5, status = $6, tags = $7, \
         notes = $8, updated_at = $9, deleted_at = NULL, deleted_by = NULL \
         WHERE business_id = $1 AND id = $2",
    )
    .bind(business_id)
    .bind(id)
    .bind(f.name)
    .bind(f.phone)
    .bind(f.email)
    .bind(f.status)
    .bind(f.tags)
    .bind(f.notes)
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A note on a lead with its author's email, from the notes table when it exists.
#[derive(sqlx::FromRow)]
pub struct AuthoredNote {
    pub body: String,
    pub created_at: i64,
    pub author: Option<String>,
}

pub async fn notes(
    db: &Db,
    business_id: i64,
    customer_id: i64,
) -> Result<Vec<AuthoredNote>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.body, n.created_at, u.email AS author FROM customer_notes n \
         LEFT JOIN users u ON u.id = n.author_user_id \
         WHERE n.business_id = $1 AND n.customer_id = $2 ORDER BY n.created_at DESC LIMIT 200",
    )
    .bind(business_id)
    .bind(customer_id)
    .fetch_all(&db.pool)
    .await
}

/// `%text%` for LIKE, with the wildcards in the user's text escaped (use `ESCAPE '\'`).
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The digits of a phone search (`050-12` → `5012`), with Israel's trunk 0 or country code
/// dropped so they match inside the stored E.164; `None` when too short to mean a number.
pub fn phone_digits(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let digits = if let Some(rest) = digits.strip_prefix("972") {
        rest.trim_start_matches('0').to_string()
    } else {
        digits.strip_prefix('0').unwrap_or(&digits).to_string()
    };
    (digits.len() >= 3).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(like_pattern("דנה"), "%דנה%");
        assert_eq!(like_pattern("50%_"), "%50\\%\\_%");
        assert_eq!(phone_digits("050-123").as_deref(), Some("50123"));
        assert_eq!(phone_digits("+972 50 1"), Some("501".into()));
        assert_eq!(phone_digits("דנה"), None);
        assert_eq!(phone_digits("05"), None);
    }
}
