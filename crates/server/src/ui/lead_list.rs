//! The leads list for daily work (#20, C2): search, status, assignee ("שלי", "ללא"),
//! source and creation dates, columns that sort either way, the user's saved filters, and a
//! status for many leads at once (the rows' checkboxes post to
//! `/api/customers/bulk-status`). A deleted lead leaves a line to undo it.

use askama::Template;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::data::leads::{self, STATUSES, Search};
use super::page::{Layout, PageResult, ok};
use super::view::{self, Choice, LeadView, Pager, enc};
use super::viewer::BizViewer;
use crate::store::leads::{ANY_ASSIGNEE, Sort, UNASSIGNED};
use crate::store::{lead_care, now_ms, saved_filters, users};
use crate::ui::state::WebState;

const PER_PAGE: i64 = 25;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    page: Option<String>,
    /// A lead just deleted: the page offers to undo it.
    deleted: Option<String>,
}

/// A column's heading: a link that sorts by it, the other way when it is the current one.
pub struct Column {
    pub label: &'static str,
    pub href: String,
    /// `ascending`, `descending` or `none`, for `aria-sort`.
    pub aria: &'static str,
    pub arrow: &'static str,
    pub hide_sm: bool,
}

/// A choice whose value and label are made at run time (the team's people).
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Opt {
    pub fn new(value: &str, label: &str, current: &str) -> Opt {
        Opt {
            value: value.into(),
            label: label.into(),
            selected: value == current,
        }
    }
}

/// How a team member is named in the app: their name, else their e-mail.
pub fn user_name(u: &users::User) -> String {
    u.name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| u.email.clone())
}

pub struct Row {
    pub c: LeadView,
    pub assignee: String,
    pub follow_up: String,
}

#[derive(Template)]
#[template(path = "leads.html")]
struct LeadsPage {
    l: Layout,
    q: String,
    statuses: Vec<Choice>,
    bulk_statuses: Vec<Choice>,
    assignees: Vec<Opt>,
    sources: Vec<Choice>,
    from: String,
    to: String,
    sort: String,
    dir: String,
    columns: Vec<Column>,
    rows: Vec<Row>,
    pager: Pager,
    /// The current filter as a query string, to save.
    query: String,
    saved: Vec<(String, String)>,
    error: String,
    undo: Option<(i64, String)>,
    /// Leads deleted and not restored, for the link to them.
    any_deleted: bool,
}

const SOURCES: &[(&str, &str)] = &[
    ("call", "שיחה"),
    ("whatsapp", "וואטסאפ"),
    ("crm", "הוזן ידנית"),
    ("import", "ייבוא"),
    ("api", "מערכת חיצונית"),
];

const COLUMNS: &[(&str, &str, bool)] = &[
    ("name", "שם", false),
    ("status", "סטטוס", false),
    ("follow_up", "מעקב", true),
    ("created", "נוצר", true),
    ("updated", "עודכן", true),
];

fn choices(all: &[(&'static str, &'static str)], current: &str) -> Vec<Choice> {
    all.iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

/// A date field's day (Israel), `Ok(0)` when empty, `Err` when unreadable.
fn day(text: &str, end: bool) -> Result<i64, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    crate::crm::calls::parse_time(text, end)
        .filter(|_| text.len() == 10)
        .ok_or(())
}

