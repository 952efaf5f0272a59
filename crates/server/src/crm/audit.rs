//! `GET /api/audit`: who changed what and when. Owners see their business's entries;
//! operators see all, or one business's with `business_id`.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::page::{Page, Paged};
use super::users::UserScope;
use crate::crm::state::CrmState;
use crate::error::ApiResult;
use crate::store::audit::{self, AuditRow};

pub fn router() -> Router<CrmState> {
    Router::new().route("/api/audit", get(list))
}

#[derive(Debug, Deserialize)]
pub struct Params {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

async fn list(
    State(state): State<CrmState>,
    s: UserScope,
    Query(p): Query<Params>,
) -> ApiResult<Json<Paged<AuditRow>>> {
    s.caller.require_owner()?;
    let page = Page::new(p.page, p.per_page)?;
    let rows = audit::list(&state.db, s.scope, page.limit(), page.offset()).await?;
    let total = audit::count(&state.db, s.scope).await?;
    Ok(Json(page.of(rows, total)))
}
