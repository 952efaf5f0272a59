//! The operator's view of the queue: list jobs by state (a `dead` or `waiting` job is how a
//! stuck recording shows itself) and revive a dead one.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::JobsState;
use crate::auth::Operator;
use crate::error::{ApiResult, AppError};
use crate::store::jobs::{self, Job};

pub fn router() -> Router<JobsState> {
    Router::new()
        .route("/api/jobs", get(list))
        .route("/api/jobs/{id}/retry", post(retry))
}

const STATES: [&str; 5] = ["queued", "running", "waiting", "done", "dead"];

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    limit: Option<i64>,
}

/// A job as the API shows it, its payload as JSON.
#[derive(Serialize)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_after: i64,
    pub last_error: Option<String>,
    pub lease_until: Option<i64>,
    pub locked_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            payload: j.payload_json(),
            id: j.id,
            kind: j.kind,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_after: j.run_after,
            last_error: j.last_error,
            lease_until: j.lease_until,
            locked_by: j.locked_by,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

async fn list(
    State(state): State<JobsState>,
    _op: Operator,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let filter = q.state.as_deref().filter(|s| !s.is_empty());
    if let Some(s) = filter
        && !STATES.contains(&s)
    {
        return Err(AppError::BadRequest(format!(
            "state must be one of {}",
            STATES.join(", ")
        )));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows = jobs::list(&state.db, filter, limit).await?;
    let jobs: Vec<JobView> = rows.into_iter().map(JobView::from).collect();
    Ok(Json(serde_json::json!({ "jobs": jobs })))
}

async fn retry(
    State(state): State<JobsState>,
    _op: Operator,
    Path(id): Path<i64>,
) -> ApiResult<Json<JobView>> {
    let Some(job) = jobs::retry_dead(&state.db, id).await? else {
        return match jobs::get(&state.db, id).await? {
            None => Err(AppError::NotFound),
            Some(j) => Err(AppError::Conflict(format!(
                "job {id} is {}, only a dead job can be retried",
                j.state
            ))),
        };
    };
    super::queue::wake();
    tracing::info!(job_id = id, "JOB_RETRY_REQUESTED by the operator");
    Ok(Json(job.into()))
}
