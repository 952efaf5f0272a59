//! Dates and times as people in Israel read them: Asia/Jerusalem, `21.11.2026 14:05`.
//!
//! The offset is computed here rather than pulled from a time-zone database: Israel has
//! one rule since 2013 — daylight time (IDT, UTC+3) from the Friday before the last Sunday
//! of March at 02:00 to the last Sunday of October at 02:00; standard time (IST, UTC+2)
//! otherwise — and a small tested function keeps the binary free of a tz crate.

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// 0 = Sunday … 6 = Saturday.
fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

/// The day number of the last Sunday of a month.
fn last_sunday(y: i64, m: i64) -> i64 {
    let first_of_next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    let last = first_of_next - 1;
    last - weekday(last)
}

/// Israel's offset from UTC at an instant, in milliseconds.
pub fn israel_offset_ms(utc_ms: i64) -> i64 {
    let (y, _, _) = civil_from_days(utc_ms.div_euclid(DAY_MS));
    // Starts Friday 02:00 IST = Friday 00:00 UTC.
    let start = (last_sunday(y, 3) - 2) * DAY_MS;
    // Ends Sunday 02:00 IDT = Saturday 23:00 UTC.
    let end = last_sunday(y, 10) * DAY_MS - HOUR_MS;
    if (start..end).contains(&utc_ms) {
        3 * HOUR_MS
    } else {
        2 * HOUR_MS
    }
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
    let t = utc_ms + israel_offset_ms(utc_ms);
    let day_number = t.div_euclid(DAY_MS);
    let (year, month, day) = civil_from_days(day_number);
    let ms = t.rem_euclid(DAY_MS);
    Local {
        year,
        month,
        day,
        hour: ms / HOUR_MS,
        minute: (ms % HOUR_MS) / 60_000,
        day_number,
    }
}

/// The UTC instant at which a local Israeli day begins (00:00 local).
pub fn day_start_utc(day_number: i64) -> i64 {
    let guess = day_number * DAY_MS - 2 * HOUR_MS;
    // Midnight is never inside a switch hour, so one correction suffices.
    day_number * DAY_MS - israel_offset_ms(guess)
}

/// `21.11.2026 14:05`
pub fn datetime(utc_ms: i64) -> String {
    let l = local(utc_ms);
    format!(
        "{:02}.{:02}.{} {:02}:{:02}",
        l.day, l.month, l.year, l.hour, l.minute
    )
}

/// `21.11.2026`
pub fn date(utc_ms: i64) -> String {
    let l = local(utc_ms);
    format!("{:02}.{:02}.{}", l.day, l.month, l.year)
}

/// `14:05`
pub fn clock(utc_ms: i64) -> String {
    let l = local(utc_ms);
    format!("{:02}:{:02}", l.hour, l.minute)
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
    let l = local(utc_ms);
    let off = israel_offset_ms(utc_ms) / HOUR_MS;
    format!(
        "{}-{:02}-{:02}T{:02}:{:02}+{:02}:00",
        l.year, l.month, l.day, l.hour, l.minute, off
    )
}

/// `3:07` from seconds.
pub fn duration(secs: i64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(weekday(days_from_civil(2026, 11, 22)), 0, "a Sunday");
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
