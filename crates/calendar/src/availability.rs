//! Free appointment slots, as a pure function of a business's setup and what is already
//! booked: services (duration, buffer after), staff with weekly hours bounded by the
//! business's hours, closures (closed dates, special hours), the business's choice to
//! close on Shabbat and the holidays, and busy intervals (appointments with their
//! buffers, busy times from outside calendars). Hours are wall-clock times in Israel;
//! each day's are turned into instants through the time-zone database, so the nights the
//! clocks change give a day of 23 or 25 hours rather than a shifted or repeated slot.

use jiff::civil::{Date, Time, Weekday};
use jiff::{SignedDuration, Timestamp};

use crate::holy::{Location, closed_periods};

/// A half-open span of time `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    pub fn new(start: Timestamp, end: Timestamp) -> Interval {
        Interval { start, end }
    }
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Wall-clock opening ranges `[from, to)` within one day; a range ending at `Time::MAX`
/// runs to midnight.
pub type DayHours = Vec<(Time, Time)>;

/// Opening hours for each day of the week, Sunday first (Israel's week).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WeeklyHours(pub [DayHours; 7]);

impl WeeklyHours {
    pub fn on(&self, day: Weekday) -> &DayHours {
        &self.0[usize::from(day.to_sunday_zero_offset() as u8)]
    }
    pub fn set(&mut self, day: Weekday, hours: DayHours) {
        self.0[usize::from(day.to_sunday_zero_offset() as u8)] = hours;
    }
}

/// A closure: whole dates closed, or one date with its own hours.
#[derive(Debug, Clone, PartialEq)]
pub enum Closure {
    Closed { first: Date, last: Date },
    SpecialHours { date: Date, hours: DayHours },
}

/// What is the business's own, shared by its staff.
#[derive(Debug, Clone, PartialEq)]
pub struct Business {
    pub hours: WeeklyHours,
    pub closures: Vec<Closure>,
    pub closed_on_holy_days: bool,
    pub location: Location,
    /// Slots are offered every this many minutes (a multiple of 5).
    pub slot_step_minutes: i64,
}

/// A service: how long it takes and how long the staff member needs after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Service {
    pub duration_minutes: i64,
    pub buffer_after_minutes: i64,
}

/// One staff member (or room, or chair) able to give the service, with what keeps them busy.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffCalendar {
    pub staff_id: i64,
    pub hours: WeeklyHours,
    pub busy: Vec<Interval>,
}

/// A free slot: the appointment would be `[start, end)` with `staff_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub staff_id: i64,
    pub start: Timestamp,
    pub end: Timestamp,
}

fn intersect(a: &DayHours, b: &DayHours) -> DayHours {
    let mut out = Vec::new();
    for &(a0, a1) in a {
        for &(b0, b1) in b {
            let (s, e) = (a0.max(b0), a1.min(b1));
            if s < e {
                out.push((s, e));
            }
        }
    }
    out.sort();
    out
}

/// The business's own hours on `date`: special hours, a closure, or the weekly hours.
fn business_hours(biz: &Business, date: Date) -> DayHours {
    for c in &biz.closures {
        match c {
            Closure::SpecialHours { date: d, hours } if *d == date => return hours.clone(),
            _ => {}
        }
    }
    let closed = biz
        .closures
        .iter()
        .any(|c| matches!(c, Closure::Closed { first, last } if *first <= date && date <= *last));
    if closed {
        Vec::new()
    } else {
        biz.hours.on(date.weekday()).clone()
    }
}

fn instant(date: Date, time: Time) -> Timestamp {
    // `Time::MAX` closes at the end of the day: the next midnight.
    if time == Time::MAX {
        return instant(date.tomorrow().expect("in range"), Time::midnight());
    }
    // A wall time inside the spring-forward gap maps to the instant after it; one in the
    // autumn repeated hour to its first occurrence (jiff's "compatible" choice).
    date.to_datetime(time)
        .to_zoned_datetime(crate::israel())
        .expect("in range")
        .timestamp()
}

/// Removes every `cut` from `spans` (both sorted or not), keeping what is left.
fn subtract(spans: Vec<Interval>, cuts: &[Interval]) -> Vec<Interval> {
    let mut out = spans;
    for cut in cuts {
        let mut next = Vec::with_capacity(out.len() + 1);
        for s in out {
            if !s.overlaps(cut) {
                next.push(s);
                continue;
            }
            if s.start < cut.start {
                next.push(Interval::new(s.start, cut.start));
            }
            if cut.end < s.end {
                next.push(Interval::new(cut.end, s.end));
            }
        }
        out = next;
    }
    out
}

