//! `/app/biz/leads/export.csv`: the business's leads as a spreadsheet in Hebrew (#20, C3):
//! Hebrew headers and statuses, phones in local form, dates as `dd.mm.yyyy HH:MM` in
//! Israel's time, UTF-8 with a byte-order mark so Excel in Hebrew opens it intact. The
//! API's CSV (`/api/customers/export`) stays the machine flavour: field names, E.164 and
//! epoch milliseconds.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::data::leads::status_label;
use super::page::PageError;
use super::time;
use super::view;
use super::viewer::BizViewer;
use crate::crm::csv;
use crate::store::customers;
use crate::ui::state::WebState;

/// The spreadsheet's header row.
pub const HEADERS: [&str; 8] = [
    "שם",
    "טלפון",
    "אימייל",
    "סטטוס",
    "מקור",
    "תגיות",
    "הערות",
    "נוצר",
];

pub async fn export(State(state): State<WebState>, b: BizViewer) -> Result<Response, PageError> {
    let rows = customers::all(&state.db, b.business_id).await?;
    let now = crate::store::now_ms();
    let mut out = String::with_capacity(64 + rows.len() * 96);
    out.push_str(csv::BOM);
    out.push_str(&csv::line(&HEADERS));
    for c in &rows {
        let lead = view::lead(c, now);
        out.push_str(&csv::line(&[
            c.name.clone().unwrap_or_default(),
            lead.phone,
            lead.email,
            status_label(&c.status).to_string(),
            lead.source,
            c.tags.clone(),
            c.notes.clone(),
            time::datetime(c.created_at),
        ]));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"leads.csv\"; filename*=UTF-8''%D7%9C%D7%99%D7%93%D7%99%D7%9D.csv",
            ),
        ],
        out,
    )
        .into_response())
}
