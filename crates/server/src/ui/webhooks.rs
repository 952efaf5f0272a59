//! The business's webhooks page (#22): its endpoints (add with the events to send, remove;
//! the signing secret is shown once, when one is added) and the latest deliveries with
//! their status code, each with "שליחה חוזרת". Owners only. The writes go to
//! `/api/webhooks/…` from the page's script, like the app's other API writes.

use askama::Template;
use axum::extract::State;

use super::page::{Layout, PageResult, ok};
use super::viewer::OwnerViewer;
use crate::hooks::Event;
use crate::store::hooks::{self as store, DeliveryQuery};
use crate::ui::state::WebState;

/// Deliveries shown.
const RECENT: i64 = 30;

struct EventView {
    name: &'static str,
    label: &'static str,
}

struct EndpointView {
    id: i64,
    url: String,
    events: String,
    enabled: bool,
}

struct DeliveryView {
    id: i64,
    event: String,
    url: String,
    status: String,
    status_label: &'static str,
    code: String,
    attempts: i64,
    error: String,
    when: String,
    can_resend: bool,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    l: Layout,
    events: Vec<EventView>,
    endpoints: Vec<EndpointView>,
    deliveries: Vec<DeliveryView>,
}

fn label(event: &str) -> String {
    Event::parse(event).map_or_else(|| event.to_string(), |e| e.hebrew().to_string())
}

pub async fn page(State(state): State<WebState>, o: OwnerViewer) -> PageResult {
    let l = Layout::new("וובהוקים", "settings", Some(o.0.v.nav.clone()));
    let business_id = o.0.business_id;
    let endpoints = store::endpoints(&state.db, business_id).await?;
    let rows = store::deliveries(
        &state.db,
        business_id,
        &DeliveryQuery {
            endpoint_id: None,
            limit: RECENT,
        },
    )
    .await?;
    let now = crate::store::now_ms();
    let deliveries = rows
        .into_iter()
        .map(|d| DeliveryView {
            id: d.id,
            event: label(&d.event),
            url: endpoints
                .iter()
                .find(|e| e.id == d.endpoint_id)
                .map(|e| e.url.clone())
                .unwrap_or_default(),
            status_label: match d.status.as_str() {
                store::DELIVERED => "נמסר",
                store::FAILED => "נכשל",
                _ => "ממתין",
            },
            can_resend: d.status != store::PENDING,
            status: d.status,
            code: d
                .last_status_code
                .map_or_else(|| "—".to_string(), |c| c.to_string()),
            attempts: d.attempts,
            error: d.last_error.unwrap_or_default(),
            when: super::time::relative(d.created_at, now),
        })
        .collect();
    Ok(ok(&WebhooksPage {
        l,
        events: Event::ALL
            .into_iter()
            .map(|e| EventView {
                name: e.as_str(),
                label: e.hebrew(),
            })
            .collect(),
        endpoints: endpoints
            .iter()
            .map(|e| EndpointView {
                id: e.id,
                url: e.url.clone(),
                events: e
                    .event_list()
                    .iter()
                    .map(|x| label(x))
                    .collect::<Vec<_>>()
                    .join(" · "),
                enabled: e.enabled != 0,
            })
            .collect(),
        deliveries,
    }))
}
