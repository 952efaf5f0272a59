//! Customer lists at depth and search (C2, C4): every way the store reads a page (straight
//! from the created-order index, through a deferred join past the first pages, by sorting a
//! search's matches) gives the same rows in the same order as filtering every customer by
//! hand, never another business's; and on PostgreSQL the trigram indexes serve the search.

mod common;

use common::crm;
use common::{Backend, TestApp};
use mokdan::store::Db;
use mokdan::store::customers::{self, Customer, DEFERRED_JOIN_FROM, ListQuery};
use mokdan::store::users::Role;

const FIRST: [&str; 6] = ["דנה", "יוסי", "מיכל", "אבי", "נועה", "Sarah"];
const LAST: [&str; 5] = ["כהן", "לוי", "מזרחי", "פרץ", "Levi"];

/// `n` customers of one business in bulk; two at a time share a creation time, so the id
/// breaks ties. Customer 0 of business `tag` 0 has a name no other has.
async fn seed(db: &Db, business_id: i64, n: usize, tag: usize) {
    let mut k = 0;
    while k < n {
        let end = (k + 500).min(n);
        let rows: Vec<String> = (k..end)
            .map(|i| {
                let name = if i == 0 && tag == 0 {
                    "זאב ייחודי".to_string()
                } else {
                    format!("{} {}", FIRST[(i * 7) % 6], LAST[(i * 3) % 5])
                };
                let email = if i % 4 == 0 {
                    format!("'c{i}@example.com'")
                } else {
                    "NULL".into()
                };
                let status = customers::STATUSES[i % 5];
                let at = 1_700_000_000_000i64 + (i / 2) as i64 * 1000;
                format!(
                    "({business_id}, '{name}', '+9725{tag}{i:07}', {email}, '{status}', '', '', 'seed', {at}, {at})"
                )
            })
            .collect();
        // Safe: the values are generated above by the test, none is input.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO customers (business_id, name, phone, email, status, tags, notes, \
             source, created_at, updated_at) VALUES {}",
            rows.join(", ")
        )))
        .execute(&db.pool)
        .await
        .unwrap();
        k = end;
    }
}

/// The list's meaning, by hand: text anywhere in the name and email (as "name email", any
/// case), or three or more digits (a leading trunk zero dropped) anywhere in the phone;
/// newest first.
fn by_hand(all: &[Customer], q: Option<&str>, status: Option<&str>) -> Vec<i64> {
    let mut rows: Vec<&Customer> = all
        .iter()
        .filter(|c| status.is_none_or(|s| c.status == s))
        .filter(|c| {
            let Some(q) = q else { return true };
            let q = q.to_lowercase();
            let text = format!(
                "{} {}",
                c.name.as_deref().unwrap_or_default(),
                c.email.as_deref().unwrap_or_default()
            );
            let digits: String = q.chars().filter(char::is_ascii_digit).collect();
            let digits = digits.strip_prefix('0').unwrap_or(&digits);
            text.to_lowercase().contains(&q) || (digits.len() >= 3 && c.phone.contains(digits))
        })
        .collect();
    rows.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
    rows.iter().map(|c| c.id).collect()
}

fn ids(rows: &[Customer]) -> Vec<i64> {
    rows.iter().map(|c| c.id).collect()
}