pub async fn list(
    State(state): State<WebState>,
    b: BizViewer,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let db = &state.db;
    let me = b.v.caller.user_id;
    let status = if STATUSES.iter().any(|(s, _)| *s == q.status) {
        q.status.clone()
    } else {
        String::new()
    };
    let source = if SOURCES.iter().any(|(s, _)| *s == q.source) {
        q.source.clone()
    } else {
        String::new()
    };
    let team = users::list(db, Some(b.business_id)).await?;
    let assignee_id = match q.assignee.as_str() {
        "me" => me,
        "none" => UNASSIGNED,
        other => other
            .parse::<i64>()
            .ok()
            .filter(|id| team.iter().any(|u| u.id == *id))
            .unwrap_or(ANY_ASSIGNEE),
    };
    let assignee = match assignee_id {
        ANY_ASSIGNEE => String::new(),
        UNASSIGNED => "none".into(),
        id if id == me => "me".into(),
        id => id.to_string(),
    };
    let mut error = String::new();
    let from = day(&q.from, false).unwrap_or_else(|()| {
        error = "תאריך ההתחלה אינו תאריך תקין.".into();
        0
    });
    let to = day(&q.to, true).unwrap_or_else(|()| {
        error = "תאריך הסיום אינו תאריך תקין.".into();
        0
    });
    let sort_col = if COLUMNS.iter().any(|(c, _, _)| *c == q.sort) {
        q.sort.clone()
    } else {
        "updated".into()
    };
    let dir = if q.dir == "asc" { "asc" } else { "desc" }.to_string();
    let text: String = q.q.trim().chars().take(100).collect();
    let page = q
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, 100_000);
    let search = Search {
        text: &text,
        status: &status,
        assignee: assignee_id,
        source: &source,
        from,
        to,
        sort: Sort::parse(&sort_col, &dir),
        limit: PER_PAGE,
        offset: (page - 1) * PER_PAGE,
    };
    let (found, total) = leads::search(db, b.business_id, &search).await?;
    // The filter without sort or page, and with them: what is saved, and what links keep.
    let filter: Vec<(&str, &str)> = vec![
        ("q", &text),
        ("status", &status),
        ("assignee", &assignee),
        ("source", &source),
        ("from", q.from.trim()),
        ("to", q.to.trim()),
    ];
    let encode = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let filter_qs = encode(&filter);
    let mut with_sort = filter.clone();
    with_sort.push(("sort", &sort_col));
    with_sort.push(("dir", &dir));
    let query = encode(&with_sort);
    let columns = COLUMNS
        .iter()
        .map(|(col, label, hide_sm)| {
            let current = *col == sort_col;
            let next_dir = if current && dir == "asc" {
                "desc"
            } else {
                "asc"
            };
            let sep = if filter_qs.is_empty() { "" } else { "&" };
            Column {
                label,
                href: format!("/app/biz/leads?{filter_qs}{sep}sort={col}&dir={next_dir}"),
                aria: match (current, dir.as_str()) {
                    (true, "asc") => "ascending",
                    (true, _) => "descending",
                    _ => "none",
                },
                arrow: match (current, dir.as_str()) {
                    (true, "asc") => "▲",
                    (true, _) => "▼",
                    _ => "",
                },
                hide_sm: *hide_sm,
            }
        })
        .collect();
    let name_of = |id: Option<i64>| {
        id.and_then(|id| team.iter().find(|u| u.id == id))
            .map(user_name)
            .unwrap_or_default()
    };
    let now = now_ms();
    let rows = found
        .iter()
        .map(|c| Row {
            c: view::lead(c, now),
            assignee: name_of(c.owner_user_id),
            follow_up: c
                .follow_up_at
                .map(|t| super::time::relative(t, now))
                .unwrap_or_default(),
        })
        .collect();
    let mut assignees = vec![
        Opt::new("me", "שלי", &assignee),
        Opt::new("none", "ללא אחראי/ת", &assignee),
    ];
    assignees.extend(
        team.iter()
            .filter(|u| u.id != me)
            .map(|u| Opt::new(&u.id.to_string(), &user_name(u), &assignee)),
    );
    let undo = match q.deleted.as_deref().and_then(|d| d.parse::<i64>().ok()) {
        Some(id) => lead_care::get_any(db, b.business_id, id)
            .await?
            .filter(|c| c.deleted_at.is_some())
            .map(|c| (c.id, view::lead(&c, now).name)),
        None => None,
    };
    let any_deleted = !lead_care::deleted(db, b.business_id, 1).await?.is_empty();
    let saved = saved_filters::list(db, b.business_id, me)
        .await?
        .into_iter()
        .map(|f| (f.name, f.query))
        .collect();
    let base = if query.is_empty() {
        "/app/biz/leads?".to_string()
    } else {
        format!("/app/biz/leads?{query}&")
    };
    Ok(ok(&LeadsPage {
        l: Layout::new("לידים", "leads", Some(b.v.nav.clone())),
        statuses: choices(STATUSES, &status),
        bulk_statuses: choices(STATUSES, ""),
        assignees,
        sources: choices(SOURCES, &source),
        from: q.from.trim().to_string(),
        to: q.to.trim().to_string(),
        sort: sort_col,
        dir,
        columns,
        q: text,
        rows,
        pager: Pager::new(&base, page, PER_PAGE, total),
        query,
        saved,
        error,
        undo,
        any_deleted,
    }))
}
