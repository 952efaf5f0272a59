//! Dates and times as people in Israel read them: Asia/Jerusalem, `21.11.2026 14:05`.
//!
//! The clock comes from `jiff` with the time-zone database compiled in, so daylight time
//! (IDT, UTC+3, from the Friday before the last Sunday of March to the last Sunday of
//! October, both at 02:00) follows the law rather than a rule typed here, and a machine
//! without /usr/share/zoneinfo shows the same times.

use std::sync::OnceLock;

use jiff::civil::Date;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, ZonedDateTime};

const DAY_SECS: i64 = 86_400;

/// Asia/Jerusalem, from the bundled database.
pub fn israel() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get("Asia/Jerusalem").expect("the bundled tz database has Israel"))
}

/// An instant from epoch milliseconds, held to the range the calendar covers.
fn instant(utc_ms: i64) -> Timestamp {
    Timestamp::from_millisecond(utc_ms).unwrap_or(if utc_ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn zoned(utc_ms: i64) -> ZonedDateTime {
    instant(utc_ms).to_zoned_datetime(israel().clone())
}

/// Days since 1970-01-01 of a date.
fn day_number_of(date: Date) -> i64 {
    Offset::UTC
        .to_timestamp(date.at(0, 0, 0, 0))
        .map_or(0, |t| t.as_second().div_euclid(DAY_SECS))
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let date = Date::new(
        i16::try_from(y).unwrap_or(i16::MAX),
        i8::try_from(m).unwrap_or(i8::MAX),
        i8::try_from(d).unwrap_or(i8::MAX),
    );
    date.map_or(0, day_number_of)
}

/// The date of a day number since 1970-01-01.
fn date_of(day_number: i64) -> Date {
    Offset::UTC
        .to_datetime(instant(day_number.saturating_mul(DAY_SECS * 1000)))
        .date()
}

/// The civil date of a day number.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let d = date_of(z);
    (d.year().into(), d.month().into(), d.day().into())
}

/// Israel's offset from UTC at an instant, in milliseconds.
pub fn israel_offset_ms(utc_ms: i64) -> i64 {
    i64::from(israel().to_offset(instant(utc_ms)).seconds()) * 1000
}

/// A local date and time in Israel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    /// Days since the epoch of the local date, for grouping by day.
    pub day_number: i64,
}

pub fn local(utc_ms: i64) -> Local {
    let z = zoned(utc_ms);
    Local {
        year: z.year().into(),
        month: z.month().into(),
        day: z.day().into(),
        hour: z.hour().into(),
        minute: z.minute().into(),
        day_number: day_number_of(z.date()),
    }
}

/// The UTC instant at which a local Israeli day begins (00:00 local; the clocks change at
/// 02:00, so midnight always exists).
pub fn day_start_utc(day_number: i64) -> i64 {
    date_of(day_number)
        .to_zoned_datetime(israel().clone())
        .map_or(day_number * DAY_SECS * 1000, |z| {
            z.timestamp().as_millisecond()
        })
}

/// `21.11.2026 14:05`
pub fn datetime(utc_ms: i64) -> String {
    zoned(utc_ms).strftime("%d.%m.%Y %H:%M").to_string()
}

/// `21.11.2026`
pub fn date(utc_ms: i64) -> String {
    zoned(utc_ms).strftime("%d.%m.%Y").to_string()
}

/// `14:05`
pub fn clock(utc_ms: i64) -> String {
    zoned(utc_ms).strftime("%H:%M").to_string()
}

/// `היום 14:05`, `אתמול 09:30`, or the full date and time.
pub fn relative(utc_ms: i64, now_ms: i64) -> String {
    let day = local(utc_ms).day_number;
    let today = local(now_ms).day_number;
    if day == today {
        format!("היום {}", clock(utc_ms))
    } else if day + 1 == today {
        format!("אתמול {}", clock(utc_ms))
    } else {
        datetime(utc_ms)
    }
}

/// An ISO-8601 timestamp with Israel's offset, for `<time datetime>`.
pub fn iso(utc_ms: i64) -> String {
    zoned(utc_ms).strftime("%Y-%m-%dT%H:%M%:z").to_string()
}

