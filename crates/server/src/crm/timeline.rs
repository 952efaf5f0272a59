//! `GET /api/customers/{id}/timeline`: one customer's calls, WhatsApp messages,
//! appointments (booked, confirmed, cancelled: one item each) and notes, newest first.
//!
//! Calls match by the customer link or by the phone, so calls from before the customer
//! existed still show. WhatsApp messages are the customer's conversation as the WhatsApp
//! module stores it (`whatsapp_messages`: direction `in`/`out`, body, status), shown in the
//! same shape as `GET /api/whatsapp/threads/{customer_id}`. `whatsapp_available` says
//! whether this service has a WhatsApp provider configured (messages can come and go);
//! messages stored earlier show either way.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::error::{ApiResult, AppError};
use crate::store::{appointments_customer, crm_calls, customers, whatsapp};

const PER_KIND: i64 = 200;

pub async fn timeline(
    State(state): State<CrmState>,
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
                    "caller_name": c.caller_name,
                    "caller_reason": c.caller_reason,
                    "callback_time": c.callback_time,
                    "urgency": c.urgency,
                    "call_summary": c.call_summary,
                    "has_recording": c.has_recording != 0,
                },
            }),
        ));
    }
    // The latest messages, pushed newest first so equal times keep the later message first.
    let messages = whatsapp::thread(&state.db, t.business_id, id, PER_KIND).await?;
    for m in messages.iter().rev() {
        items.push((
            m.created_at,
            json!({
                "kind": "whatsapp",
                "at": m.created_at,
                "message": crate::whatsapp::api::view(m),
            }),
        ));
    }
    // Appointments (#19): booked, confirmed by the customer on WhatsApp, cancelled (and by
    // whom), each at its own time.
    for a in
        appointments_customer::for_customer(&state.db, t.business_id, id, &customer.phone, PER_KIND)
            .await?
    {
        let view = serde_json::to_value(crate::appointments::booking::AppointmentOut::from(
            a.clone(),
        ))
        .unwrap_or_default();
        let mut events = vec![("booked", a.created_at, None)];
        if let Some(at) = a.confirmed_at {
            events.push(("confirmed", at, Some("customer".to_string())));
        }
        if let Some(at) = a.cancelled_at {
            events.push(("cancelled", at, a.cancelled_by.clone()));
        }
        for (event, at, by) in events {
            items.push((
                at,
                json!({
                    "kind": "appointment",
                    "at": at,
                    "event": event,
                    "by": by,
                    "appointment": view,
                }),
            ));
        }
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
        "whatsapp_available": state.settings.whatsapp_provider.is_some(),
        "items": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })))
}
