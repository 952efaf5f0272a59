//! The `call_policies` and `call_quota_uses` tables: a business's calling policy as the
//! operator set it, and the outbound calls and transfers counted against its quotas.

use sqlx::FromRow;

use super::Db;

/// A business's stored policy; a business without a row has the defaults.
#[derive(Clone, Debug, FromRow, PartialEq, Eq)]
pub struct StoredPolicy {
    pub countries: String,
    pub allow_premium: i64,
    pub per_hour: Option<i64>,
    pub per_day: Option<i64>,
    pub per_credential_hour: Option<i64>,
    pub per_credential_day: Option<i64>,
}

pub async fn get(db: &Db, business_id: i64) -> Result<Option<StoredPolicy>, sqlx::Error> {
    sqlx::query_as(
        "SELECT countries, allow_premium, per_hour, per_day, per_credential_hour, \
         per_credential_day FROM call_policies WHERE business_id = $1",
    )
    .bind(business_id)
    .fetch_optional(&db.pool)
    .await
}

/// Writes the whole policy of a business (insert or replace).
pub async fn put(db: &Db, business_id: i64, p: &StoredPolicy) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO call_policies (business_id, countries, allow_premium, per_hour, per_day, \
         per_credential_hour, per_credential_day, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (business_id) DO UPDATE SET countries = excluded.countries, \
         allow_premium = excluded.allow_premium, per_hour = excluded.per_hour, \
         per_day = excluded.per_day, per_credential_hour = excluded.per_credential_hour, \
         per_credential_day = excluded.per_credential_day, updated_at = excluded.updated_at",
    )
    .bind(business_id)
    .bind(&p.countries)
    .bind(p.allow_premium)
    .bind(p.per_hour)
    .bind(p.per_day)
    .bind(p.per_credential_hour)
    .bind(p.per_credential_day)
    .bind(super::now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records one use; its id.
pub async fn record_use(
    db: &Db,
    business_id: i64,
    credential: &str,
    at: i64,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO call_quota_uses (business_id, credential, created_at) \
         VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(business_id)
    .bind(credential)
    .bind(at)
    .fetch_one(&db.pool)
    .await?;
    Ok(id)
}

/// Takes back a use that was refused.
pub async fn forget_use(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM call_quota_uses WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Uses of the business since `since` (ms), and the oldest of them.
pub async fn business_uses(
    db: &Db,
    business_id: i64,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM call_quota_uses \
         WHERE business_id = $1 AND created_at > $2",
    )
    .bind(business_id)
    .bind(since)
    .fetch_one(&db.pool)
    .await
}

/// Uses by one credential of the business since `since` (ms), and the oldest of them.
pub async fn credential_uses(
    db: &Db,
    business_id: i64,
    credential: &str,
    since: i64,
) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), MIN(created_at) FROM call_quota_uses \
         WHERE credential = $1 AND business_id = $2 AND created_at > $3",
    )
    .bind(credential)
    .bind(business_id)
    .bind(since)
    .fetch_one(&db.pool)
    .await
}

/// Forgets uses older than `before` (ms): only the last day counts.
pub async fn prune(db: &Db, business_id: i64, before: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM call_quota_uses WHERE business_id = $1 AND created_at < $2")
        .bind(business_id)
        .bind(before)
        .execute(&db.pool)
        .await?;
    Ok(())
}
