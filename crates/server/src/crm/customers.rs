//! `/api/customers`: a business's customers and leads (C2, C4).
//!
//! Phones are stored as E.164 whatever Israeli form was typed, unique per business (409).
//! Lists search by name, email or phone (`q`), filter by status, and page newest first.
//! CSV import ([`super::import`]) deduplicates by phone and reports each bad row; export
//! round-trips Hebrew.

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::csv;
use super::page::{Page, Paged};
use super::patch::{self, clean, max_len};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::domain::Phone;
use crate::error::{ApiResult, AppError};
use crate::store::customers::{self, Customer, Fields, ListQuery, STATUSES};
use crate::store::{self, audit};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/customers", get(list).post(create))
        .route("/api/customers/export", get(export))
        .route(
            "/api/customers/import",
            post(super::import::import).layer(DefaultBodyLimit::max(10 * 1024 * 1024)),
        )
        .route(
            "/api/customers/import/preview",
            post(super::import_preview::preview).layer(DefaultBodyLimit::max(10 * 1024 * 1024)),
        )
        .route(
            "/api/customers/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/api/customers/{id}/notes", post(add_note))
        .route(
            "/api/customers/{id}/timeline",
            get(super::timeline::timeline),
        )
}

/// A customer as the API shows it.
#[derive(Debug, Serialize)]
pub struct CustomerOut {
    pub id: i64,
    pub business_id: i64,
    pub name: Option<String>,
    pub phone: String,
    /// The phone as people in Israel write it (`050-123-4567`).
    pub phone_display: String,
    pub email: Option<String>,
    pub status: String,
    pub tags: Vec<String>,
    pub notes: String,
    pub owner_user_id: Option<i64>,
    pub source: Option<String>,
    pub last_inbound_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When to get back to the lead (#20).
    pub follow_up_at: Option<i64>,
    /// When it was deleted (only in the list of deleted leads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<i64>,
}

impl From<Customer> for CustomerOut {
    fn from(c: Customer) -> Self {
        let phone_display = Phone::parse(&c.phone)
            .map(|p| p.local_display())
            .unwrap_or_else(|_| c.phone.clone());
        CustomerOut {
            id: c.id,
            business_id: c.business_id,
            name: c.name,
            phone: c.phone,
            phone_display,
            email: c.email,
            status: c.status,
            tags: split_tags(&c.tags),
            notes: c.notes,
            owner_user_id: c.owner_user_id,
            source: c.source,
            last_inbound_at: c.last_inbound_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
            follow_up_at: c.follow_up_at,
            deleted_at: c.deleted_at,
        }
    }
}

pub fn split_tags(tags: &str) -> Vec<String> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Tags arrive as a list or as comma-separated text; stored comma-joined, deduplicated.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Tags {
    List(Vec<String>),
    Text(String),
}

pub(super) fn join_tags(tags: Tags) -> ApiResult<String> {
    let raw = match tags {
        Tags::List(l) => l.join(","),
        Tags::Text(t) => t,
    };
    let mut out: Vec<String> = Vec::new();
    for t in split_tags(&raw) {
        max_len("tags", Some(&t), 50)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > 50 {
        return Err(AppError::BadRequest("tags: at most 50".into()));
    }
    Ok(out.join(","))
}

fn check_phone(raw: &str) -> ApiResult<String> {
    Phone::parse(raw)
        .map(|p| p.to_string())
        .map_err(|e| AppError::BadRequest(format!("phone: {e}")))
}

pub(super) fn check_email(raw: Option<String>) -> ApiResult<Option<String>> {
    let Some(e) = clean(raw) else {
        return Ok(None);
    };
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if ok {
        Ok(Some(e))
    } else {
        Err(AppError::BadRequest("email: not an email address".into()))
    }
}

pub(super) fn check_status(s: &str) -> ApiResult<String> {
    let s = s.trim().to_lowercase();
    if STATUSES.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(AppError::BadRequest(format!(
            "status: one of {}",
            STATUSES.join(", ")
        )))
    }
}

/// Checks the fields every write must satisfy (lengths; the owner belongs to the business).
pub(super) async fn validate(state: &CrmState, business_id: i64, f: &Fields) -> ApiResult<()> {
    max_len("name", f.name.as_deref(), 200)?;
    max_len("notes", Some(&f.notes), 10_000)?;
    if let Some(owner) = f.owner_user_id
        && !customers::is_business_user(&state.db, business_id, owner).await?
    {
        return Err(AppError::BadRequest(
            "owner_user_id: no such user in this business".into(),
        ));
    }
    Ok(())
}

pub(super) fn phone_conflict(e: sqlx::Error) -> AppError {
    match store::unique_field(&e) {
        Some(field @ "phone") => {
            AppError::clash(field, "phone: a customer with this phone already exists")
        }
        _ => e.into(),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub q: Option<String>,
    pub status: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

async fn list(
    State(state): State<CrmState>,
    t: Tenant,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Paged<CustomerOut>>> {
    let page = Page::new(p.page, p.per_page)?;
    let status = clean(p.status).map(|s| check_status(&s)).transpose()?;
    let q = clean(p.q);
    max_len("q", q.as_deref(), 200)?;
    let query = ListQuery {
        q,
        status,
        limit: page.limit(),
        offset: page.offset(),
    };
    let key = format!(
        "{}\u{0}{}",
        query.q.as_deref().unwrap_or_default(),
        query.status.as_deref().unwrap_or_default()
    );
    let known = state.crm_counts.get(t.business_id, &key);
    let generation = state.crm_counts.generation(t.business_id);
    let (rows, total) = customers::list(&state.db, t.business_id, &query, known).await?;
    if known.is_none() {
        state.crm_counts.put(t.business_id, &key, total, generation);
    }
    Ok(Json(page.of(
        rows.into_iter().map(CustomerOut::from).collect(),
        total,
    )))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    pub name: Option<String>,
    pub phone: String,
    pub email: Option<String>,
    pub status: Option<String>,
    pub tags: Option<Tags>,
    pub notes: Option<String>,
    pub owner_user_id: Option<i64>,
}

async fn create(
    State(state): State<CrmState>,
    t: Tenant,
    Json(body): Json<NewCustomer>,
) -> ApiResult<(StatusCode, Json<CustomerOut>)> {
    let fields = Fields {
        name: clean(body.name),
        phone: check_phone(&body.phone)?,
        email: check_email(body.email)?,
        status: check_status(body.status.as_deref().unwrap_or("new"))?,
        tags: body.tags.map(join_tags).transpose()?.unwrap_or_default(),
        notes: body.notes.unwrap_or_default().trim().to_string(),
        owner_user_id: body.owner_user_id,
    };
    validate(&state, t.business_id, &fields).await?;
    // The number of a deleted lead: it comes back with what was sent, its history kept.
    if let Ok(phone) = Phone::parse(&fields.phone)
        && let Some(gone) = customers::by_phone(&state.db, t.business_id, &phone)
            .await?
            .filter(|c| c.deleted_at.is_some())
    {
        let c = customers::update(&state.db, t.business_id, gone.id, &fields)
            .await
            .map_err(phone_conflict)?
            .ok_or(AppError::NotFound)?;
        record(&state, &t, c.id, "restore", fields_json(&fields)).await?;
        return Ok((StatusCode::CREATED, Json(c.into())));
    }
    let c = customers::create_audited(
        &state.db,
        t.business_id,
        &fields,
        "api",
        super::actor(&t.caller),
        super::actor_token(&t.caller),
        &fields_json(&fields),
    )
    .await
    .map_err(phone_conflict)?;
    state.crm_counts.bump(t.business_id);
    crate::hooks::emit_logged(
        &state.db,
        t.business_id,
        crate::hooks::Event::LeadCreated,
        crate::hooks::lead_data(&c),
    )
    .await;
    Ok((StatusCode::CREATED, Json(c.into())))
}

pub(super) fn fields_json(f: &Fields) -> serde_json::Value {
    serde_json::json!({
        "name": f.name, "phone": f.phone, "email": f.email, "status": f.status,
        "tags": f.tags, "notes": f.notes, "owner_user_id": f.owner_user_id,
    })
}

pub(super) async fn record(
    state: &CrmState,
    t: &Tenant,
    id: i64,
    action: &str,
    changes: serde_json::Value,
) -> ApiResult<()> {
    state.crm_counts.bump(t.business_id);
    audit::record(
        &state.db,
        audit::Entry {
            business_id: Some(t.business_id),
            actor_user_id: super::actor(&t.caller),
            actor_token_id: super::actor_token(&t.caller),
            entity: "customer",
            entity_id: id,
            action,
            changes,
        },
    )
    .await?;
    Ok(())
}

async fn read(
    State(state): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<CustomerOut>> {
    customers::get(&state.db, t.business_id, id)
        .await?
        .map(|c| Json(c.into()))
        .ok_or(AppError::NotFound)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    #[serde(default, deserialize_with = "patch::some")]
    pub name: Option<Option<String>>,
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "patch::some")]
    pub email: Option<Option<String>>,
    pub status: Option<String>,
    pub tags: Option<Tags>,
    pub notes: Option<String>,
    #[serde(default, deserialize_with = "patch::some")]
    pub owner_user_id: Option<Option<i64>>,
}

async fn update(
    State(state): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(body): Json<CustomerPatch>,
) -> ApiResult<Json<CustomerOut>> {
    let before = customers::get(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let old = Fields::of(&before);
    let mut f = old.clone();
    if let Some(n) = body.name {
        f.name = clean(n);
    }
    if let Some(p) = body.phone {
        f.phone = check_phone(&p)?;
    }
    if let Some(e) = body.email {
        f.email = check_email(e)?;
    }
    if let Some(s) = body.status {
        f.status = check_status(&s)?;
    }
    if let Some(tags) = body.tags {
        f.tags = join_tags(tags)?;
    }
    if let Some(n) = body.notes {
        f.notes = n.trim().to_string();
    }
    if let Some(o) = body.owner_user_id {
        f.owner_user_id = o;
    }
    validate(&state, t.business_id, &f).await?;
    let after = customers::update(&state.db, t.business_id, id, &f)
        .await
        .map_err(phone_conflict)?
        .ok_or(AppError::NotFound)?;
    let changes = audit::diff(&fields_json(&old), &fields_json(&f));
    record(&state, &t, id, "update", changes).await?;
    Ok(Json(after.into()))
}

async fn remove(
    State(state): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let before = customers::get(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    t.caller.require_owner()?;
    // Soft: the lead leaves every list and can be restored (`POST …/restore`, #20).
    if !crate::store::lead_care::soft_delete(&state.db, t.business_id, id, super::actor(&t.caller))
        .await?
    {
        return Err(AppError::NotFound);
    }
    record(&state, &t, id, "delete", fields_json(&Fields::of(&before))).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    pub body: String,
}

async fn add_note(
    State(state): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(note): Json<NewNote>,
) -> ApiResult<(StatusCode, Json<customers::Note>)> {
    let body = note.body.trim();
    if body.is_empty() {
        return Err(AppError::BadRequest("body must not be empty".into()));
    }
    max_len("body", Some(body), 10_000)?;
    let n = customers::add_note(&state.db, t.business_id, id, super::actor(&t.caller), body)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, Json(n)))
}

/// The columns of export; import reads the first six and ignores the rest. Columns are
/// only ever added at the end: `updated_at` in epoch milliseconds like `created_at`, and
/// both again as ISO 8601 with Israel's offset (`2026-12-07T13:05:00+02:00`, #20).
pub const CSV_COLUMNS: [&str; 10] = [
    "name",
    "phone",
    "email",
    "status",
    "tags",
    "notes",
    "created_at",
    "updated_at",
    "created_at_iso",
    "updated_at_iso",
];

async fn export(State(state): State<CrmState>, t: Tenant) -> ApiResult<Response> {
    let rows = customers::all(&state.db, t.business_id).await?;
    let mut out = String::with_capacity(64 + rows.len() * 96);
    out.push_str(csv::BOM);
    out.push_str(&csv::line(&CSV_COLUMNS));
    for c in rows {
        out.push_str(&csv::line(&[
            c.name.unwrap_or_default(),
            c.phone,
            c.email.unwrap_or_default(),
            c.status,
            c.tags,
            c.notes,
            c.created_at.to_string(),
            c.updated_at.to_string(),
            crate::ui::time::iso_seconds(c.created_at),
            crate::ui::time::iso_seconds(c.updated_at),
        ]));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"customers.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}
