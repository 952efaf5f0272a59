//! Leads for daily work over the API (#20, C2): restore a deleted lead (deleting is soft,
//! `DELETE /api/customers/{id}`), list the deleted ones, merge two leads of one person,
//! change many leads' status at once, set a follow-up date and an assignee, tasks on a lead
//! and "my tasks today", and each user's saved filters of the list. Tenant-scoped through
//! [`Tenant`] like the rest of the CRM (C4); bad input is refused in Hebrew; every change
//! is in the audit log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::customers::{CustomerOut, check_status, record};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::error::{ApiResult, AppError};
use crate::store::{lead_care, lead_tasks, saved_filters};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/customers/deleted", get(deleted))
        .route("/api/customers/bulk-status", post(bulk_status))
        .route("/api/customers/{id}/restore", post(restore))
        .route("/api/customers/{id}/merge", post(merge))
        .route("/api/customers/{id}/follow-up", post(follow_up))
        .route("/api/customers/{id}/tasks", get(tasks_of).post(add_task))
        .route("/api/tasks/mine", get(my_tasks))
        .route("/api/tasks/{id}/done", post(task_done))
        .route("/api/saved-filters", get(filters).post(save_filter))
        .route("/api/saved-filters/{id}", delete(delete_filter))
}

fn bad(msg: &str) -> AppError {
    AppError::BadRequest(msg.to_string())
}

async fn deleted(State(s): State<CrmState>, t: Tenant) -> ApiResult<Json<Value>> {
    let rows = lead_care::deleted(&s.db, t.business_id, 200).await?;
    let items: Vec<CustomerOut> = rows.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "items": items })))
}

