//! When a business that keeps Shabbat and the holidays is closed: from candle-lighting on
//! the eve (sunset minus 18 minutes, 40 in Jerusalem) to nightfall after the last day of
//! rest (tzeit: the sun 8.5° below the horizon, "three stars", rather than a fixed
//! sunset + 42 minutes, so the end follows the season as a printed luach does). Days of
//! rest that follow one another (a holiday on Friday, Rosh Hashana's two days, a holiday
//! on Sunday) make one closed stretch.

use jiff::{SignedDuration, Timestamp, civil::Date};

use crate::{hebrew, sun};

/// Where a business is: its coordinates and its custom of candle-lighting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub key: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    /// Minutes before sunset at which Shabbat and holidays begin.
    pub candle_minutes: i64,
}

impl Location {
    pub const TEL_AVIV: Location = Location {
        key: "tel_aviv",
        latitude: 32.0853,
        longitude: 34.7818,
        candle_minutes: 18,
    };
    pub const JERUSALEM: Location = Location {
        key: "jerusalem",
        latitude: 31.778,
        longitude: 35.235,
        candle_minutes: 40,
    };

    /// A location by its key; Tel Aviv is the default for anything else.
    pub fn from_key(key: &str) -> Location {
        if key == Self::JERUSALEM.key {
            Self::JERUSALEM
        } else {
            Self::TEL_AVIV
        }
    }
}

impl Default for Location {
    fn default() -> Self {
        Self::TEL_AVIV
    }
}

/// One closed stretch: `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedPeriod {
    pub start: Timestamp,
    pub end: Timestamp,
    /// The days of rest it covers, each with its holiday if it is one.
    pub days: Vec<(Date, Option<hebrew::Holiday>)>,
}

impl ClosedPeriod {
    /// What a business sees: the holiday's Hebrew name, or "שבת".
    pub fn hebrew_label(&self) -> &'static str {
        self.days
            .iter()
            .find_map(|(_, h)| h.map(|h| h.hebrew_name()))
            .unwrap_or("שבת")
    }
}

/// A day of rest in Israel: Saturday or a holiday (Israel's one-day schedule).
pub fn is_day_of_rest(date: Date) -> bool {
    date.weekday() == jiff::civil::Weekday::Saturday || hebrew::holiday_on(date).is_some()
}

fn add_days(d: Date, n: i64) -> Date {
    d.checked_add(jiff::Span::new().days(n))
        .expect("date in range")
}

fn floor_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second().div_euclid(60) * 60).expect("in range")
}

fn ceil_minute(t: Timestamp) -> Timestamp {
    Timestamp::from_second((t.as_second() + 59).div_euclid(60) * 60).expect("in range")
}

/// Candle-lighting on `eve` (the day before a day of rest), to the minute, rounded early.
pub fn candle_lighting(loc: &Location, eve: Date) -> Timestamp {
    let set = sun::sunset(eve, loc.latitude, loc.longitude).expect("the sun sets in Israel");
    floor_minute(set) - SignedDuration::from_mins(loc.candle_minutes)
}

/// Nightfall ending a day of rest, to the minute, rounded late.
pub fn havdalah(loc: &Location, day: Date) -> Timestamp {
    ceil_minute(sun::tzeit(day, loc.latitude, loc.longitude).expect("night falls in Israel"))
}

/// Every closed stretch touching the dates `first..=last`, in order.
pub fn closed_periods(loc: &Location, first: Date, last: Date) -> Vec<ClosedPeriod> {
    let mut out = Vec::new();
    // A stretch is at most three days (a two-day Rosh Hashana next to Shabbat), so start
    // a few days early to catch one already under way.
    let mut day = add_days(first, -3);
    let stop = add_days(last, 1);
    while day <= stop {
        if !is_day_of_rest(day) {
            day = add_days(day, 1);
            continue;
        }
        let mut days = Vec::new();
        let begin = day;
        while is_day_of_rest(day) {
            days.push((day, hebrew::holiday_on(day)));
            day = add_days(day, 1);
        }
        let end_day = add_days(day, -1);
        if end_day >= first {
            out.push(ClosedPeriod {
                start: candle_lighting(loc, add_days(begin, -1)),
                end: havdalah(loc, end_day),
                days,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosh_hashana_5787_joins_shabbat_and_sunday() {
        // 2026: Rosh Hashana is Saturday 12 and Sunday 13 September.
        let loc = Location::TEL_AVIV;
        let p = closed_periods(
            &loc,
            Date::constant(2026, 9, 11),
            Date::constant(2026, 9, 14),
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].days.len(), 2);
        assert_eq!(p[0].hebrew_label(), "ראש השנה א׳");
        let tz = crate::israel();
        let start = p[0].start.to_zoned_datetime(tz.clone());
        let end = p[0].end.to_zoned_datetime(tz);
        assert_eq!(start.date(), Date::constant(2026, 9, 11));
        assert_eq!(end.date(), Date::constant(2026, 9, 13));
        assert!((18..19).contains(&start.hour()), "{start}");
        assert!((19..20).contains(&end.hour()), "{end}");
    }

    #[test]
    fn jerusalem_lights_earlier() {
        let eve = Date::constant(2027, 1, 8);
        let ta = candle_lighting(&Location::TEL_AVIV, eve);
        let jm = candle_lighting(&Location::JERUSALEM, eve);
        let gap = ta.duration_since(jm).as_mins();
        assert!((19..=24).contains(&gap), "Jerusalem {gap} min earlier");
        assert_eq!(Location::from_key("nowhere"), Location::TEL_AVIV);
    }
}
