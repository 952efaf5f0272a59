//! `/app` and the business dashboard: today's calls, new leads, unanswered WhatsApp
//! threads, calls that fell back to recording, and calls per day for the last 30 days.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::data::{calls, leads, whatsapp};
use super::page::{Layout, PageResult, ok};
use super::time;
use super::view::{self, CallView, LeadView};
use super::viewer::{BizViewer, Viewer};
use crate::store::now_ms;
use crate::ui::state::WebState;

/// `/app`: the viewer's own area.
pub async fn home(v: Viewer) -> Response {
    if v.nav.operator {
        Redirect::to("/app/admin").into_response()
    } else {
        Redirect::to("/app/biz").into_response()
    }
}

/// One bar of the calls-per-day chart (SVG coordinates).
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub h: i64,
    pub count: usize,
    pub label: String,
}

pub struct Chart {
    pub bars: Vec<Bar>,
    pub max: usize,
    pub total: usize,
    pub first: String,
    pub last: String,
}

pub const CHART_DAYS: i64 = 30;
const CHART_H: i64 = 100;

/// Buckets call start times into the last `CHART_DAYS` local days, oldest first.
pub fn chart(times: &[i64], now: i64) -> Chart {
    let today = time::local(now).day_number;
    let first_day = today - (CHART_DAYS - 1);
    let mut counts = vec![0usize; CHART_DAYS as usize];
    for t in times {
        let d = time::local(*t).day_number - first_day;
        if (0..CHART_DAYS).contains(&d) {
            counts[d as usize] += 1;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let h = if max == 0 {
                0
            } else {
                ((count as i64 * (CHART_H - 4)) / max as i64).max(if count > 0 { 2 } else { 0 })
            };
            let start = time::day_start_utc(first_day + i as i64);
            Bar {
                x: i as i64 * 10,
                y: CHART_H - h,
                h,
                count,
                label: format!("{}: {count} שיחות", time::date(start + 3_600_000 * 3)),
            }
        })
        .collect();
    Chart {
        bars,
        max,
        total: counts.iter().sum(),
        first: time::date(time::day_start_utc(first_day) + 3_600_000 * 3),
        last: time::date(now),
    }
}

pub struct ThreadView {
    pub customer_id: i64,
    pub who: String,
    pub body: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    l: Layout,
    today: Vec<CallView>,
    today_count: usize,
    new_leads: Vec<LeadView>,
    new_count: i64,
    whatsapp: Option<Vec<ThreadView>>,
    fallbacks: Vec<CallView>,
    chart: Chart,
    setup: Option<super::setup::Checklist>,
}

pub async fn dashboard(State(state): State<WebState>, b: BizViewer) -> PageResult {
    let db = &state.db;
    let bid = b.business_id;
    let now = now_ms();
    let today_start = time::day_start_utc(time::local(now).day_number);
    let today = calls::since(db, bid, today_start, 500).await?;
    let (new_leads, new_count) = leads::newest(db, bid, 8).await?;
    let whatsapp = if state.ui.tables.whatsapp(db).await {
        Some(
            whatsapp::threads(db, bid, true, 10)
                .await?
                .into_iter()
                .map(|t| ThreadView {
                    customer_id: t.customer_id,
                    who: t
                        .name
                        .filter(|n| !n.trim().is_empty())
                        .or(t.phone.as_deref().map(view::phone))
                        .unwrap_or_default(),
                    body: view::excerpt(t.body.as_deref().unwrap_or(""), 80),
                    when: time::relative(t.created_at, now),
                })
                .collect(),
        )
    } else {
        None
    };
    let fallbacks = calls::fallbacks(db, bid, 8).await?;
    let times = calls::times_since(db, bid, now - (CHART_DAYS + 1) * 86_400_000).await?;
    Ok(ok(&Dashboard {
        l: Layout::new("לוח בקרה", "dashboard", Some(b.v.nav.clone())),
        today_count: today.len(),
        today: calls::views(db, bid, &today[..today.len().min(20)], now).await?,
        new_leads: new_leads.iter().map(|c| view::lead(c, now)).collect(),
        new_count,
        whatsapp,
        fallbacks: calls::views(db, bid, &fallbacks, now).await?,
        chart: chart(&times, now),
        setup: super::setup::checklist(&state, bid).await?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_buckets_by_local_day() {
        let now = time::days_from_civil(2026, 11, 21) * 86_400_000 + 10 * 3_600_000;
        // 23:30 UTC on the 20th is 01:30 on the 21st in Israel: today.
        let late = time::days_from_civil(2026, 11, 20) * 86_400_000 + 23 * 3_600_000 + 1_800_000;
        let old = now - 40 * 86_400_000;
        let c = chart(&[now, late, now - 86_400_000, old], now);
        assert_eq!(c.bars.len(), 30);
        assert_eq!(c.bars[29].count, 2);
        assert_eq!(c.bars[28].count, 1);
        assert_eq!(c.total, 3);
        assert_eq!(c.max, 2);
        assert_eq!(c.bars[29].h, 96);
        assert_eq!(c.last, "21.11.2026");
    }
}