async fn restore(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<CustomerOut>> {
    let c = lead_care::restore(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    record(&s, &t, id, "restore", json!({})).await?;
    Ok(Json(c.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The lead merged into this one (it is removed)…
    #[serde(default)]
    pub from_id: Option<i64>,
    /// …or named by its phone number, in any Israeli form.
    #[serde(default)]
    pub from_phone: Option<String>,
}

async fn merge(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(body): Json<MergeBody>,
) -> ApiResult<Json<Value>> {
    let from_id = match (body.from_id, body.from_phone.as_deref().map(str::trim)) {
        (Some(from), _) => from,
        (None, Some(raw)) if !raw.is_empty() => {
            let phone = crate::domain::Phone::parse(raw)
                .map_err(|_| bad("מספר הטלפון של הליד השני אינו תקין."))?;
            crate::store::customers::by_phone(&s.db, t.business_id, &phone)
                .await?
                .filter(|c| c.deleted_at.is_none())
                .map(|c| c.id)
                .ok_or_else(|| bad("אין ליד עם מספר הטלפון הזה."))?
        }
        _ => return Err(bad("יש לבחור את הליד שימוזג.")),
    };
    if from_id == id {
        return Err(bad("אי אפשר למזג ליד עם עצמו."));
    }
    let moved = lead_care::merge(&s.db, t.business_id, id, from_id)
        .await?
        .ok_or(AppError::NotFound)?;
    record(
        &s,
        &t,
        id,
        "merge",
        json!({ "from_id": from_id, "moved": moved }),
    )
    .await?;
    let c = crate::store::customers::get(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(
        json!({ "customer": CustomerOut::from(c), "moved": moved }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkStatus {
    pub ids: Vec<i64>,
    pub status: String,
}

async fn bulk_status(
    State(s): State<CrmState>,
    t: Tenant,
    Json(body): Json<BulkStatus>,
) -> ApiResult<Json<Value>> {
    if body.ids.is_empty() || body.ids.len() > 500 {
        return Err(bad("יש לבחור בין ליד אחד ל־500 לידים."));
    }
    let status = check_status(&body.status)?;
    let changed = lead_care::bulk_status(&s.db, t.business_id, &body.ids, &status).await?;
    record(
        &s,
        &t,
        0,
        "bulk_status",
        json!({ "ids": body.ids, "status": status, "changed": changed }),
    )
    .await?;
    Ok(Json(json!({ "changed": changed })))
}

/// A user of the business (assignees must be); `None` passes.
async fn check_assignee(s: &CrmState, t: &Tenant, user: Option<i64>) -> ApiResult<()> {
    if let Some(u) = user
        && !crate::store::customers::is_business_user(&s.db, t.business_id, u).await?
    {
        return Err(bad("המשתמש/ת שנבחר/ה אינו/ה בצוות העסק."));
    }
    Ok(())
}

/// An instant as the API takes it: RFC 3339, or Israel's wall clock (`2026-12-08T10:00`).
fn instant(field: &str, raw: &str) -> ApiResult<i64> {
    crate::appointments::time::parse(field, raw).map(|t| t.as_millisecond())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    #[serde(default)]
    pub follow_up_at: Option<String>,
    #[serde(default)]
    pub assignee_user_id: Option<i64>,
}

async fn follow_up(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(body): Json<FollowUp>,
) -> ApiResult<Json<CustomerOut>> {
    let at = match body.follow_up_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(instant("follow_up_at", raw)?),
    };
    check_assignee(&s, &t, body.assignee_user_id).await?;
    if !lead_care::set_follow_up(&s.db, t.business_id, id, at, body.assignee_user_id).await? {
        return Err(AppError::NotFound);
    }
    record(
        &s,
        &t,
        id,
        "follow_up",
        json!({ "follow_up_at": at, "assignee_user_id": body.assignee_user_id }),
    )
    .await?;
    let c = crate::store::customers::get(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(c.into()))
}

async fn tasks_of(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    crate::store::customers::get(&s.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let items = lead_tasks::of_lead(&s.db, t.business_id, id).await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskCreate {
    pub title: String,
    #[serde(default)]
    pub due_at: Option<String>,
    #[serde(default)]
    pub assignee_user_id: Option<i64>,
}

async fn add_task(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(body): Json<TaskCreate>,
) -> ApiResult<(StatusCode, Json<lead_tasks::Task>)> {
    let title = body.title.trim();
    if title.is_empty() {
        return Err(bad("יש לכתוב מה צריך לעשות."));
    }
    if title.chars().count() > 300 {
        return Err(bad("המשימה ארוכה מדי (עד 300 תווים)."));
    }
    let due = match body.due_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(instant("due_at", raw)?),
    };
    // A task nobody is named for is the creator's own.
    let me = super::actor(&t.caller);
    let assignee = body.assignee_user_id.or(me);
    check_assignee(&s, &t, assignee).await?;
    let task = lead_tasks::create(
        &s.db,
        t.business_id,
        &lead_tasks::NewTask {
            customer_id: id,
            assignee_user_id: assignee,
            title,
            due_at: due,
            created_by: me,
        },
    )
    .await?
    .ok_or(AppError::NotFound)?;
    record(
        &s,
        &t,
        id,
        "task",
        json!({ "task_id": task.id, "title": title }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(task)))
}

/// The end of today in Israel (epoch ms): what "today" means for due tasks.
pub fn end_of_today(now_ms: i64) -> i64 {
    let tz = calendar::israel();
    jiff::Timestamp::from_millisecond(now_ms)
        .ok()
        .and_then(|t| t.to_zoned_datetime(tz.clone()).date().tomorrow().ok())
        .and_then(|d| d.to_zoned_datetime(tz.clone()).ok())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now_ms)
}

async fn my_tasks(State(s): State<CrmState>, t: Tenant) -> ApiResult<Json<Value>> {
    let me = super::actor(&t.caller).ok_or(AppError::NotFound)?;
    let until = end_of_today(crate::store::now_ms());
    let tasks = lead_tasks::due_for(&s.db, t.business_id, me, until).await?;
    let follow_ups = lead_tasks::follow_ups_for(&s.db, t.business_id, me, until).await?;
    let items: Vec<Value> = tasks
        .into_iter()
        .map(|x| json!({ "task": x.task, "lead_name": x.lead_name, "lead_phone": x.lead_phone }))
        .collect();
    let follow: Vec<CustomerOut> = follow_ups.into_iter().map(Into::into).collect();
    Ok(Json(
        json!({ "until": until, "tasks": items, "follow_ups": follow }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDone {
    #[serde(default = "yes")]
    pub done: bool,
}

fn yes() -> bool {
    true
}

async fn task_done(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(body): Json<TaskDone>,
) -> ApiResult<StatusCode> {
    if !lead_tasks::set_done(&s.db, t.business_id, id, body.done).await? {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn filters(State(s): State<CrmState>, t: Tenant) -> ApiResult<Json<Value>> {
    let me = super::actor(&t.caller).ok_or(AppError::NotFound)?;
    let items = saved_filters::list(&s.db, t.business_id, me).await?;
    Ok(Json(json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSave {
    pub name: String,
    pub query: String,
}

/// The leads list's own parameters, the only ones a saved filter keeps.
const FILTER_KEYS: &[&str] = &[
    "q", "status", "assignee", "source", "from", "to", "sort", "dir",
];

/// The query string of a saved filter, its keys checked and its values re-encoded.
pub fn clean_query(raw: &str) -> Option<String> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.trim_start_matches('?').as_bytes())
            .into_owned()
            .collect();
    if pairs
        .iter()
        .any(|(k, _)| !FILTER_KEYS.contains(&k.as_str()))
    {
        return None;
    }
    Some(
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
            .finish(),
    )
}

async fn save_filter(
    State(s): State<CrmState>,
    t: Tenant,
    Json(body): Json<FilterSave>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let me = super::actor(&t.caller).ok_or(AppError::NotFound)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(bad("לסינון צריך שם, עד 60 תווים."));
    }
    let query = clean_query(&body.query)
        .filter(|q| q.len() <= 1000)
        .ok_or_else(|| bad("הסינון אינו מוכר."))?;
    let id = saved_filters::save(&s.db, t.business_id, me, name, &query).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "name": name, "query": query })),
    ))
}

async fn delete_filter(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let me = super::actor(&t.caller).ok_or(AppError::NotFound)?;
    if !saved_filters::delete(&s.db, t.business_id, me, id).await? {
        return Err(AppError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}
