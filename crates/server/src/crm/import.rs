//! `POST /api/customers/import`: leads from a spreadsheet (C3, #20).
//!
//! It takes what an Israeli office has: UTF-8 with or without a byte-order mark, or
//! Windows-1255 (what Excel in Hebrew writes as "CSV"); headers in English (`phone`,
//! `name` …) or Hebrew (טלפון, שם, אימייל, סטטוס, תגיות, הערות); statuses as stored or by
//! their Hebrew names. A lead matched by phone is updated only in the columns the file has,
//! and a row that renames it says so in the report. Every rejected row is reported with its
//! line and the reason, in English for programs (`message`) and Hebrew for people (`reason`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use serde::Serialize;

use super::csv;
use super::customers::{
    Tags, check_email, check_status, fields_json, join_tags, phone_conflict, record, validate,
};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::domain::Phone;
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
}

/// The file's text: UTF-8 (a byte-order mark dropped) when it is valid UTF-8, else
/// Windows-1255, the code page of Excel in Hebrew.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => encoding_rs::WINDOWS_1255.decode(bytes).0.into_owned(),
    }
}

/// The field a header names, in English or Hebrew; `None` for a column import ignores.
pub fn field_of(header: &str) -> Option<&'static str> {
    let h: String = header
        .trim()
        .trim_matches('"')
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '"' | '\'' | '״' | '׳' | '-' | '_' | ' ' | '.'))
        .collect();
    Some(match h.as_str() {
        "phone" | "telephone" | "mobile" | "tel" | "טלפון" | "נייד" | "טלפוןנייד" | "מספרטלפון"
        | "מספרנייד" | "פלאפון" => "phone",
        "name" | "fullname" | "שם" | "שםמלא" | "שםהלקוח" | "לקוח" => "name",
        "email" | "mail" | "אימייל" | "מייל" | "דואל" | "דואראלקטרוני" => {
            "email"
        }
        "status" | "סטטוס" | "מצב" => "status",
        "tags" | "תגיות" | "תגית" => "tags",
        "notes" | "הערות" | "הערה" => "notes",
        _ => return None,
    })
}

/// A status as stored, or by its Hebrew name.
pub fn status_of(text: &str) -> String {
    let t = text.trim();
    crate::ui::data::leads::STATUSES
        .iter()
        .find(|(_, he)| *he == t)
        .map(|(s, _)| s.to_string())
        .unwrap_or_else(|| t.to_lowercase())
}

/// The Hebrew reason for an English row error.
fn reason(message: &str) -> String {
    let m = message.to_lowercase();
    if m.starts_with("phone is empty") {
        "חסר מספר טלפון".into()
    } else if m.starts_with("phone") {
        "מספר הטלפון אינו תקין".into()
    } else if m.starts_with("status") {
        "סטטוס לא מוכר (חדש, נוצר קשר, מתעניין, נסגר, לא רלוונטי)".into()
    } else if m.starts_with("email") {
        "כתובת האימייל אינה תקינה".into()
    } else if m.starts_with("tags") {
        "התגיות אינן תקינות".into()
    } else if m.contains("already") {
        "המספר כבר שייך לליד אחר".into()
    } else {
        "השורה אינה תקינה".into()
    }
}

