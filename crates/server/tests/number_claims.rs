//! Migration 0012 on a database that already holds conflicting claims (C1, W2): before it, a
//! WhatsApp number could be shared, or be another business's voice number. The migration
//! keeps the voice number's business and the oldest WhatsApp claim, drops the rest with an
//! audit entry each, and from then on the database refuses any new conflict.

mod common;

use common::Backend;
use mokdan::store::Db;

/// The backend's migrations up to and including `last`, applied to `db`.
async fn migrate_up_to(db: &Db, backend: Backend, last: i64) {
    let dir = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut m = sqlx::migrate::Migrator::new(path).await.unwrap();
    m.migrations = m
        .migrations
        .iter()
        .filter(|x| x.version <= last)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    m.run(&db.pool).await.unwrap();
}

async fn business(db: &Db, name: &str, created_at: i64, whatsapp: Option<&str>) -> i64 {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO businesses (name, whatsapp_number, created_at, updated_at) \
         VALUES ($1, $2, $3, $3) RETURNING id",
    )
    .bind(name)
    .bind(whatsapp)
    .bind(created_at)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    id
}

async fn whatsapp_of(db: &Db, id: i64) -> Option<String> {
    let (w,): (Option<String>,) =
        sqlx::query_as("SELECT whatsapp_number FROM businesses WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    w
}

async fn existing_conflicts_are_resolved_then_refused(backend: Backend) {
    let (url, _dir) = common::fresh_database(backend).await;
    let db = Db::connect(&url).await.unwrap();
    migrate_up_to(&db, backend, 9).await;
    // `voice` owns +97231111111 as a voice number; `hijack` claims it for WhatsApp.
    // `newer` (created later, lower id) and `older` share a WhatsApp number.
    let voice = business(&db, "voice", 1_000, None).await;
    sqlx::query(
        "INSERT INTO business_numbers (number, business_id, created_at) VALUES ($1, $2, 0)",
    )
    .bind("+97231111111")
    .bind(voice)
    .execute(&db.pool)
    .await
    .unwrap();
    let hijack = business(&db, "hijack", 500, Some("+97231111111")).await;
    let newer = business(&db, "newer", 3_000, Some("+972501110000")).await;
    let older = business(&db, "older", 2_000, Some("+972501110000")).await;
    let own = business(&db, "own", 4_000, Some("+972502220000")).await;
    db.migrate().await.unwrap();

    assert_eq!(whatsapp_of(&db, hijack).await, None, "a voice number wins");
    assert_eq!(whatsapp_of(&db, newer).await, None, "the oldest claim wins");
    assert_eq!(
        whatsapp_of(&db, older).await.as_deref(),
        Some("+972501110000")
    );
    assert_eq!(
        whatsapp_of(&db, own).await.as_deref(),
        Some("+972502220000")
    );
    assert_eq!(whatsapp_of(&db, voice).await, None);
    let audited: Vec<(i64, String)> = sqlx::query_as(
        "SELECT entity_id, changes FROM audit_log WHERE entity = 'business' ORDER BY entity_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut ids: Vec<i64> = audited.iter().map(|(id, _)| *id).collect();
    ids.sort();
    let mut want = vec![hijack, newer];
    want.sort();
    assert_eq!(ids, want, "{audited:?}");
    for (_, changes) in &audited {
        let v: serde_json::Value = serde_json::from_str(changes).unwrap();
        assert!(v["whatsapp_number"][0].is_string(), "{v}");
        assert!(v["whatsapp_number"][1].is_null(), "{v}");
    }
    // From now on the database refuses a conflict, as a unique violation.
    for (sql, number, id) in [
        (
            "UPDATE businesses SET whatsapp_number = $1 WHERE id = $2",
            "+972501110000",
            newer,
        ),
        (
            "UPDATE businesses SET whatsapp_number = $1 WHERE id = $2",
            "+97231111111",
            hijack,
        ),
        (
            "INSERT INTO business_numbers (number, business_id, created_at) VALUES ($1, $2, 0)",
            "+972502220000",
            voice,
        ),
    ] {
        let e = sqlx::query(sql)
            .bind(number)
            .bind(id)
            .execute(&db.pool)
            .await
            .expect_err(sql);
        assert!(mokdan::store::is_unique_violation(&e), "{sql}: {e}");
    }
    // A business's own numbers are no conflict.
    sqlx::query("UPDATE businesses SET whatsapp_number = $1 WHERE id = $2")
        .bind("+97231111111")
        .bind(voice)
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO business_numbers (number, business_id, created_at) VALUES ($1, $2, 0)",
    )
    .bind("+972502220000")
    .bind(own)
    .execute(&db.pool)
    .await
    .unwrap();
    db.close().await;
}
dual_test!(existing_conflicts_are_resolved_then_refused);
