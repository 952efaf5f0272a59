//! Calls as the app shows them: lists, one call with its turns, the live view, the chart.
//! The reads are the store's ([`crate::store::crm_calls`]); a call is the store's one call
//! model and a turn its one turn model.

pub use crate::store::calls::CallRow as Call;
pub use crate::store::crm_calls::{get, live, since, times_since};
pub use crate::store::turns::Turn;
use crate::store::{Db, crm_calls, turns as stored_turns};

/// Calls as the lists show them: each named by its lead when the number is a known lead.
pub async fn views(
    db: &Db,
    business_id: i64,
    rows: &[Call],
    now: i64,
) -> Result<Vec<crate::ui::view::CallView>, sqlx::Error> {
    let ids: Vec<i64> = rows.iter().filter_map(|c| c.customer_id).collect();
    let names = crate::store::customers::names_of(db, business_id, &ids).await?;
    Ok(rows
        .iter()
        .map(|c| {
            crate::ui::view::call(c, now).with_lead(c.customer_id.and_then(|id| names.get(&id)))
        })
        .collect())
}

/// The newest calls that fell back to recording.
pub async fn fallbacks(db: &Db, business_id: i64, limit: i64) -> Result<Vec<Call>, sqlx::Error> {
    let filter = crm_calls::CallFilter {
        fallback_only: true,
        limit,
        ..Default::default()
    };
    Ok(crm_calls::list(db, business_id, &filter).await?.0)
}

/// The calls of a lead: linked to it, or from or to its number.
pub async fn of_customer(
    db: &Db,
    business_id: i64,
    customer_id: i64,
    phone: &str,
) -> Result<Vec<Call>, sqlx::Error> {
    crm_calls::for_customer(db, business_id, customer_id, phone, 200).await
}

/// The turns of a call; the call must already be known to belong to the business.
pub async fn turns(db: &Db, call: &Call) -> Result<Vec<Turn>, sqlx::Error> {
    stored_turns::of_call(db, &call.call_sid).await
}
