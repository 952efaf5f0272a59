//! `/api/webhooks/…`: a business's endpoints and their deliveries (#22).
//!
//! Owners (and operators naming the business) manage endpoints; agents are refused. Every
//! handler resolves the business through [`Tenant`] and passes it first to the store, so
//! another business's id answers 404. The signing secret is in the answer to the create
//! only; no other answer, and no log line, carries it. Changes are audited (never with the
//! secret).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::state::HooksState;
use super::{Event, MAX_ATTEMPTS, WEBHOOK_DELIVERY, guard, sign};
use crate::auth::Tenant;
use crate::crm::patch::{self, clean, max_len};
use crate::error::{ApiResult, AppError};
use crate::store::audit;
use crate::store::hooks::{self as store, Delivery, DeliveryQuery, Endpoint, NewEndpoint};

pub fn router() -> Router<HooksState> {
    Router::new()
        .route("/api/webhooks/endpoints", get(list).post(create))
        .route(
            "/api/webhooks/endpoints/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/webhooks/deliveries", get(deliveries))
        .route("/api/webhooks/deliveries/{id}/resend", post(resend))
}

/// Most endpoints a business may have.
pub const MAX_ENDPOINTS: usize = 20;

/// An endpoint as the API shows it: never its secret.
#[derive(Debug, Serialize)]
pub struct EndpointOut {
    pub id: i64,
    pub business_id: i64,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<&Endpoint> for EndpointOut {
    fn from(e: &Endpoint) -> Self {
        EndpointOut {
            id: e.id,
            business_id: e.business_id,
            url: e.url.clone(),
            description: e.description.clone(),
            events: e.event_list(),
            enabled: e.enabled != 0,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A delivery as the API shows it.
#[derive(Debug, Serialize)]
pub struct DeliveryOut {
    pub id: i64,
    pub endpoint_id: i64,
    pub event: String,
    /// The `webhook-id` header: the same on every attempt and resend.
    pub msg_id: String,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    /// The signed body, as sent.
    pub payload: Value,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Delivery> for DeliveryOut {
    fn from(d: Delivery) -> Self {
        DeliveryOut {
            payload: serde_json::from_str(&d.payload).unwrap_or(Value::Null),
            id: d.id,
            endpoint_id: d.endpoint_id,
            event: d.event,
            msg_id: d.msg_id,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// Events arrive as a list or as comma-separated text; stored comma-joined, deduplicated,
/// in the order of [`Event::ALL`].
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Events {
    List(Vec<String>),
    Text(String),
}

fn check_events(events: Events) -> ApiResult<String> {
    let raw: Vec<String> = match events {
        Events::List(l) => l,
        Events::Text(t) => t.split(',').map(str::to_string).collect(),
    };
    let mut chosen = Vec::new();
    for e in raw.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        match Event::parse(e) {
            Some(event) => chosen.push(event),
            None => {
                return Err(AppError::BadRequest(format!(
                    "events: unknown event {:?}; one of {}",
                    e.chars().take(50).collect::<String>(),
                    Event::ALL.map(Event::as_str).join(", ")
                )));
            }
        }
    }
    if chosen.is_empty() {
        return Err(AppError::BadRequest("events: choose at least one".into()));
    }
    Ok(Event::ALL
        .into_iter()
        .filter(|e| chosen.contains(e))
        .map(Event::as_str)
        .collect::<Vec<_>>()
        .join(","))
}

/// The URL as stored, after the form checks and (in production) the address checks.
async fn check_url(state: &HooksState, raw: &str) -> ApiResult<String> {
    let production = state.settings.is_production();
    let url = guard::check_url(raw, production).map_err(AppError::BadRequest)?;
    guard::check_resolves(&url, production)
        .await
        .map_err(AppError::BadRequest)?;
    Ok(url.to_string())
}

fn check_description(d: Option<String>) -> ApiResult<Option<String>> {
    let d = clean(d);
    max_len("description", d.as_deref(), 200)?;
    Ok(d)
}

async fn audit(
    state: &HooksState,
    t: &Tenant,
    id: i64,
    action: &str,
    changes: Value,
) -> ApiResult<()> {
    audit::record(
        &state.db,
        audit::Entry {
            business_id: Some(t.business_id),
            actor_user_id: crate::crm::actor(&t.caller),
            actor_token_id: crate::crm::actor_token(&t.caller),
            entity: "webhook_endpoint",
            entity_id: id,
            action,
            changes,
        },
    )
    .await?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct EndpointList {
    pub endpoints: Vec<EndpointOut>,
}

async fn list(State(state): State<HooksState>, t: Tenant) -> ApiResult<Json<EndpointList>> {
    t.caller.require_owner()?;
    let endpoints = store::endpoints(&state.db, t.business_id).await?;
    Ok(Json(EndpointList {
        endpoints: endpoints.iter().map(EndpointOut::from).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointBody {
    pub url: String,
    pub events: Events,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// Accepted for operators' convenience; the business is the [`Tenant`]'s.
    pub business_id: Option<i64>,
}

/// An endpoint just created: the only answer that carries its secret.
#[derive(Debug, Serialize)]
pub struct EndpointCreated {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    /// The signing secret (`whsec_…`), shown only now.
    pub secret: String,
}

async fn create(
    State(state): State<HooksState>,
    t: Tenant,
    Json(body): Json<NewEndpointBody>,
) -> ApiResult<(StatusCode, Json<EndpointCreated>)> {
    t.caller.require_owner()?;
    if body.business_id.is_some_and(|b| b != t.business_id) {
        return Err(AppError::NotFound);
    }
    let events = check_events(body.events)?;
    let description = check_description(body.description)?;
    let url = check_url(&state, &body.url).await?;
    if store::endpoints(&state.db, t.business_id).await?.len() >= MAX_ENDPOINTS {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_ENDPOINTS} endpoints per business"
        )));
    }
    let secret = sign::new_secret();
    let e = store::create_endpoint(
        &state.db,
        t.business_id,
        &NewEndpoint {
            url: &url,
            description: description.as_deref(),
            secret: &secret,
            events: &events,
            enabled: body.enabled.unwrap_or(true),
        },
    )
    .await?;
    audit(
        &state,
        &t,
        e.id,
        "create",
        json!({ "url": url, "events": events }),
    )
    .await?;
    tracing::info!(
        business_id = t.business_id,
        endpoint_id = e.id,
        "WEBHOOK_ENDPOINT_CREATED"
    );
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated {
            endpoint: (&e).into(),
            secret,
        }),
    ))
}

async fn read(
    State(state): State<HooksState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<EndpointOut>> {
    t.caller.require_owner()?;
    let e = store::endpoint(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json((&e).into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Events>,
    #[serde(default, deserialize_with = "patch::some")]
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

async fn update(
    State(state): State<HooksState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(body): Json<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    t.caller.require_owner()?;
    let before = store::endpoint(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let events = match body.events {
        Some(e) => check_events(e)?,
        None => before.events.clone(),
    };
    let description = match body.description {
        Some(d) => check_description(d)?,
        None => before.description.clone(),
    };
    let url = match body.url {
        Some(u) => check_url(&state, &u).await?,
        None => before.url.clone(),
    };
    let enabled = body.enabled.unwrap_or(before.enabled != 0);
    let e = store::update_endpoint(
        &state.db,
        t.business_id,
        id,
        &url,
        description.as_deref(),
        &events,
        enabled,
    )
    .await?
    .ok_or(AppError::NotFound)?;
    let mut changes = serde_json::Map::new();
    if before.url != e.url {
        changes.insert("url".into(), json!([before.url, e.url]));
    }
    if before.events != e.events {
        changes.insert("events".into(), json!([before.events, e.events]));
    }
    if before.enabled != e.enabled {
        changes.insert(
            "enabled".into(),
            json!([before.enabled != 0, e.enabled != 0]),
        );
    }
    if before.description != e.description {
        changes.insert(
            "description".into(),
            json!([before.description, e.description]),
        );
    }
    if !changes.is_empty() {
        audit(&state, &t, id, "update", Value::Object(changes)).await?;
    }
    Ok(Json((&e).into()))
}

async fn remove(
    State(state): State<HooksState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    t.caller.require_owner()?;
    let before = store::endpoint(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !store::delete_endpoint(&state.db, t.business_id, id).await? {
        return Err(AppError::NotFound);
    }
    audit(
        &state,
        &t,
        id,
        "delete",
        json!({ "url": before.url, "events": before.events }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct DeliveryParams {
    pub endpoint_id: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryOut>,
}

async fn deliveries(
    State(state): State<HooksState>,
    t: Tenant,
    Query(p): Query<DeliveryParams>,
) -> ApiResult<Json<DeliveryList>> {
    t.caller.require_owner()?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(AppError::BadRequest("limit: 1 to 500".into()));
    }
    if let Some(endpoint_id) = p.endpoint_id
        && store::endpoint(&state.db, t.business_id, endpoint_id)
            .await?
            .is_none()
    {
        return Err(AppError::NotFound);
    }
    let rows = store::deliveries(
        &state.db,
        t.business_id,
        &DeliveryQuery {
            endpoint_id: p.endpoint_id,
            limit,
        },
    )
    .await?;
    Ok(Json(DeliveryList {
        deliveries: rows.into_iter().map(DeliveryOut::from).collect(),
    }))
}

async fn resend(
    State(state): State<HooksState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<DeliveryOut>)> {
    t.caller.require_owner()?;
    match store::resend(&state.db, t.business_id, id, WEBHOOK_DELIVERY, MAX_ATTEMPTS).await? {
        None => return Err(AppError::NotFound),
        Some(false) => {
            return Err(AppError::Conflict(
                "the delivery is still pending; its next attempt is scheduled".into(),
            ));
        }
        Some(true) => crate::jobs::wake(),
    }
    tracing::info!(
        business_id = t.business_id,
        delivery_id = id,
        "WEBHOOK_RESEND"
    );
    let d = store::delivery(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}
