//! `GET /api/customers/{id}/timeline`: one customer's calls, WhatsApp messages and notes,
//! newest first.
//!
//! Calls match by the customer link or by the phone, so calls from before the customer
//! existed still show. WhatsApp messages come from the WhatsApp module's table when it is
//! there; until then the timeline says `whatsapp_available: false` and carries on.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::Tenant;
use crate::error::{ApiResult, AppError};
use crate::store::{crm_calls, customers};

const PER_KIND: i64 = 200;

pub async fn timeline(
    State(state): State<AppState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let customer = customers::get(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut items: Vec<(i64, Value)> = Vec::new();
    for c in
        crm_calls::for_customer(&state.db, t.business_id, id, &customer.phone, PER_KIND).await?
    {
        items.push((
            c.created_at,
            json!({
                "kind": "call",
                "at": c.created_at,
                "call": {
                    "id": c.id,
                    "call_sid": c.call_sid,
                    "direction": c.direction,
                    "status": c.status,
                    "duration_secs": c.duration_secs,
                    "caller_reason": c.caller_reason,
                    "urgency": c.urgency,
                    "call_summary": c.call_summary,
                    "has_recording": c.has_recording != 0,
                },
            }),
        ));
    }
    let whatsapp = crm_calls::whatsapp_for_customer(&state.db, t.business_id, id, PER_KIND).await;
    let whatsapp_available = whatsapp.is_some();
    for m in whatsapp.unwrap_or_default() {
        let at = m["created_at"].as_i64().unwrap_or_default();
        items.push((at, json!({ "kind": "whatsapp", "at": at, "message": m })));
    }
    for n in customers::notes(&state.db, t.business_id, id).await? {
        items.push((
            n.created_at,
            json!({ "kind": "note", "at": n.created_at, "note": n }),
        ));
    }
    // Newest first; on equal times a stable order (calls, messages, notes as pushed).
    items.sort_by_key(|item| std::cmp::Reverse(item.0));
    Ok(Json(json!({
        "customer_id": id,
        "whatsapp_available": whatsapp_available,
        "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })))
}
