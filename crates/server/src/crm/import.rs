//! `POST /api/customers/import`: leads from a spreadsheet (C3, #20).
//!
//! It takes what an Israeli office has: UTF-8 with or without a byte-order mark, or
//! Windows-1255 (what Excel in Hebrew writes as "CSV"); headers in English (`phone`,
//! `name` …) or Hebrew (טלפון, שם, אימייל, סטטוס, תגיות, הערות); statuses as stored or by
//! their Hebrew names. A lead matched by phone is updated only in the columns the file has,
//! and a row that renames it says so in the report. Every rejected row is reported with its
//! line and the reason, in English for programs (`message`) and Hebrew for people (`reason`).
//! With `?mapping=` the person importing says which column is which (the web app's wizard
//! does, after [`super::import_preview`]); only mapped columns are read.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use serde::{Deserialize, Serialize};

use super::csv;
use super::customers::{fields_json, phone_conflict, record, validate};
use super::import_plan::{Encoding, Mapping, apply, decode, phone_of, reason, renamed};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::error::{ApiResult, AppError};
use crate::store::audit;
use crate::store::customers::{self, Fields};

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub errors: Vec<RowError>,
    /// Rows that went in but changed something a person should know: a lead renamed
    /// (left out of the answer when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<RowError>,
}

#[derive(Debug, Serialize)]
pub struct RowError {
    /// The line of the file the row starts on (the header is line 1).
    pub row: usize,
    pub message: String,
    /// The same, in Hebrew, for the web app.
    pub reason: String,
    /// A rejected row's cells as the file had them, to fix and import again (not on notices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<Vec<String>>,
}

/// `?mapping=`: which column feeds which field (see [`Mapping::parse`]); without it, the
/// headers decide.
#[derive(Debug, Default, Deserialize)]
pub struct ImportParams {
    pub mapping: Option<String>,
}

/// Refuses a body that is not sent as CSV text.
pub fn require_csv(headers: &HeaderMap) -> ApiResult<()> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ctype.starts_with("text/csv") || ctype.starts_with("text/plain") {
        Ok(())
    } else {
        Err(AppError::BadRequest(
            "send the file as text/csv (UTF-8 or Windows-1255)".into(),
        ))
    }
}

/// A file read: how it was decoded, its header row, its rows with their lines, and the
/// mapping asked for (or suggested by the headers).
pub struct Sheet {
    pub encoding: Encoding,
    pub head: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
    pub mapping: Mapping,
}

/// More columns than any lead list has: refused, so a hostile file cannot make the
/// preview's answer huge.
pub const MAX_COLUMNS: usize = 1000;

pub fn read_sheet(body: &[u8], mapping: Option<&str>) -> ApiResult<Sheet> {
    let (text, encoding) = decode(body);
    let mut rows = csv::parse(&text).map_err(AppError::BadRequest)?.into_iter();
    let (_, head) = rows
        .next()
        .ok_or_else(|| AppError::BadRequest("the file is empty".into()))?;
    if head.len() > MAX_COLUMNS {
        return Err(AppError::BadRequest(format!(
            "the header row has {} columns; at most {MAX_COLUMNS}",
            head.len()
        )));
    }
    let mapping = match mapping {
        Some(m) => Mapping::parse(m, head.len()).map_err(AppError::BadRequest)?,
        None => Mapping::suggest(&head),
    };
    Ok(Sheet {
        encoding,
        head,
        rows: rows.collect(),
        mapping,
    })
}

pub async fn import(
    State(state): State<CrmState>,
    t: Tenant,
    Query(params): Query<ImportParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ImportReport>> {
    require_csv(&headers)?;
    let sheet = read_sheet(&body, params.mapping.as_deref())?;
    if sheet.mapping.index("phone").is_none() {
        return Err(AppError::BadRequest(if params.mapping.is_some() {
            "the mapping must give a column to `phone` (טלפון)".into()
        } else {
            "the header row must name a `phone` (טלפון) column".into()
        }));
    }
    let mut report = ImportReport::default();
    for (line, cells) in &sheet.rows {
        match import_row(&state, &t, &sheet.mapping, cells).await {
            Ok((created, renamed)) => {
                if created {
                    report.created += 1;
                } else {
                    report.updated += 1;
                }
                if let Some((from, to)) = renamed {
                    report.notices.push(RowError {
                        row: *line,
                        message: format!("renamed a lead from {from:?} to {to:?}"),
                        reason: format!("שם הליד שונה מ„{from}” ל„{to}”"),
                        cells: None,
                    });
                }
            }
            Err(AppError::BadRequest(message))
            | Err(AppError::Conflict(message))
            | Err(AppError::Clash { message, .. }) => report.errors.push(RowError {
                row: *line,
                reason: reason(&message),
                message,
                cells: Some(cells.clone()),
            }),
            Err(other) => return Err(other),
        }
    }
    tracing::info!(
        business_id = t.business_id,
        created = report.created,
        updated = report.updated,
        errors = report.errors.len(),
        mapped = params.mapping.is_some(),
        "CUSTOMERS_IMPORTED"
    );
    Ok(Json(report))
}

/// A lead renamed by a row: its old and new names.
type Renamed = Option<(String, String)>;

/// Creates or updates one row's customer; true when created, and a rename when the row
/// changed an existing lead's name. Empty cells and unmapped columns keep what is known.
async fn import_row(
    state: &CrmState,
    t: &Tenant,
    m: &Mapping,
    cells: &[String],
) -> ApiResult<(bool, Renamed)> {
    let phone = phone_of(m, cells)?;
    let existing = customers::by_phone(&state.db, t.business_id, &phone).await?;
    let old = existing.as_ref().map(Fields::of);
    let f = apply(m, cells, &phone, old.as_ref())?;
    validate(state, t.business_id, &f).await?;
    match (existing, old) {
        (Some(c), Some(old)) => {
            if f != old {
                customers::update(&state.db, t.business_id, c.id, &f).await?;
                record(
                    state,
                    t,
                    c.id,
                    "update",
                    audit::diff(&fields_json(&old), &fields_json(&f)),
                )
                .await?;
            }
            Ok((false, renamed(&old, &f)))
        }
        _ => {
            let c = customers::create(&state.db, t.business_id, &f, "import")
                .await
                .map_err(phone_conflict)?;
            record(state, t, c.id, "create", fields_json(&f)).await?;
            Ok((true, None))
        }
    }
}