/// ISO 8601 to the second with Israel's offset: `2026-12-07T13:05:00+02:00` (the API's CSV).
pub fn iso_seconds(utc_ms: i64) -> String {
    zoned(utc_ms).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// `3:07` from seconds.
pub fn duration(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;
    const DAY_MS: i64 = DAY_SECS * 1000;

    fn utc(y: i64, m: i64, d: i64, h: i64, min: i64) -> i64 {
        days_from_civil(y, m, d) * DAY_MS + h * HOUR_MS + min * 60_000
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 1, 19_000, 20_778, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017, "after a leap day");
        assert_eq!(
            date_of(days_from_civil(2026, 11, 22)).weekday(),
            jiff::civil::Weekday::Sunday
        );
    }

    #[test]
    fn israel_daylight_time_2026() {
        // 2026: last Sunday of March is the 29th, so IDT starts Friday 27 March 02:00 local.
        assert_eq!(israel_offset_ms(utc(2026, 3, 26, 23, 59)), 2 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2026, 3, 27, 0, 0)), 3 * HOUR_MS);
        // Last Sunday of October 2026 is the 25th: back to IST at 02:00 IDT (23:00 UTC Sat).
        assert_eq!(israel_offset_ms(utc(2026, 10, 24, 22, 59)), 3 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2026, 10, 24, 23, 0)), 2 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2026, 1, 15, 12, 0)), 2 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2026, 7, 15, 12, 0)), 3 * HOUR_MS);
    }

    #[test]
    fn israel_daylight_time_2024() {
        // 2024: 29 March (Friday) to 27 October, as published.
        assert_eq!(israel_offset_ms(utc(2024, 3, 28, 23, 0)), 2 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2024, 3, 29, 0, 0)), 3 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2024, 10, 26, 22, 30)), 3 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2024, 10, 26, 23, 30)), 2 * HOUR_MS);
    }

    #[test]
    fn israel_daylight_time_edges_2025_and_2027() {
        // 2025: last Sunday of March is the 30th, so IDT from Friday 28 March 02:00 local;
        // last Sunday of October is the 26th, back at 02:00 IDT (23:00 UTC on Saturday).
        assert_eq!(israel_offset_ms(utc(2025, 3, 27, 23, 59)), 2 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2025, 3, 28, 0, 0)), 3 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2025, 10, 25, 22, 59)), 3 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2025, 10, 25, 23, 0)), 2 * HOUR_MS);
        // 2027: last Sunday of March is the 28th (from Friday the 26th); of October the 31st.
        assert_eq!(israel_offset_ms(utc(2027, 3, 25, 23, 59)), 2 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2027, 3, 26, 0, 0)), 3 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2027, 10, 30, 22, 59)), 3 * HOUR_MS);
        assert_eq!(israel_offset_ms(utc(2027, 10, 30, 23, 0)), 2 * HOUR_MS);
        // The local clock around the switches: 01:59 IST is followed by 03:00 IDT, and
        // 01:59 IDT by 01:00 IST.
        assert_eq!(datetime(utc(2027, 3, 25, 23, 59)), "26.03.2027 01:59");
        assert_eq!(datetime(utc(2027, 3, 26, 0, 0)), "26.03.2027 03:00");
        assert_eq!(datetime(utc(2027, 10, 30, 22, 59)), "31.10.2027 01:59");
        assert_eq!(datetime(utc(2027, 10, 30, 23, 0)), "31.10.2027 01:00");
        assert_eq!(iso(utc(2027, 3, 26, 0, 0)), "2027-03-26T03:00+03:00");
    }

    #[test]
    fn days_that_change_the_clock_start_at_local_midnight() {
        // Friday 27 March 2026 starts in standard time; Sunday 25 October 2026 in daylight.
        let friday = days_from_civil(2026, 3, 27);
        assert_eq!(day_start_utc(friday), utc(2026, 3, 26, 22, 0));
        assert_eq!(day_start_utc(friday + 1), utc(2026, 3, 27, 21, 0));
        let sunday = days_from_civil(2026, 10, 25);
        assert_eq!(day_start_utc(sunday), utc(2026, 10, 24, 21, 0));
        assert_eq!(day_start_utc(sunday + 1), utc(2026, 10, 25, 22, 0));
        assert_eq!(local(utc(2026, 10, 24, 21, 30)).day_number, sunday);
    }

    #[test]
    fn local_formats() {
        let t = utc(2026, 11, 21, 12, 5);
        assert_eq!(datetime(t), "21.11.2026 14:05");
        assert_eq!(iso(t), "2026-11-21T14:05+02:00");
        let summer = utc(2026, 7, 1, 21, 30);
        assert_eq!(
            datetime(summer),
            "02.07.2026 00:30",
            "after midnight locally"
        );
        assert_eq!(relative(t, t + HOUR_MS), "היום 14:05");
        assert_eq!(relative(t, t + DAY_MS), "אתמול 14:05");
        assert_eq!(duration(187), "3:07");
    }

    #[test]
    fn local_day_starts() {
        let day = local(utc(2026, 7, 1, 12, 0)).day_number;
        assert_eq!(day_start_utc(day), utc(2026, 6, 30, 21, 0));
        let day = local(utc(2026, 12, 1, 12, 0)).day_number;
        assert_eq!(day_start_utc(day), utc(2026, 11, 30, 22, 0));
    }
}
