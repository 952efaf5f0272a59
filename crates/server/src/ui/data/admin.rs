//! What the operator of the whole service sees: every business, user and the job queue.

use super::settings::UserRow;
pub use crate::store::businesses::Business as BusinessRow;
pub use crate::store::jobs::Job as DeadJob;
use crate::store::{Db, businesses, crm_calls, jobs, users as stored_users};

pub async fn businesses(db: &Db) -> Result<Vec<BusinessRow>, sqlx::Error> {
    businesses::first(db, 1000).await
}

/// Every number with the business it routes to.
pub async fn numbers(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    businesses::all_numbers(db).await
}

/// (business_id, users, calls) counts.
pub async fn counts(db: &Db) -> Result<(Vec<(i64, i64)>, Vec<(i64, i64)>), sqlx::Error> {
    let users = stored_users::counts_by_business(db).await?;
    let calls = crm_calls::counts_by_business(db).await?;
    Ok((users, calls))
}

pub async fn users(db: &Db) -> Result<Vec<UserRow>, sqlx::Error> {
    stored_users::first(db, 2000).await
}

/// Jobs by state, from the job queue's table.
pub async fn job_counts(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    jobs::counts_by_state(db).await
}

/// The newest dead jobs, for the operator to look at and retry.
pub async fn dead_jobs(db: &Db) -> Result<Vec<DeadJob>, sqlx::Error> {
    jobs::list(db, Some("dead"), 100).await
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