/// The instants a staff member is open for work within `[from, to)`.
pub fn open_intervals(
    biz: &Business,
    staff_hours: &WeeklyHours,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Interval> {
    open_within(biz, staff_hours, from, to, &holy_intervals(biz, from, to))
}

/// When the business is closed for Shabbat and holidays around `[from, to)` (nothing when
/// it does not close for them).
fn holy_intervals(biz: &Business, from: Timestamp, to: Timestamp) -> Vec<Interval> {
    if !biz.closed_on_holy_days {
        return Vec::new();
    }
    let tz = crate::israel();
    let first = from.to_zoned_datetime(tz.clone()).date();
    let last = to.to_zoned_datetime(tz).date();
    closed_periods(&biz.location, first, last)
        .into_iter()
        .map(|p| Interval::new(p.start, p.end))
        .collect()
}

fn open_within(
    biz: &Business,
    staff_hours: &WeeklyHours,
    from: Timestamp,
    to: Timestamp,
    holy: &[Interval],
) -> Vec<Interval> {
    let tz = crate::israel();
    let first = from.to_zoned_datetime(tz.clone()).date();
    let last = to.to_zoned_datetime(tz).date();
    let mut spans = Vec::new();
    let mut day = first;
    while day <= last {
        for (s, e) in intersect(&business_hours(biz, day), staff_hours.on(day.weekday())) {
            let span = Interval::new(instant(day, s).max(from), instant(day, e).min(to));
            if span.start < span.end {
                spans.push(span);
            }
        }
        day = day.tomorrow().expect("in range");
    }
    let holy: Vec<Interval> = holy
        .iter()
        .filter(|h| h.start < to && from < h.end)
        .copied()
        .collect();
    subtract(spans, &holy)
}

/// Busy intervals sorted and merged, so their ends rise with their starts.
fn merged(busy: &[Interval]) -> Vec<Interval> {
    let mut v: Vec<Interval> = busy.iter().filter(|b| b.start < b.end).copied().collect();
    v.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(v.len());
    for b in v {
        match out.last_mut() {
            Some(last) if b.start <= last.end => last.end = last.end.max(b.end),
            _ => out.push(b),
        }
    }
    out
}

fn align_up(t: Timestamp, step_secs: i64) -> Timestamp {
    let s = t.as_second();
    Timestamp::from_second((s + step_secs - 1).div_euclid(step_secs) * step_secs).expect("in range")
}

/// Every free slot for `service` starting within `[from, to)`, earliest first (then by
/// staff). A slot needs the whole service inside the staff member's open time, and the
/// service plus its buffer clear of every busy interval. Starts fall on the business's
/// step, counted on the clock (so 09:00, 09:15, … on either side of a clock change).
pub fn free_slots(
    biz: &Business,
    service: &Service,
    staff: &[StaffCalendar],
    from: Timestamp,
    to: Timestamp,
) -> Vec<Slot> {
    let step = biz.slot_step_minutes.max(5) * 60;
    let duration = SignedDuration::from_mins(service.duration_minutes);
    let occupied =
        SignedDuration::from_mins(service.duration_minutes + service.buffer_after_minutes);
    let mut out = Vec::new();
    // The service may start before `to` and end after it; open time is looked up that far.
    let horizon = to + occupied;
    let holy = holy_intervals(biz, from, horizon);
    for cal in staff {
        let busy = merged(&cal.busy);
        // Candidates only move forward, so one pointer walks the busy list once.
        let mut next_busy = 0;
        for open in open_within(biz, &cal.hours, from, horizon, &holy) {
            // Israel's offsets are whole hours, so aligning on UTC seconds keeps the clock's
            // quarter hours.
            let mut start = align_up(open.start, step);
            while start < to && start + duration <= open.end {
                while next_busy < busy.len() && busy[next_busy].end <= start {
                    next_busy += 1;
                }
                match busy.get(next_busy) {
                    Some(b) if b.start < start + occupied => {
                        start = align_up(b.end.max(start + SignedDuration::from_secs(1)), step);
                    }
                    _ => {
                        out.push(Slot {
                            staff_id: cal.staff_id,
                            start,
                            end: start + duration,
                        });
                        start += SignedDuration::from_secs(step);
                    }
                }
            }
        }
    }
    out.sort_by_key(|s| (s.start, s.staff_id));
    out
}
