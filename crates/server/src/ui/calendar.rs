//! The calendar (#19, C5): `/app/biz/calendar`, a day or an Israeli week (Sunday to
//! Saturday) of a business's appointments, for all its staff or one, with its closed days
//! named (Shabbat, the holidays, its own closures) and its open hours.
//!
//! The page reads the store scoped to the viewer's business (C4). Booking, moving and
//! cancelling are the CRM API's (`/api/appointments…`): the page's forms post JSON to it
//! with the session's CSRF header, so a booking by hand goes through the same checks and
//! the same no-double-booking guarantee as one made on the phone, and a taken time answers
//! with the API's Hebrew message and the next free time.

use askama::Template;
use axum::extract::{Query, State};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;

use super::calendar_view::{self as cv, ApptView, DayMark};
use super::page::{Layout, PageResult, ok};
use super::viewer::BizViewer;
use crate::appointments::avail;
use crate::store::scheduling;
use crate::ui::state::WebState;

#[derive(Deserialize, Default)]
pub struct CalendarQuery {
    view: Option<String>,
    date: Option<String>,
    staff: Option<String>,
}

pub struct StaffChoice {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

pub struct ServiceChoice {
    pub id: i64,
    pub label: String,
}

/// One hour of a day view and what starts in it.
pub struct HourRow {
    pub label: String,
    pub hour: i64,
    pub appts: Vec<ApptView>,
}

/// One day of a week view.
pub struct DayCol {
    pub date: String,
    pub name: &'static str,
    /// `8.12`
    pub short: String,
    pub today: bool,
    pub mark: DayMark,
    pub appts: Vec<ApptView>,
}

#[derive(Template)]
#[template(path = "calendar.html")]
struct CalendarPage {
    l: Layout,
    week: bool,
    heading: String,
    date: String,
    /// `staff=ID&` or empty, for links that keep the staff member chosen.
    staff_q: String,
    staff: Vec<StaffChoice>,
    services: Vec<ServiceChoice>,
    prev: String,
    next: String,
    /// Today's link, when the page shows another day or week.
    today: Option<String>,
    mark: DayMark,
    hours: Vec<HourRow>,
    days: Vec<DayCol>,
    /// The booking form's default start (`2026-12-08T09:00`).
    book_start: String,
    count: usize,
}

fn today() -> Date {
    Timestamp::now()
        .to_zoned_datetime(calendar::israel())
        .date()
}

fn add(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap_or(d)
}

/// The date asked for, if it is a date this calendar covers (2000–2098).
fn asked_date(raw: Option<&str>) -> Option<Date> {
    raw.and_then(|s| s.trim().parse::<Date>().ok())
        .filter(|d| (2000..=2098).contains(&d.year()))
}

pub async fn page(
    State(state): State<WebState>,
    b: BizViewer,
    Query(q): Query<CalendarQuery>,
) -> PageResult {
    let week = q.view.as_deref() == Some("week");
    let now = today();
    let date = asked_date(q.date.as_deref()).unwrap_or(now);
    let first = if week {
        add(date, -i64::from(date.weekday().to_sunday_zero_offset()))
    } else {
        date
    };
    let last = if week { add(first, 6) } else { first };
    let (from, to) = (cv::day_start(first), cv::day_start(add(last, 1)));

    // The day's hours and closures; Google's busy times are the free-times list's, through
    // `/api/availability`, not the page's.
    let setup = avail::load(&state.db, None, b.business_id, from, to).await?;
    let staff_id = q
        .staff
        .as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|id| setup.staff.iter().any(|m| m.id == *id));
    let services = scheduling::list_services(&state.db, b.business_id).await?;
    let closures = scheduling::closures(
        &state.db,
        b.business_id,
        &first.to_string(),
        &last.to_string(),
    )
    .await?;
    let rows = crate::store::appointments::list(
        &state.db,
        b.business_id,
        from.as_millisecond(),
        to.as_millisecond(),
        staff_id,
    )
    .await?;
    let appts: Vec<ApptView> = rows
        .iter()
        .map(|a| {
            let service = services
                .iter()
                .find(|s| s.id == a.service_id)
                .map_or("שירות שנמחק", |s| s.name.as_str());
            let staff = setup
                .staff
                .iter()
                .find(|m| m.id == a.staff_id)
                .map_or("", |m| m.name.as_str());
            cv::appt(a, service, staff)
        })
        .collect();
    let hours = match staff_id {
        Some(id) => setup.staff_hours(id),
        None => avail::all_day(),
    };
    let count = appts.iter().filter(|a| !a.cancelled).count();

    let staff_q = staff_id
        .map(|id| format!("staff={id}&"))
        .unwrap_or_default();
    let view = if week { "week" } else { "day" };
    let step = if week { 7 } else { 1 };
    let link = |d: Date| format!("/app/biz/calendar?view={view}&{staff_q}date={d}");
    let in_view = now >= first && now <= last;
    let heading = if week {
        format!(
            "השבוע של {}–{}",
            cv::day_title(first, now),
            cv::day_title(last, now)
        )
    } else {
        cv::day_title(date, now)
    };
    let mut page = CalendarPage {
        l: Layout::new("יומן", "calendar", Some(b.v.nav.clone())),
        week,
        heading,
        date: date.to_string(),
        staff: setup
            .staff
            .iter()
            .map(|m| StaffChoice {
                id: m.id,
                name: m.name.clone(),
                selected: Some(m.id) == staff_id,
            })
            .collect(),
        services: services
            .iter()
            .map(|s| ServiceChoice {
                id: s.id,
                label: format!("{} ({} דק׳)", s.name, s.duration_minutes),
            })
            .collect(),
        prev: link(add(date, -step)),
        next: link(add(date, step)),
        today: (!in_view).then(|| link(now)),
        mark: DayMark::default(),
        hours: Vec::new(),
        days: Vec::new(),
        book_start: format!("{}T09:00", if date < now { now } else { date }),
        count,
        staff_q,
    };
    if week {
        page.days = (0..7)
            .map(|i| {
                let d = add(first, i);
                let key = d.to_string();
                DayCol {
                    date: key.clone(),
                    name: cv::weekday_name(d),
                    short: format!("{}.{}", d.day(), d.month()),
                    today: d == now,
                    mark: cv::mark(&setup.business, &hours, &closures, d),
                    appts: appts.iter().filter(|a| a.date == key).cloned().collect(),
                }
            })
            .collect();
    } else {
        page.mark = cv::mark(&setup.business, &hours, &closures, date);
        // One staff member's hours, or those of everyone on the page.
        let calendars: Vec<_> = match staff_id {
            Some(id) => vec![setup.staff_hours(id)],
            None => setup
                .staff
                .iter()
                .map(|m| setup.staff_hours(m.id))
                .collect(),
        };
        let (lo, hi) = cv::hour_range(&setup.business, &calendars, date, &appts);
        page.hours = (lo..=hi)
            .map(|h| HourRow {
                label: format!("{h:02}:00"),
                hour: h,
                appts: appts.iter().filter(|a| a.hour == h).cloned().collect(),
            })
            .collect();
    }
    Ok(ok(&page))
}
