//! Today's date and time in Israel, for the model's instructions: a caller says "tomorrow
//! at ten" and the model must know which day that is. The clock is Asia/Jerusalem from
//! `jiff`'s compiled-in time-zone database (UTC+2, and UTC+3 from the Friday before the
//! last Sunday of March to the last Sunday of October), the same on every machine.

use std::sync::OnceLock;
use std::time::SystemTime;

use jiff::Timestamp;
use jiff::tz::TimeZone;

fn israel() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get("Asia/Jerusalem").expect("the bundled tz database has Israel"))
}

const DAYS: [&str; 7] = ["ראשון", "שני", "שלישי", "רביעי", "חמישי", "שישי", "שבת"];

/// "היום יום שלישי, 8.12.2026, השעה 07:31 (שעון ישראל)."
pub fn israel_now_text(now: SystemTime) -> String {
    let now = Timestamp::try_from(now).unwrap_or(Timestamp::UNIX_EPOCH);
    let local = now.to_zoned_datetime(israel().clone());
    format!(
        "היום יום {}, {}.{}.{}, השעה {:02}:{:02} (שעון ישראל).",
        DAYS[local.weekday().to_sunday_zero_offset() as usize],
        local.day(),
        local.month(),
        local.year(),
        local.hour(),
        local.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(y: i16, m: i8, d: i8, h: i8, min: i8) -> SystemTime {
        let t = date(y, m, d)
            .at(h, min, 0, 0)
            .to_zoned_datetime(TimeZone::UTC);
        let secs = t.unwrap().timestamp().as_second();
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64)
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
            israel_now_text(at(2026, 3, 26, 23, 59)),
            "היום יום שישי, 27.3.2026, השעה 01:59 (שעון ישראל)."
        );
        assert_eq!(
            israel_now_text(at(2026, 3, 27, 0, 0)),
            "היום יום שישי, 27.3.2026, השעה 03:00 (שעון ישראל)."
        );
        assert_eq!(
            israel_now_text(at(2026, 10, 24, 22, 59)),
            "היום יום ראשון, 25.10.2026, השעה 01:59 (שעון ישראל)."
        );
        assert_eq!(
            israel_now_text(at(2026, 10, 24, 23, 0)),
            "היום יום ראשון, 25.10.2026, השעה 01:00 (שעון ישראל)."
        );
    }
}
