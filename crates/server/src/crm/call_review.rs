//! `PATCH /api/calls/{id}`: staff correct a call's summary and mark what came of it
//! (`handled`, `callback`, `spam`) (V10, C2). The corrected summary is never overwritten by
//! the post-call job; each change is in the audit log. Agents and owners alike may review.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::patch::{max_len, some};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::domain::Disposition;
use crate::error::{ApiResult, AppError};
use crate::store::call_review::{self, Review, Reviewer};
use crate::store::calls::CallRow;
use crate::store::crm_calls;

/// The longest summary staff may write.
pub const MAX_SUMMARY: usize = 4000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// The corrected summary; empty or `null` clears it.
    #[serde(default, deserialize_with = "some")]
    pub summary: Option<Option<String>>,
    /// `handled`, `callback` or `spam`; `null` clears it.
    #[serde(default, deserialize_with = "some")]
    pub disposition: Option<Option<String>>,
}

pub async fn review(
    State(state): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
    Json(body): Json<ReviewBody>,
) -> ApiResult<Json<CallRow>> {
    let summary = body.summary.map(|s| s.unwrap_or_default());
    max_len("summary", summary.as_deref(), MAX_SUMMARY)?;
    let disposition = match &body.disposition {
        None => None,
        Some(None) => Some(None),
        Some(Some(text)) => Some(Some(
            Disposition::parse(text)
                .ok_or_else(|| {
                    AppError::BadRequest("disposition: one of handled, callback, spam".into())
                })?
                .as_str(),
        )),
    };
    let review = Review {
        summary: summary.as_deref(),
        disposition,
    };
    let by = Reviewer {
        user_id: super::actor(&t.caller),
        token_id: super::actor_token(&t.caller),
    };
    if !call_review::apply(&state.db, t.business_id, id, &review, &by).await? {
        return Err(AppError::NotFound);
    }
    crm_calls::get(&state.db, t.business_id, id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound)
}
