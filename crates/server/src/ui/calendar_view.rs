//! The calendar page's pieces (#19, C5): appointments as a person reads them in a slot
//! (the hour and the day in Israel's time, the service, who gives it, the customer with a
//! number to tap), and each day's mark: closed for Shabbat, a holiday or the business's
//! own closure, or its open hours. Kept apart from the handler so the arithmetic of days
//! (Israel's midnights, the 23- and 25-hour days of the clock changes) is in one place.
//! Names and notes come from callers or the business and are printed through askama,
//! which escapes them.

use calendar::availability::{Business, WeeklyHours, open_intervals};
use calendar::hebrew::holiday_on;
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

use super::time;
use super::view;
use crate::store::appointments::Appointment;
use crate::store::scheduling::Closure;

/// One appointment in its slot.
#[derive(Clone)]
pub struct ApptView {
    pub id: i64,
    /// The Israeli date it starts on (`2026-12-08`), to place it in a week's day.
    pub date: String,
    /// Its local hour (0–23), to place it in a day's hour.
    pub hour: i64,
    /// `09:30–10:00`.
    pub span: String,
    pub start_iso: String,
    /// Its start as a `datetime-local` value, for the move form.
    pub start_local: String,
    pub service: String,
    pub staff: String,
    pub name: String,
    pub phone: String,
    pub tel: String,
    pub cancelled: bool,
    pub by: &'static str,
}

fn by(source: &str) -> &'static str {
    match source {
        "phone" => "נקבע בשיחה",
        "whatsapp" => "נקבע בוואטסאפ",
        _ => "נקבע בידי הצוות",
    }
}

pub fn appt(a: &Appointment, service: &str, staff: &str) -> ApptView {
    let at = time::local(a.starts_at);
    let phone = a.customer_phone.clone().unwrap_or_default();
    ApptView {
        id: a.id,
        date: format!("{:04}-{:02}-{:02}", at.year, at.month, at.day),
        hour: at.hour,
        span: format!("{}–{}", time::clock(a.starts_at), time::clock(a.ends_at)),
        start_iso: time::iso(a.starts_at),
        start_local: format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            at.year, at.month, at.day, at.hour, at.minute
        ),
        service: service.to_string(),
        staff: staff.to_string(),
        name: a
            .customer_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "ללא שם".into()),
        phone: if phone.is_empty() {
            String::new()
        } else {
            view::phone(&phone)
        },
        tel: phone,
        cancelled: a.status == "cancelled",
        by: by(&a.source),
    }
}

/// What a day is for the business: closed (and why) or open (and when).
#[derive(Default)]
pub struct DayMark {
    pub closed: bool,
    /// "שבת", "ראש השנה א׳", the closure's note, or "סגור".
    pub label: String,
    /// Its open hours (`08:00–13:00`, `14:00–20:00`); none when open all day.
    pub hours: Vec<String>,
}

