//! `POST /api/customers/import/preview`: what an import would do, without doing it (C3, #20).
//!
//! The web app's import wizard sends the file here first: the answer says how the file was
//! read (the encoding), its header row with the field each column is suggested for (Hebrew
//! and English headers recognised; the rest ignored), and the first rows with what the
//! import would make of each (a new lead, an update and of which fields, no change, or
//! rejected and why, in Hebrew). With `?mapping=` it shows the person's own choice. It only
//! reads: the rows are planned by [`super::import_plan`], the same code the import runs, and
//! a phone repeated within the previewed rows counts as the lead its first row makes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Serialize;

use super::import::{ImportParams, read_sheet, require_csv};
use super::import_plan::{
    FIELDS, Mapping, Pending, apply, changes, label, phone_of, reason, renamed,
};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::domain::Phone;
use crate::error::{ApiResult, AppError};
use crate::store::customers::{self, Fields};

/// How many rows a preview plans.
pub const PREVIEW_ROWS: usize = 10;
/// A cell longer than this is cut in the preview (the import takes it whole).
const CELL_CHARS: usize = 200;

#[derive(Debug, Serialize)]
pub struct Preview {
    /// `utf-8`, `utf-8-bom` or `windows-1255`.
    pub encoding: &'static str,
    pub columns: Vec<Column>,
    /// The mapping the rows were planned with: one field (or `ignore`) per column.
    pub mapping: Vec<&'static str>,
    /// The fields a column can feed, with their Hebrew names.
    pub fields: Vec<FieldName>,
    /// Rows in the file, the header not counted.
    pub total_rows: usize,
    /// Whether the import can run with this mapping (a column feeds `phone`).
    pub ready: bool,
    /// What stops the import, in English and Hebrew (empty when ready).
    pub problems: Vec<Problem>,
    pub rows: Vec<PreviewRow>,
}

