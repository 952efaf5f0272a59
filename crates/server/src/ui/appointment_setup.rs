//! "הגדרות תורים" (#19, C5): `/app/biz/settings/appointments`, where a business's owner sets
//! up its appointments: services (length, break after, price), staff (the services each
//! gives, weekly hours, Google Calendar, the secret ICS link), closures, and the booking
//! settings (Shabbat and holidays, location for candle-lighting, slot step, the day-before
//! reminder, WhatsApp templates). Owners only: an agent gets the app's "no permission" page.
//!
//! The page reads the store scoped to the viewer's business (C4); every write is the CRM
//! API's (`/api/services`, `/api/staff`, `/api/closures`,
//! `/api/businesses/{id}/appointment-settings`), posted as JSON by the page's script, so the
//! same checks apply and the API's Hebrew refusals are what the owner reads. Prices are
//! shown and typed in shekels; the script sends agorot.

use askama::Template;
use axum::extract::State;
use jiff::civil::Date;

use super::page::{Layout, PageResult, ok};
use super::viewer::OwnerViewer;
use crate::appointments::time::show_hhmm;
use crate::store::scheduling::{self as store, HoursRow};
use crate::ui::state::WebState;

/// Sunday = 0, as the API counts.
const DAYS: [&str; 7] = ["ראשון", "שני", "שלישי", "רביעי", "חמישי", "שישי", "שבת"];
const SHORT: [&str; 7] = ["א׳", "ב׳", "ג׳", "ד׳", "ה׳", "ו׳", "ש׳"];
const STEPS: [i64; 6] = [5, 10, 15, 20, 30, 60];
/// How far ahead the closures list looks (the API's longest list).
const CLOSURES_AHEAD: i64 = 365;

/// One row of a weekly-hours editor: a day and one range (empty: not working).
pub struct DayRow {
    pub day: usize,
    pub name: &'static str,
    pub from: String,
    pub to: String,
}

pub struct ServiceView {
    pub id: i64,
    pub name: String,
    pub duration: i64,
    pub buffer: i64,
    /// In shekels (`120`, `99.50`), empty when no price is set.
    pub price: String,
}

pub struct ServiceCheck {
    pub id: i64,
    pub name: String,
    pub checked: bool,
}