/// Israel's midnight starting `d`.
pub fn day_start(d: Date) -> Timestamp {
    d.to_zoned_datetime(calendar::israel())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The mark of `d` for a business and a staff member's (or all-day) weekly hours.
pub fn mark(biz: &Business, hours: &WeeklyHours, closures: &[Closure], d: Date) -> DayMark {
    let next = d.tomorrow().unwrap_or(d);
    let (from, to) = (day_start(d), day_start(next));
    let open = open_intervals(biz, hours, from, to);
    let holy = (biz.closed_on_holy_days && d.weekday() == Weekday::Saturday)
        .then_some("שבת")
        .or_else(|| holiday_on(d).map(|h| h.hebrew_name()));
    let iso = d.to_string();
    let closure = closures
        .iter()
        .find(|c| c.start_minute.is_none() && c.first_date <= iso && iso <= c.last_date);
    if open.is_empty() {
        let label = match (holy, closure) {
            (Some(h), _) if biz.closed_on_holy_days => h.to_string(),
            (_, Some(c)) if !c.note.trim().is_empty() => format!("סגור: {}", c.note.trim()),
            _ => "סגור".to_string(),
        };
        return DayMark {
            closed: true,
            label,
            hours: Vec::new(),
        };
    }
    let whole = open.len() == 1 && open[0].start == from && open[0].end == to;
    let hours = open_hours(&open, to, whole);
    // A day of rest the business keeps is closed, though it may open after nightfall.
    if let Some(h) = holy
        && biz.closed_on_holy_days
        && calendar::holy::is_day_of_rest(d)
    {
        return DayMark {
            closed: true,
            label: h.to_string(),
            hours,
        };
    }
    DayMark {
        closed: false,
        // A holiday the business stays open on is still worth seeing.
        label: holiday_on(d)
            .map(|h| h.hebrew_name().to_string())
            .unwrap_or_default(),
        hours,
    }
}

/// `08:00–13:00`, `14:00–20:00`; none when open the whole day.
fn open_hours(
    open: &[calendar::availability::Interval],
    to: Timestamp,
    whole: bool,
) -> Vec<String> {
    if whole {
        return Vec::new();
    }
    open.iter()
        .map(|i| {
            let end = if i.end == to {
                "24:00".to_string()
            } else {
                time::clock(i.end.as_millisecond())
            };
            format!("{}–{end}", time::clock(i.start.as_millisecond()))
        })
        .collect()
}

/// The local hours `[first, last]` a day view lists: the open hours of any of `calendars`
/// (each staff member's weekly hours) and the day's appointments, or 08:00–19:00 when
/// the day has no hours of its own.
pub fn hour_range(
    biz: &Business,
    calendars: &[WeeklyHours],
    d: Date,
    appts: &[ApptView],
) -> (i64, i64) {
    let next = d.tomorrow().unwrap_or(d);
    let (from, to) = (day_start(d), day_start(next));
    let mut first = i64::MAX;
    let mut last = i64::MIN;
    for hours in calendars {
        let open = open_intervals(biz, hours, from, to);
        let whole = open.len() == 1 && open[0].start == from && open[0].end == to;
        if whole {
            continue;
        }
        for i in &open {
            first = first.min(time::local(i.start.as_millisecond()).hour);
            // An interval ending on the hour does not take that hour.
            let end_hour = if i.end >= to {
                23
            } else {
                time::local(i.end.as_millisecond() - 1).hour
            };
            last = last.max(end_hour);
        }
    }
    if first > last {
        (first, last) = (8, 19);
    }
    for a in appts {
        first = first.min(a.hour);
        last = last.max(a.hour);
    }
    (first, last)
}

/// "יום שלישי 8 בדצמבר" with the year when it is not this year's.
pub fn day_title(d: Date, today: Date) -> String {
    let said = crate::appointments::spoken::day(d);
    if d.year() == today.year() {
        said
    } else {
        format!("{said} {}", d.year())
    }
}

/// The short name of a weekday, Sunday first.
pub fn weekday_name(d: Date) -> &'static str {
    match d.weekday() {
        Weekday::Sunday => "ראשון",
        Weekday::Monday => "שני",
        Weekday::Tuesday => "שלישי",
        Weekday::Wednesday => "רביעי",
        Weekday::Thursday => "חמישי",
        Weekday::Friday => "שישי",
        Weekday::Saturday => "שבת",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calendar::Location;

    fn biz(closed: bool) -> Business {
        Business {
            hours: crate::appointments::avail::all_day(),
            closures: Vec::new(),
            closed_on_holy_days: closed,
            location: Location::TEL_AVIV,
            slot_step_minutes: 15,
        }
    }

    #[test]
    fn shabbat_and_holidays_are_named() {
        let all = crate::appointments::avail::all_day();
        // Saturday 12 September 2026 is Rosh Hashana's first day and Shabbat.
        let rh = Date::constant(2026, 9, 12);
        let m = mark(&biz(true), &all, &[], rh);
        assert!(m.closed);
        assert_eq!(m.label, "שבת");
        let m = mark(&biz(true), &all, &[], Date::constant(2026, 9, 13));
        assert!(m.closed);
        assert_eq!(m.label, "ראש השנה ב׳");
        // Friday: open until candle-lighting.
        let m = mark(&biz(true), &all, &[], Date::constant(2026, 9, 11));
        assert!(!m.closed);
        assert!(m.hours[0].starts_with("00:00–18:"), "{:?}", m.hours);
        // A business open on holidays still sees the holiday's name.
        let m = mark(&biz(false), &all, &[], Date::constant(2026, 9, 21));
        assert!(!m.closed);
        assert_eq!(m.label, "יום כיפור");
        assert!(m.hours.is_empty());
    }

    #[test]
    fn a_closure_says_its_note() {
        let all = crate::appointments::avail::all_day();
        let mut b = biz(false);
        b.closures.push(calendar::availability::Closure::Closed {
            first: Date::constant(2026, 12, 20),
            last: Date::constant(2026, 12, 21),
        });
        let c = Closure {
            id: 1,
            first_date: "2026-12-20".into(),
            last_date: "2026-12-21".into(),
            start_minute: None,
            end_minute: None,
            note: "שיפוצים".into(),
        };
        let m = mark(&b, &all, &[c], Date::constant(2026, 12, 21));
        assert!(m.closed);
        assert_eq!(m.label, "סגור: שיפוצים");
    }

    #[test]
    fn day_starts_follow_the_clock_changes() {
        // 25 October 2026 starts in daylight time (21:00 UTC) and lasts 25 hours.
        let sunday = Date::constant(2026, 10, 25);
        let a = day_start(sunday).as_second();
        let b = day_start(sunday.tomorrow().unwrap()).as_second();
        assert_eq!(b - a, 25 * 3600);
    }
}