#[derive(Debug, Serialize)]
pub struct Column {
    pub index: usize,
    pub header: String,
    /// The field the header names, or `ignore`.
    pub suggested: &'static str,
    /// Up to three values from the column, for recognising it.
    pub samples: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct FieldName {
    pub field: &'static str,
    pub label: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub message: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct PreviewRow {
    /// The line of the file the row starts on (the header is line 1).
    pub row: usize,
    pub cells: Vec<String>,
    /// `create`, `update`, `unchanged` or `reject`.
    pub action: &'static str,
    /// The phone as stored (E.164), when it reads.
    pub phone: Option<String>,
    /// The same as people in Israel write it (`050-123-4567`).
    pub phone_display: Option<String>,
    /// The lead's name after the row.
    pub name: Option<String>,
    /// The fields an update changes.
    pub changes: Vec<&'static str>,
    pub message: String,
    /// What will happen, in Hebrew.
    pub reason: String,
}

fn cut(cell: &str) -> String {
    if cell.chars().count() > CELL_CHARS {
        let mut s: String = cell.chars().take(CELL_CHARS).collect();
        s.push('…');
        s
    } else {
        cell.to_string()
    }
}

pub async fn preview(
    State(state): State<CrmState>,
    t: Tenant,
    Query(params): Query<ImportParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Preview>> {
    require_csv(&headers)?;
    let sheet = read_sheet(&body, params.mapping.as_deref())?;
    let suggested = Mapping::suggest(&sheet.head).names();
    // Up to three samples per column, in one pass over the cells (never columns × rows).
    let width = sheet.head.len();
    let mut samples: Vec<Vec<String>> = vec![Vec::new(); width];
    let mut wanting = width;
    for (_, cells) in &sheet.rows {
        if wanting == 0 {
            break;
        }
        for (i, c) in cells.iter().take(width).enumerate() {
            let c = c.trim();
            if !c.is_empty() && samples[i].len() < 3 {
                samples[i].push(cut(c));
                if samples[i].len() == 3 {
                    wanting -= 1;
                }
            }
        }
    }
    let columns = sheet
        .head
        .iter()
        .zip(samples)
        .enumerate()
        .map(|(index, (header, samples))| Column {
            index,
            header: cut(header),
            suggested: suggested[index],
            samples,
        })
        .collect();
    let ready = sheet.mapping.index("phone").is_some();
    let mut problems = Vec::new();
    if !ready {
        problems.push(Problem {
            message: "no column is mapped to `phone`".into(),
            reason: "יש לבחור את העמודה של מספר הטלפון".into(),
        });
    }
    let mut pending = Pending::new();
    let mut rows = Vec::new();
    for (line, cells) in sheet.rows.iter().take(PREVIEW_ROWS) {
        let planned = if ready {
            plan_row(&state, &t, &sheet.mapping, cells, &mut pending).await
        } else {
            Err(AppError::BadRequest(
                "no column is mapped to `phone`".into(),
            ))
        };
        let mut row = PreviewRow {
            row: *line,
            cells: cells.iter().take(width).map(|c| cut(c)).collect(),
            action: "reject",
            phone: None,
            phone_display: None,
            name: None,
            changes: Vec::new(),
            message: String::new(),
            reason: String::new(),
        };
        match planned {
            Ok((old, new)) => describe(&mut row, old.as_ref(), new),
            Err(AppError::BadRequest(message))
            | Err(AppError::Conflict(message))
            | Err(AppError::Clash { message, .. }) => {
                row.reason = if ready {
                    reason(&message)
                } else {
                    "לא נבחרה עמודת טלפון".into()
                };
                row.message = message;
            }
            Err(other) => return Err(other),
        }
        rows.push(row);
    }
    Ok(Json(Preview {
        encoding: sheet.encoding.name(),
        columns,
        mapping: sheet.mapping.names(),
        fields: FIELDS
            .iter()
            .map(|(field, label)| FieldName { field, label })
            .collect(),
        total_rows: sheet.rows.len(),
        ready,
        problems,
        rows,
    }))
}

/// A row's lead before (none when new) and after, as the import would leave it.
async fn plan_row(
    state: &CrmState,
    t: &Tenant,
    m: &Mapping,
    cells: &[String],
    pending: &mut Pending,
) -> ApiResult<(Option<Fields>, Fields)> {
    let phone = phone_of(m, cells)?;
    let key = phone.to_string();
    let old = match pending.get(&key) {
        Some(f) => Some(f.clone()),
        None => customers::by_phone(&state.db, t.business_id, &phone)
            .await?
            .as_ref()
            .map(Fields::of),
    };
    let new = apply(m, cells, &phone, old.as_ref())?;
    pending.insert(key, new.clone());
    Ok((old, new))
}

/// Says what a planned row will do, in English and Hebrew.
fn describe(row: &mut PreviewRow, old: Option<&Fields>, new: Fields) {
    row.phone_display = Phone::parse(&new.phone).ok().map(|p| p.local_display());
    row.phone = Some(new.phone.clone());
    row.name = new.name.clone();
    let Some(old) = old else {
        row.action = "create";
        row.message = "a new lead".into();
        row.reason = "ליד חדש".into();
        return;
    };
    row.changes = changes(old, &new);
    if row.changes.is_empty() {
        row.action = "unchanged";
        row.message = "the lead exists; nothing changes".into();
        row.reason = "הליד כבר קיים, ללא שינוי".into();
        return;
    }
    row.action = "update";
    row.message = format!("updates {}", row.changes.join(", "));
    let names: Vec<&str> = row.changes.iter().map(|f| label(f)).collect();
    row.reason = format!("עדכון ליד קיים: {}", names.join(", "));
    if let Some((from, to)) = renamed(old, &new) {
        row.message
            .push_str(&format!("; renames {from:?} to {to:?}"));
        row.reason
            .push_str(&format!(". שם הליד ישתנה מ„{from}” ל„{to}”"));
    }
}

#[cfg(test)]
mod tests {
    use super::super::import_plan::field_of;
    use super::*;

    #[test]
    fn a_rename_is_said() {
        let old = Fields {
            name: Some("משה".into()),
            phone: "+972500000001".into(),
            status: "new".into(),
            ..Default::default()
        };
        let mut new = old.clone();
        new.name = Some("משה כהן".into());
        let mut row = PreviewRow {
            row: 2,
            cells: vec![],
            action: "reject",
            phone: None,
            phone_display: None,
            name: None,
            changes: vec![],
            message: String::new(),
            reason: String::new(),
        };
        describe(&mut row, Some(&old), new);
        assert_eq!(row.action, "update");
        assert_eq!(row.changes, ["name"]);
        assert!(
            row.reason.contains("שם הליד ישתנה מ„משה”"),
            "{}",
            row.reason
        );
        assert_eq!(field_of("שם"), Some("name"));
    }
}
