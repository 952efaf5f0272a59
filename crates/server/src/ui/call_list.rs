//! The call list as people, not numbers: each call named by its lead, with what the caller
//! wanted and what came of it, searched by name, number or subject and filtered by Israel's
//! days, by outcome (what staff marked, or the fallback) and by lead (V10, C2).

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::data::calls;
use super::page::{Layout, PageResult, ok};
use super::view::{self, CallView, Choice, Pager};
use super::viewer::BizViewer;
use crate::domain::Disposition;
use crate::store::crm_calls::{self, CallFilter};
use crate::store::now_ms;
use crate::ui::state::WebState;

const PER_PAGE: i64 = 30;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    fallback: Option<String>,
    page: Option<String>,
    /// Words of a name, the reason or the summary, or digits of the number.
    q: Option<String>,
    /// First day, `YYYY-MM-DD` (Israel's day).
    from: Option<String>,
    /// Last day, included.
    to: Option<String>,
    /// `handled`, `callback`, `spam`, `none` (not yet marked) or `fallback`.
    outcome: Option<String>,
    /// One lead's calls.
    lead: Option<String>,
}

#[derive(Template)]
#[template(path = "calls.html")]
struct CallsPage {
    l: Layout,
    calls: Vec<CallView>,
    pager: Pager,
    fallback_only: bool,
    q: String,
    from: String,
    to: String,
    outcomes: Vec<Choice>,
    /// The lead whose calls these are, when filtered by one.
    lead: Option<(i64, String)>,
    filtered: bool,
    error: String,
}

/// The outcome filter's choices, in the order shown.
fn outcomes(selected: &str) -> Vec<Choice> {
    let mut out: Vec<Choice> = Disposition::ALL
        .into_iter()
        .map(|d| Choice {
            value: d.as_str(),
            label: d.label(),
            selected: selected == d.as_str(),
        })
        .collect();
    out.push(Choice {
        value: "none",
        label: "עוד לא סומנה",
        selected: selected == "none",
    });
    out.push(Choice {
        value: "fallback",
        label: "עברה להקלטה",
        selected: selected == "fallback",
    });
    out
}

/// A day from a date field, or `None` when empty; an unreadable one is an error to show.
fn day(text: &str, end: bool) -> Result<Option<i64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    crate::crm::calls::parse_time(text, end)
        .filter(|_| text.len() == 10)
        .map(Some)
        .ok_or(())
}

pub async fn list(
    State(state): State<WebState>,
    b: BizViewer,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let outcome = q.outcome.clone().unwrap_or_default();
    let fallback_only = q.fallback.as_deref() == Some("1") || outcome == "fallback";
    let page = q
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let search = q.q.clone().unwrap_or_default().trim().to_string();
    let (from_text, to_text) = (
        q.from.clone().unwrap_or_default(),
        q.to.clone().unwrap_or_default(),
    );
    let mut error = String::new();
    let from_ms = day(&from_text, false).unwrap_or_else(|()| {
        error = "תאריך ההתחלה אינו תאריך תקין.".into();
        None
    });
    let to_ms = day(&to_text, true).unwrap_or_else(|()| {
        error = "תאריך הסיום אינו תאריך תקין.".into();
        None
    });
    let lead_id = q.lead.as_deref().and_then(|l| l.trim().parse::<i64>().ok());
    let lead = match lead_id {
        Some(id) => crate::store::customers::get(&state.db, b.business_id, id)
            .await?
            .map(|c| (id, c.name.unwrap_or_else(|| view::phone(&c.phone)))),
        None => None,
    };
    let filter = CallFilter {
        from_ms,
        to_ms,
        // Another business's lead finds nothing, exactly like an unknown one (C4).
        customer_id: lead_id.map(|id| if lead.is_some() { id } else { -1 }),
        search: (!search.is_empty()).then(|| search.clone()),
        disposition: Disposition::parse(&outcome)
            .map(|d| d.as_str().to_string())
            .or_else(|| (outcome == "none").then(|| outcome.clone())),
        fallback_only,
        limit: PER_PAGE,
        offset: (page - 1) * PER_PAGE,
        ..CallFilter::default()
    };
    let (rows, total) = crm_calls::list(&state.db, b.business_id, &filter).await?;
    let now = now_ms();
    let mut base = String::from("/app/biz/calls?");
    for (k, v) in [
        ("q", search.as_str()),
        ("from", from_text.trim()),
        ("to", to_text.trim()),
        (
            "outcome",
            if fallback_only {
                "fallback"
            } else {
                outcome.as_str()
            },
        ),
        ("lead", q.lead.as_deref().unwrap_or("").trim()),
    ] {
        if !v.is_empty() {
            base.push_str(&format!("{k}={}&", view::enc(v)));
        }
    }
    let filtered = base != "/app/biz/calls?";
    Ok(ok(&CallsPage {
        l: Layout::new("שיחות", "calls", Some(b.v.nav.clone())),
        calls: calls::views(&state.db, b.business_id, &rows, now).await?,
        pager: Pager::new(&base, page, PER_PAGE, total),
        fallback_only,
        q: search,
        from: from_text.trim().to_string(),
        to: to_text.trim().to_string(),
        outcomes: outcomes(if fallback_only { "fallback" } else { &outcome }),
        lead,
        filtered,
        error,
    }))
}
