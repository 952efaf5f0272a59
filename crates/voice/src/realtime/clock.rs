//! Today's date and time in Israel, for the model's instructions: a caller says "tomorrow
//! at ten" and the model must know which day that is. Israel's clock is UTC+2, and UTC+3
//! from the Friday before the last Sunday of March (02:00) to the last Sunday of October
//! (02:00), by the law of 2013; this small rule is all mokdan needs of a time-zone database.

use std::time::{SystemTime, UNIX_EPOCH};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// 0 = Sunday.
fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

/// The day number of the last Sunday of a month.
fn last_sunday(y: i64, m: u32) -> i64 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    let last = next - 1;
    last - weekday(last)
}

/// Israel's offset from UTC, in seconds, at a UTC instant.
fn offset(utc: i64) -> i64 {
    let (y, _, _) = civil_from_days(utc.div_euclid(DAY));
    // 02:00 standard time on the Friday before the last Sunday of March = 00:00 UTC.
    let start = (last_sunday(y, 3) - 2) * DAY;
    // 02:00 daylight time on the last Sunday of October = 23:00 UTC the day before.
    let end = last_sunday(y, 10) * DAY - HOUR;
    if (start..end).contains(&utc) {
        3 * HOUR
    } else {
        2 * HOUR
    }
}

const DAYS: [&str; 7] = ["ראשון", "שני", "שלישי", "רביעי", "חמישי", "שישי", "שבת"];

/// "היום יום שלישי, 8.12.2026, השעה 07:31 (שעון ישראל)."
pub fn israel_now_text(now: SystemTime) -> String {
    let utc = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let local = utc + offset(utc);
    let days = local.div_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = local.rem_euclid(DAY);
    format!(
        "היום יום {}, {d}.{m}.{y}, השעה {:02}:{:02} (שעון ישראל).",
        DAYS[weekday(days) as usize],
        secs / HOUR,
        (secs % HOUR) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(y: i64, m: u32, d: u32, h: i64, min: i64) -> SystemTime {
        let secs = days_from_civil(y, m, d) * DAY + h * HOUR + min * 60;
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    }

    #[test]
    fn winter_is_utc_plus_two_and_summer_utc_plus_three() {
        // Tuesday 8 December 2026, 05:31 UTC.
        assert_eq!(
            israel_now_text(at(2026, 12, 8, 5, 31)),
            "היום יום שלישי, 8.12.2026, השעה 07:31 (שעון ישראל)."
        );
        // 1 July 2026 21:30 UTC is already Thursday 00:30 in Israel.
        assert_eq!(
            israel_now_text(at(2026, 7, 1, 21, 30)),
            "היום יום חמישי, 2.7.2026, השעה 00:30 (שעון ישראל)."
        );
    }

    #[test]
    fn the_clock_changes_on_the_legal_days() {
        // 2026: last Sunday of March is the 29th (summer time from Friday 27th, 02:00),
        // last Sunday of October is the 25th.
        assert_eq!(
            offset(days_from_civil(2026, 3, 26) * DAY + 23 * HOUR),
            2 * HOUR
        );
        assert_eq!(offset(days_from_civil(2026, 3, 27) * DAY), 3 * HOUR);
        assert_eq!(
            offset(days_from_civil(2026, 10, 24) * DAY + 22 * HOUR),
            3 * HOUR
        );
        assert_eq!(
            offset(days_from_civil(2026, 10, 24) * DAY + 23 * HOUR),
            2 * HOUR
        );
    }
}
