//! What the operator of the whole service sees: every business, user and the job queue.

use super::settings::UserRow;
use crate::store::Db;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BusinessRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

pub async fn businesses(db: &Db) -> Result<Vec<BusinessRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, created_at FROM businesses ORDER BY id LIMIT 1000")
        .fetch_all(&db.pool)
        .await
}

/// Every number with the business it routes to.
pub async fn numbers(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT number, business_id FROM business_numbers ORDER BY business_id, created_at",
    )
    .fetch_all(&db.pool)
    .await
}

/// (business_id, users, calls) counts.
pub async fn counts(db: &Db) -> Result<(Vec<(i64, i64)>, Vec<(i64, i64)>), sqlx::Error> {
    let users = sqlx::query_as(
        "SELECT business_id, COUNT(*) FROM users WHERE business_id IS NOT NULL GROUP BY business_id",
    )
    .fetch_all(&db.pool)
    .await?;
    let calls = sqlx::query_as(
        "SELECT business_id, COUNT(*) FROM call_logs WHERE business_id IS NOT NULL GROUP BY business_id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok((users, calls))
}

pub async fn users(db: &Db) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, role, business_id, created_at FROM users ORDER BY id LIMIT 2000",
    )
    .fetch_all(&db.pool)
    .await
}

/// Jobs by state, from the job queue's table.
pub async fn job_counts(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state")
        .fetch_all(&db.pool)
        .await
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeadJob {
    pub id: i64,
    pub kind: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

pub async fn dead_jobs(db: &Db) -> Result<Vec<DeadJob>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, attempts, last_error, updated_at FROM jobs WHERE state = 'dead' \
         ORDER BY updated_at DESC LIMIT 100",
    )
    .fetch_all(&db.pool)
    .await
}

/// `mokdan_errors_total` by kind, read from the Prometheus text.
pub fn error_counts(metrics_text: &str) -> Vec<(String, String)> {
    metrics_text
        .lines()
        .filter(|l| l.starts_with("mokdan_errors_total{"))
        .filter_map(|l| {
            let kind = l.split("kind=\"").nth(1)?.split('"').next()?.to_string();
            let value = l.rsplit(' ').next()?.to_string();
            Some((kind, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_counts_from_metrics() {
        let text = "# TYPE mokdan_errors_total counter\n\
                    mokdan_errors_total{kind=\"api\"} 3\n\
                    mokdan_errors_total{kind=\"webhook_db\"} 1\n\
                    http_requests_total{route=\"/\"} 9\n";
        assert_eq!(
            super::error_counts(text),
            vec![
                ("api".into(), "3".into()),
                ("webhook_db".into(), "1".into())
            ]
        );
    }
}