pub struct StaffView {
    pub id: i64,
    pub name: String,
    pub calendar: String,
    /// What they give, for the list.
    pub gives: String,
    /// Their week, for the list: each range with its day's letter (`א׳`, `09:00–17:00`);
    /// empty when they have no hours.
    pub week: Vec<(&'static str, String)>,
    pub services: Vec<ServiceCheck>,
    pub days: Vec<DayRow>,
}

pub struct ClosureView {
    pub id: i64,
    pub dates: String,
    /// `10:00–13:00`, or empty when closed all day.
    pub hours: String,
    pub note: String,
}

#[derive(Template)]
#[template(path = "appointment_setup.html")]
struct SetupPage {
    l: Layout,
    business_id: i64,
    services: Vec<ServiceView>,
    staff: Vec<StaffView>,
    /// The new staff member's form: every service, none ticked; an empty week.
    new_services: Vec<ServiceCheck>,
    new_days: Vec<DayRow>,
    closures: Vec<ClosureView>,
    today: String,
    location: String,
    holy_days: bool,
    step: i64,
    steps: [i64; 6],
    business_days: Vec<DayRow>,
    reminder_time: String,
    reminders: bool,
    confirm_template: String,
    reminder_template: String,
    cancel_template: String,
}

/// Agorot as shekels for a price field: `12000` → `120`, `9950` → `99.50`.
pub fn shekels(agorot: i64) -> String {
    if agorot % 100 == 0 {
        (agorot / 100).to_string()
    } else {
        format!("{}.{:02}", agorot / 100, agorot % 100)
    }
}

/// The rows of a weekly-hours editor: each range on its own row, and an empty row for a
/// day with none, so saving keeps every range the week has.
fn week_rows(hours: &[HoursRow], staff_id: Option<i64>) -> Vec<DayRow> {
    let mut rows = Vec::new();
    for (day, &name) in DAYS.iter().enumerate() {
        let mut any = false;
        for h in hours
            .iter()
            .filter(|h| h.staff_id == staff_id && h.weekday == day as i64)
        {
            any = true;
            rows.push(DayRow {
                day,
                name,
                from: show_hhmm(h.start_minute),
                to: show_hhmm(h.end_minute),
            });
        }
        if !any {
            rows.push(DayRow {
                day,
                name,
                from: String::new(),
                to: String::new(),
            });
        }
    }
    rows
}

fn week_text(rows: &[DayRow]) -> Vec<(&'static str, String)> {
    rows.iter()
        .filter(|r| !r.from.is_empty())
        .map(|r| (SHORT[r.day], format!("{}–{}", r.from, r.to)))
        .collect()
}

/// `2026-12-08` → `8.12.2026`.
fn show_date(iso: &str) -> String {
    iso.parse::<Date>().map_or_else(
        |_| iso.to_string(),
        |d| format!("{}.{}.{}", d.day(), d.month(), d.year()),
    )
}

pub async fn page(State(state): State<WebState>, o: OwnerViewer) -> PageResult {
    let b = &o.0;
    let business_id = b.business_id;
    let services = store::list_services(&state.db, business_id).await?;
    let members = store::list_staff(&state.db, business_id).await?;
    let links = store::staff_services(&state.db, business_id).await?;
    let hours = store::hours(&state.db, business_id).await?;
    let st = store::settings(&state.db, business_id).await?;
    let today = jiff::Timestamp::now()
        .to_zoned_datetime(calendar::israel())
        .date();
    let until = today
        .checked_add(jiff::Span::new().days(CLOSURES_AHEAD))
        .unwrap_or(today);
    let closures = store::closures(
        &state.db,
        business_id,
        &today.to_string(),
        &until.to_string(),
    )
    .await?;

    let checks = |staff_id: Option<i64>| -> Vec<ServiceCheck> {
        services
            .iter()
            .map(|s| ServiceCheck {
                id: s.id,
                name: s.name.clone(),
                checked: staff_id.is_some_and(|m| links.contains(&(m, s.id))),
            })
            .collect()
    };
    let staff = members
        .iter()
        .map(|m| {
            let days = week_rows(&hours, Some(m.id));
            let services = checks(Some(m.id));
            let gives: Vec<&str> = services
                .iter()
                .filter(|c| c.checked)
                .map(|c| c.name.as_str())
                .collect();
            StaffView {
                id: m.id,
                name: m.name.clone(),
                calendar: m.google_calendar_id.clone().unwrap_or_default(),
                gives: if gives.is_empty() {
                    "לא נבחרו שירותים".to_string()
                } else {
                    gives.join(", ")
                },
                week: week_text(&days),
                services,
                days,
            }
        })
        .collect();

    Ok(ok(&SetupPage {
        l: Layout::new("הגדרות תורים", "settings", Some(b.v.nav.clone())),
        business_id,
        services: services
            .iter()
            .map(|s| ServiceView {
                id: s.id,
                name: s.name.clone(),
                duration: s.duration_minutes,
                buffer: s.buffer_after_minutes,
                price: s.price_agorot.map(shekels).unwrap_or_default(),
            })
            .collect(),
        staff,
        new_services: checks(None),
        new_days: week_rows(&[], None),
        closures: closures
            .into_iter()
            .map(|c| ClosureView {
                id: c.id,
                dates: if c.first_date == c.last_date {
                    show_date(&c.first_date)
                } else {
                    format!("{}–{}", show_date(&c.first_date), show_date(&c.last_date))
                },
                hours: match (c.start_minute, c.end_minute) {
                    (Some(f), Some(t)) => format!("{}–{}", show_hhmm(f), show_hhmm(t)),
                    _ => String::new(),
                },
                note: c.note,
            })
            .collect(),
        today: today.to_string(),
        location: st.location,
        holy_days: st.closed_on_holy_days != 0,
        step: st.slot_step_minutes,
        steps: STEPS,
        business_days: week_rows(&hours, None),
        reminder_time: show_hhmm(st.reminder_minute),
        reminders: st.reminders_on != 0,
        confirm_template: st.confirm_template.unwrap_or_default(),
        reminder_template: st.reminder_template.unwrap_or_default(),
        cancel_template: st.cancel_template.unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_in_shekels() {
        assert_eq!(shekels(12000), "120");
        assert_eq!(shekels(9950), "99.50");
        assert_eq!(shekels(5), "0.05");
        assert_eq!(shekels(0), "0");
    }

    #[test]
    fn a_week_keeps_every_range_and_shows_empty_days() {
        let hours = [
            HoursRow {
                staff_id: Some(1),
                weekday: 0,
                start_minute: 540,
                end_minute: 720,
            },
            HoursRow {
                staff_id: Some(1),
                weekday: 0,
                start_minute: 780,
                end_minute: 1020,
            },
            HoursRow {
                staff_id: Some(2),
                weekday: 1,
                start_minute: 540,
                end_minute: 1020,
            },
        ];
        let rows = week_rows(&hours, Some(1));
        assert_eq!(rows.len(), 8, "two ranges on Sunday, six empty days");
        assert_eq!(
            (rows[1].from.as_str(), rows[1].to.as_str()),
            ("13:00", "17:00")
        );
        assert!(rows[2].from.is_empty() && rows[2].name == "שני");
        assert_eq!(
            week_text(&rows),
            [("א׳", "09:00–12:00".into()), ("א׳", "13:00–17:00".into())]
        );
        assert_eq!(show_date("2026-12-08"), "8.12.2026");
    }
}
