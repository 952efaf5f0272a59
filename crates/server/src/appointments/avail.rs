//! From the database to [`calendar::availability`]: a business's setup (settings, its own
//! and its staff's weekly hours, closures, which staff give which service) and its booked
//! time, turned into the pure calculation's inputs; and the answers back, as
//! `GET /api/availability`.

use calendar::availability::{
    Business, Closure, DayHours, Interval, Service as SlotService, Slot, StaffCalendar,
    WeeklyHours, free_slots, open_intervals,
};
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::booking::{range, service_of, staff_exists};
use super::gcal::Google;
use super::time::{civil_time, show_ts};
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::error::ApiResult;
use crate::store::Db;
use crate::store::appointments as booked;
use crate::store::scheduling::{self as setup, HoursRow, Service, Staff};

const WEEK: [Weekday; 7] = [
    Weekday::Sunday,
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
];

/// Everything availability needs of one business, for dates `first..=last`.
pub struct Setup {
    pub business: Business,
    pub staff: Vec<Staff>,
    pub links: Vec<(i64, i64)>,
    pub hours: Vec<HoursRow>,
    /// Busy time of staff members' Google Calendars: `(staff_id, interval)`.
    pub external: Vec<(i64, Interval)>,
    /// Whether Google answered: `None` when no staff member has a calendar connected
    /// (or no credentials are configured), `Some(false)` when it was down or slow.
    pub google_ok: Option<bool>,
}

fn weekly(rows: &[HoursRow], staff_id: Option<i64>) -> WeeklyHours {
    let mut w = WeeklyHours::default();
    for (i, day) in WEEK.iter().enumerate() {
        let ranges: DayHours = rows
            .iter()
            .filter(|h| h.staff_id == staff_id && h.weekday == i as i64)
            .map(|h| (civil_time(h.start_minute), civil_time(h.end_minute)))
            .collect();
        w.set(*day, ranges);
    }
    w
}

/// Open all day, every day: a business that set no hours of its own.
pub fn all_day() -> WeeklyHours {
    let mut w = WeeklyHours::default();
    for day in WEEK {
        w.set(day, vec![(civil_time(0), civil_time(1440))]);
    }
    w
}

fn date_of(t: Timestamp) -> Date {
    t.to_zoned_datetime(calendar::israel()).date()
}

pub async fn load(
    db: &Db,
    google: Option<&Google>,
    business_id: i64,
    from: Timestamp,
    to: Timestamp,
) -> Result<Setup, sqlx::Error> {
    let settings = setup::settings(db, business_id).await?;
    let hours = setup::hours(db, business_id).await?;
    let (first, last) = (date_of(from), date_of(to));
    let mut closures = Vec::new();
    for c in setup::closures(db, business_id, &first.to_string(), &last.to_string()).await? {
        let (Ok(a), Ok(b)) = (c.first_date.parse::<Date>(), c.last_date.parse::<Date>()) else {
            continue;
        };
        match (c.start_minute, c.end_minute) {
            (Some(s), Some(e)) => {
                let mut d = a;
                while d <= b {
                    closures.push(Closure::SpecialHours {
                        date: d,
                        hours: vec![(civil_time(s), civil_time(e))],
                    });
                    d = d.tomorrow().expect("in range");
                }
            }
            _ => closures.push(Closure::Closed { first: a, last: b }),
        }
    }
    let own = hours.iter().any(|h| h.staff_id.is_none());
    let business = Business {
        hours: if own { weekly(&hours, None) } else { all_day() },
        closures,
        closed_on_holy_days: settings.closed_on_holy_days != 0,
        location: calendar::Location::from_key(&settings.location),
        slot_step_minutes: settings.slot_step_minutes,
    };
    let staff = setup::list_staff(db, business_id).await?;
    let (external, google_ok) = external_busy(google, &staff, from, to).await;
    Ok(Setup {
        business,
        staff,
        links: setup::staff_services(db, business_id).await?,
        hours,
        external,
        google_ok,
    })
}

/// How far past the end of a range a booking starting in it can reach (the longest
/// service and buffer).
const REACH: jiff::SignedDuration = jiff::SignedDuration::from_hours(17);

