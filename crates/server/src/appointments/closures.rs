//! `/api/closures` (#19, X3): dates or ranges a business is closed, or one date's special
//! hours (a short day before a holiday, a late opening). Availability and booking read
//! them through `avail::load`, so a closed date offers no slot and refuses a booking.
//! Dates are Israel's calendar dates (`YYYY-MM-DD`); refusals are in Hebrew.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::time::{parse_hhmm, show_hhmm};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::error::{ApiResult, AppError};
use crate::store::scheduling::{self as store, Closure};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/closures", get(list).post(create))
        .route("/api/closures/{id}", delete(remove))
}

/// The longest range one closure or one list may span.
const MAX_DAYS: i64 = 366;

fn bad(msg: impl Into<String>) -> AppError {
    AppError::BadRequest(msg.into())
}

fn date(field: &str, raw: &str) -> ApiResult<Date> {
    raw.trim().parse::<Date>().map_err(|_| {
        bad(format!(
            "{field}: תאריך לא תקין ({raw:.20}); כתבו YYYY-MM-DD"
        ))
    })
}

fn span_days(first: Date, last: Date) -> i64 {
    (last - first).get_days() as i64
}

#[derive(Debug, Serialize)]
pub struct ClosureOut {
    pub id: i64,
    pub first_date: String,
    pub last_date: String,
    /// Special hours (`HH:MM`); both null when the dates are closed all day.
    pub from: Option<String>,
    pub to: Option<String>,
    pub note: String,
}

impl From<Closure> for ClosureOut {
    fn from(c: Closure) -> Self {
        ClosureOut {
            id: c.id,
            first_date: c.first_date,
            last_date: c.last_date,
            from: c.start_minute.map(show_hhmm),
            to: c.end_minute.map(show_hhmm),
            note: c.note,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub from: Option<String>,
    pub to: Option<String>,
}

async fn list(
    State(s): State<CrmState>,
    t: Tenant,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(calendar::israel())
        .date();
    let first = match p.from.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(f) => date("from", f)?,
        None => today,
    };
    let last = match p.to.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(l) => date("to", l)?,
        None => first
            .checked_add(jiff::Span::new().days(MAX_DAYS - 1))
            .unwrap_or(first),
    };
    if last < first {
        return Err(bad("to: סוף הטווח חייב להיות אחרי תחילתו"));
    }
    if span_days(first, last) >= MAX_DAYS {
        return Err(bad(format!("to: טווח של עד {MAX_DAYS} ימים")));
    }
    let rows = store::closures(&s.db, t.business_id, &first.to_string(), &last.to_string()).await?;
    let items: Vec<ClosureOut> = rows.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "closures": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureIn {
    pub first_date: String,
    /// The last date closed (default: `first_date`).
    pub last_date: Option<String>,
    /// Special hours instead of closed all day: both or neither.
    pub from: Option<String>,
    pub to: Option<String>,
    pub note: Option<String>,
    pub business_id: Option<i64>,
}

fn check(b: &ClosureIn) -> ApiResult<Closure> {
    let first = date("first_date", &b.first_date)?;
    let last = match b.last_date.as_deref().filter(|l| !l.trim().is_empty()) {
        Some(l) => date("last_date", l)?,
        None => first,
    };
    if last < first {
        return Err(bad(
            "last_date: התאריך האחרון חייב להיות אחרי הראשון או שווה לו",
        ));
    }
    if span_days(first, last) >= MAX_DAYS {
        return Err(bad(format!("last_date: סגירה של עד {MAX_DAYS} ימים")));
    }
    let (start_minute, end_minute) = match (b.from.as_deref(), b.to.as_deref()) {
        (None, None) => (None, None),
        (Some(f), Some(t)) => {
            let (f, t) = (parse_hhmm("from", f)?, parse_hhmm("to", t)?);
            if t <= f || f >= 1440 {
                return Err(bad("to: שעת הסיום חייבת להיות אחרי שעת ההתחלה"));
            }
            (Some(f), Some(t))
        }
        _ => {
            return Err(bad(
                "from: שעות מיוחדות צריכות גם from וגם to (בלעדיהן היום סגור כולו)",
            ));
        }
    };
    let note = b.note.as_deref().unwrap_or_default().trim().to_string();
    if note.chars().count() > 200 {
        return Err(bad("note: עד 200 תווים"));
    }
    Ok(Closure {
        id: 0,
        first_date: first.to_string(),
        last_date: last.to_string(),
        start_minute,
        end_minute,
        note,
    })
}

async fn create(
    State(s): State<CrmState>,
    t: Tenant,
    Json(b): Json<ClosureIn>,
) -> ApiResult<(StatusCode, Json<ClosureOut>)> {
    let c = check(&b)?;
    let id = store::add_closure(&s.db, t.business_id, &c).await?;
    Ok((
        StatusCode::CREATED,
        Json(ClosureOut::from(Closure { id, ..c })),
    ))
}

async fn remove(
    State(s): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    if store::delete_closure(&s.db, t.business_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}