pub async fn import(
    State(state): State<CrmState>,
    t: Tenant,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ImportReport>> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !(ctype.starts_with("text/csv") || ctype.starts_with("text/plain")) {
        return Err(AppError::BadRequest(
            "send the file as text/csv (UTF-8 or Windows-1255)".into(),
        ));
    }
    let text = decode(&body);
    let rows = csv::parse(&text).map_err(AppError::BadRequest)?;
    let mut rows = rows.into_iter();
    let (_, head) = rows
        .next()
        .ok_or_else(|| AppError::BadRequest("the file is empty".into()))?;
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in head.iter().enumerate() {
        if let Some(field) = field_of(h) {
            index.entry(field).or_insert(i);
        }
    }
    if !index.contains_key("phone") {
        return Err(AppError::BadRequest(
            "the header row must name a `phone` (טלפון) column".into(),
        ));
    }
    let mut report = ImportReport::default();
    for (line, cells) in rows {
        let get = |col: &str| {
            index
                .get(col)
                .and_then(|i| cells.get(*i))
                .map(|c| csv::unguard(c.trim()).to_string())
                .filter(|c| !c.is_empty())
        };
        match import_row(&state, &t, &get).await {
            Ok((created, renamed)) => {
                if created {
                    report.created += 1;
                } else {
                    report.updated += 1;
                }
                if let Some((from, to)) = renamed {
                    report.notices.push(RowError {
                        row: line,
                        message: format!("renamed a lead from {from:?} to {to:?}"),
                        reason: format!("שם הליד שונה מ„{from}” ל„{to}”"),
                    });
                }
            }
            Err(AppError::BadRequest(message))
            | Err(AppError::Conflict(message))
            | Err(AppError::Clash { message, .. }) => report.errors.push(RowError {
                row: line,
                reason: reason(&message),
                message,
            }),
            Err(other) => return Err(other),
        }
    }
    tracing::info!(
        business_id = t.business_id,
        created = report.created,
        updated = report.updated,
        errors = report.errors.len(),
        "CUSTOMERS_IMPORTED"
    );
    Ok(Json(report))
}

/// A lead renamed by a row: its old and new names.
type Renamed = Option<(String, String)>;

/// Creates or updates one row's customer; true when created, and a rename when the row
/// changed an existing lead's name. Empty cells keep what is known.
async fn import_row(
    state: &CrmState,
    t: &Tenant,
    get: &(dyn Fn(&str) -> Option<String> + Sync),
) -> ApiResult<(bool, Renamed)> {
    let phone_raw = get("phone").ok_or_else(|| AppError::BadRequest("phone is empty".into()))?;
    let phone =
        Phone::parse(&phone_raw).map_err(|e| AppError::BadRequest(format!("phone: {e}")))?;
    let existing = customers::by_phone(&state.db, t.business_id, &phone).await?;
    let mut f = existing.as_ref().map(Fields::of).unwrap_or_else(|| Fields {
        phone: phone.to_string(),
        status: "new".into(),
        ..Default::default()
    });
    let old = f.clone();
    if let Some(n) = get("name") {
        f.name = Some(n);
    }
    if let Some(e) = get("email") {
        f.email = check_email(Some(e))?;
    }
    if let Some(s) = get("status") {
        f.status = check_status(&status_of(&s))?;
    }
    if let Some(tags) = get("tags") {
        f.tags = join_tags(Tags::Text(tags))?;
    }
    if let Some(n) = get("notes") {
        f.notes = n;
    }
    validate(state, t.business_id, &f).await?;
    match existing {
        Some(c) => {
            let renamed = match (&old.name, &f.name) {
                (Some(from), Some(to)) if from != to => Some((from.clone(), to.clone())),
                _ => None,
            };
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
            Ok((false, renamed))
        }
        None => {
            let c = customers::create(&state.db, t.business_id, &f, "import")
                .await
                .map_err(phone_conflict)?;
            record(state, t, c.id, "create", fields_json(&f)).await?;
            Ok((true, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1255_and_utf8_with_or_without_bom_read_the_same() {
        let text = "שם,טלפון\r\nדנה,050-1234567\r\n";
        let (cp1255, _, bad) = encoding_rs::WINDOWS_1255.encode(text);
        assert!(!bad);
        assert_eq!(decode(&cp1255), text);
        assert_eq!(decode(text.as_bytes()), text);
        assert_eq!(decode(format!("\u{feff}{text}").as_bytes()), text);
    }

    #[test]
    fn hebrew_headers_and_statuses_are_understood() {
        for (h, f) in [
            ("טלפון", "phone"),
            ("מספר טלפון", "phone"),
            ("Phone", "phone"),
            ("שם מלא", "name"),
            ("דוא\"ל", "email"),
            ("דוא״ל", "email"),
            ("סטטוס", "status"),
            ("הערות", "notes"),
        ] {
            assert_eq!(field_of(h), Some(f), "{h}");
        }
        assert_eq!(field_of("עיר"), None);
        assert_eq!(status_of("נוצר קשר"), "contacted");
        assert_eq!(status_of("Won"), "won");
    }
}