async fn every_way_of_reading_a_page_agrees(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let db = &app.state.db;
    let a = crm::add_business(&app, "עסק א", "+97231234567").await;
    let b = crm::add_business(&app, "עסק ב", "+97231234568").await;
    let n = DEFERRED_JOIN_FROM as usize + 200;
    seed(db, a, n, 0).await;
    seed(db, b, 300, 1).await;
    let all = customers::all(db, a).await.unwrap();
    assert_eq!(all.len(), n);

    let searches: [(Option<&str>, Option<&str>); 9] = [
        (None, None),
        (None, Some("won")),
        (Some("כהן"), None),
        (Some("דנה לוי"), Some("new")),
        (Some("SARAH"), None),
        (Some("@EXAMPLE"), None),
        (Some("כהן c1"), None),
        (Some("050-0001"), None),
        (Some("זאב"), None),
    ];
    for (q, status) in searches {
        let expected = by_hand(&all, q, status);
        let first = ListQuery {
            q: q.map(str::to_string),
            status: status.map(str::to_string),
            limit: 50,
            offset: 0,
        };
        let (_, total) = customers::list(db, a, &first, None).await.unwrap();
        assert_eq!(total, expected.len() as i64, "{q:?} {status:?}");
        let edge = DEFERRED_JOIN_FROM;
        for offset in [0, 50, edge - 50, edge - 10, edge, edge + 150, n as i64] {
            let lq = ListQuery {
                offset,
                ..first.clone()
            };
            let want: Vec<i64> = expected
                .iter()
                .skip(offset as usize)
                .take(50)
                .copied()
                .collect();
            let walked = customers::page(db, a, &lq, false).await.unwrap();
            let sorted = customers::page(db, a, &lq, true).await.unwrap();
            assert_eq!(ids(&walked), want, "walk {q:?} {status:?} at {offset}");
            assert_eq!(ids(&sorted), want, "sort {q:?} {status:?} at {offset}");
            // Counting as it goes (a search), or page and count at once.
            let (fresh, total) = customers::list(db, a, &lq, None).await.unwrap();
            assert_eq!(ids(&fresh), want, "fresh {q:?} {status:?} at {offset}");
            assert_eq!(total, expected.len() as i64, "{q:?} {status:?} at {offset}");
            // A count known from the cache takes the other way for a search.
            let (listed, _) = customers::list(db, a, &lq, Some(100_000)).await.unwrap();
            assert_eq!(ids(&listed), want, "list {q:?} {status:?} at {offset}");
        }
    }

    // The same through the API, past the deferred join's edge; B's rows never show.
    crm::add_user(&app, "owner@a.example", Role::Owner, Some(a)).await;
    let t = crm::login(&app, "owner@a.example").await;
    let expected = by_hand(&all, None, None);
    let page = DEFERRED_JOIN_FROM / 50 + 1;
    let (s, body) = crm::get(&app, &format!("/api/customers?per_page=50&page={page}"), &t).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["total"], n as i64);
    let got: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, expected[(page as usize - 1) * 50..page as usize * 50]);
    let (_, body) = crm::get(&app, "/api/customers?q=%D7%96%D7%90%D7%91", &t).await;
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["items"][0]["name"], "זאב ייחודי");
}
dual_test!(every_way_of_reading_a_page_agrees);

/// The plan PostgreSQL picks for counting a search, as text.
async fn count_plan(db: &Db, business_id: i64, q: &str) -> String {
    let lq = ListQuery {
        q: Some(q.into()),
        limit: 50,
        ..Default::default()
    };
    let (filter, binds) = customers::list_filter(db.backend, &lq);
    let sql = format!("EXPLAIN SELECT COUNT(*) FROM customers WHERE {filter}");
    // Safe: the store's own filter text, placeholders only (the search is bound).
    let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql)).bind(business_id);
    for b in &binds {
        query = query.bind(b);
    }
    // A test-sized table is one sequential read; with that ruled out, the plan shows
    // whether the trigram index serves the query as written, or the business's own indexes
    // (reading all its rows) do.
    let mut tx = db.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let rows = query.fetch_all(&mut *tx).await.unwrap();
    tx.rollback().await.unwrap();
    rows.into_iter()
        .map(|(l,)| l)
        .collect::<Vec<_>>()
        .join("\n")
}

/// On PostgreSQL a rare name fragment or phone digits are found through the trigram
/// indexes of migration 0009, not by reading the business's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_is_served_by_the_trigram_indexes() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let db = &app.state.db;
    let a = crm::add_business(&app, "עסק א", "+97231234567").await;
    seed(db, a, 20_000, 0).await;
    sqlx::query("ANALYZE customers")
        .execute(&db.pool)
        .await
        .unwrap();
    let plan = count_plan(db, a, "זאב ייחוד").await;
    assert!(plan.contains("customers_search_trgm"), "{plan}");
    let plan = count_plan(db, a, "0002999").await;
    assert!(plan.contains("customers_phone_trgm"), "{plan}");
}