/// The Google busy time of the staff with a calendar, for `[from, to + REACH)`.
async fn external_busy(
    google: Option<&Google>,
    staff: &[Staff],
    from: Timestamp,
    to: Timestamp,
) -> (Vec<(i64, Interval)>, Option<bool>) {
    let mut ids: Vec<&str> = staff
        .iter()
        .filter_map(|s| s.google_calendar_id.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let Some(google) = google.filter(|_| !ids.is_empty()) else {
        return (Vec::new(), None);
    };
    let Some(busy) = google.busy(&ids, from, to + REACH).await else {
        return (Vec::new(), Some(false));
    };
    let mut out = Vec::new();
    for (cal, start, end) in busy {
        for s in staff
            .iter()
            .filter(|s| s.google_calendar_id.as_deref() == Some(cal.as_str()))
        {
            out.push((s.id, Interval::new(start, end)));
        }
    }
    (out, Some(true))
}

impl Setup {
    /// The staff who give `service_id` (only `only`, when named), in id order.
    pub fn givers(&self, service_id: i64, only: Option<i64>) -> Vec<&Staff> {
        self.staff
            .iter()
            .filter(|s| self.links.contains(&(s.id, service_id)))
            .filter(|s| only.is_none_or(|o| o == s.id))
            .collect()
    }

    pub fn staff_hours(&self, staff_id: i64) -> WeeklyHours {
        weekly(&self.hours, Some(staff_id))
    }

    /// Whether `staff_id`'s Google Calendar is busy at any moment of `[start, end)`.
    pub fn google_busy(&self, staff_id: i64, start: Timestamp, end: Timestamp) -> bool {
        self.external
            .iter()
            .any(|(s, i)| *s == staff_id && i.start < end && start < i.end)
    }

    /// Whether `staff_id` is open for the whole of `[start, end)`.
    pub fn is_open(&self, staff_id: i64, start: Timestamp, end: Timestamp) -> bool {
        open_intervals(&self.business, &self.staff_hours(staff_id), start, end)
            .iter()
            .any(|i| i.start == start && i.end == end)
    }
}

pub fn slot_service(s: &Service) -> SlotService {
    SlotService {
        duration_minutes: s.duration_minutes,
        buffer_after_minutes: s.buffer_after_minutes,
    }
}

/// Free slots for `service` with `staff` starting in `[from, to)`, around what is booked.
pub async fn free(
    db: &Db,
    business_id: i64,
    setup: &Setup,
    service: &Service,
    staff: &[&Staff],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Slot>, sqlx::Error> {
    let reach =
        jiff::SignedDuration::from_mins(service.duration_minutes + service.buffer_after_minutes);
    let busy = booked::busy(
        db,
        business_id,
        from.as_millisecond(),
        (to + reach).as_millisecond(),
    )
    .await?;
    let calendars: Vec<StaffCalendar> = staff
        .iter()
        .map(|s| StaffCalendar {
            staff_id: s.id,
            hours: setup.staff_hours(s.id),
            busy: busy
                .iter()
                .filter(|b| b.0 == s.id)
                .filter_map(|b| {
                    Some(Interval::new(
                        Timestamp::from_millisecond(b.1).ok()?,
                        Timestamp::from_millisecond(b.2).ok()?,
                    ))
                })
                .chain(setup.external.iter().filter(|e| e.0 == s.id).map(|e| e.1))
                .collect(),
        })
        .collect();
    Ok(free_slots(
        &setup.business,
        &slot_service(service),
        &calendars,
        from,
        to,
    ))
}

#[derive(Debug, Deserialize)]
pub struct AvailParams {
    pub service: Option<i64>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub staff_id: Option<i64>,
}

pub async fn availability(
    State(s): State<CrmState>,
    t: Tenant,
    Query(p): Query<AvailParams>,
) -> ApiResult<Json<Value>> {
    let (from, to) = range(p.from.as_deref(), p.to.as_deref(), 7)?;
    let service = match p.service {
        Some(id) => Some(service_of(&s, t.business_id, id).await?),
        None => setup::list_services(&s.db, t.business_id)
            .await?
            .into_iter()
            .next(),
    };
    let Some(service) = service else {
        return Ok(Json(json!({ "service": null, "slots": [] })));
    };
    staff_exists(&s, t.business_id, p.staff_id).await?;
    let from = from.max(Timestamp::now());
    let setup = load(&s.db, s.google.as_ref(), t.business_id, from, to).await?;
    let givers = setup.givers(service.id, p.staff_id);
    let slots = if from < to {
        free(&s.db, t.business_id, &setup, &service, &givers, from, to).await?
    } else {
        Vec::new()
    };
    let name_of = |id: i64| {
        setup
            .staff
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.name.clone())
    };
    let slots: Vec<Value> = slots
        .iter()
        .take(2000)
        .map(|x| {
            json!({ "start": show_ts(x.start), "end": show_ts(x.end), "staff_id": x.staff_id,
                         "staff_name": name_of(x.staff_id) })
        })
        .collect();
    Ok(Json(json!({
        "service": { "id": service.id, "name": service.name, "duration_minutes": service.duration_minutes },
        "slots": slots,
        "google_calendar": match setup.google_ok {
            None => Value::Null,
            Some(true) => json!("ok"),
            Some(false) => json!("unavailable"),
        },
    })))
}
