//! Times as the appointments API reads and writes them: RFC 3339 with Israel's offset out,
//! and in either RFC 3339 or Israel's wall clock (`2027-01-05T09:00`, `2027-01-05`), with
//! a Hebrew message for anything else. Weekly hours are `HH:MM` (`24:00` ends a day).

use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, tz::Disambiguation};

use crate::error::AppError;

/// Epoch ms → `2027-01-05T09:00:00+02:00`.
pub fn show(ms: i64) -> String {
    let t = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    t.to_zoned_datetime(calendar::israel())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

pub fn show_ts(t: Timestamp) -> String {
    show(t.as_millisecond())
}

/// A time the caller gave (`field` names it in the message); a bare date is its 00:00.
pub fn parse(field: &str, raw: &str) -> Result<Timestamp, AppError> {
    let raw = raw.trim();
    let bad = || {
        AppError::BadRequest(format!(
            "{field}: זמן לא תקין ({raw:.40}); כתבו למשל 2027-01-05T09:00"
        ))
    };
    if raw.is_empty() || raw.len() > 40 {
        return Err(bad());
    }
    let t = parse_any(raw).ok_or_else(bad)?;
    // Far enough for any booking, and far from jiff's limits so arithmetic never overflows.
    let (lo, hi) = (
        Timestamp::constant(946_684_800, 0),
        Timestamp::constant(4_102_444_800, 0),
    );
    if t < lo || t >= hi {
        return Err(AppError::BadRequest(format!(
            "{field}: תאריך בין 2000 ל-2099"
        )));
    }
    Ok(t)
}

fn parse_any(raw: &str) -> Option<Timestamp> {
    if let Ok(t) = raw.parse::<Timestamp>() {
        return Some(t);
    }
    let local = if let Ok(dt) = raw.parse::<DateTime>() {
        dt
    } else if let Ok(d) = raw.parse::<Date>() {
        d.to_datetime(jiff::civil::Time::midnight())
    } else {
        return None;
    };
    calendar::israel()
        .to_ambiguous_zoned_datetime(local)
        .disambiguate(Disambiguation::Compatible)
        .map(|z| z.timestamp())
        .ok()
}

/// `HH:MM` → minutes after midnight, 0–1440.
pub fn parse_hhmm(field: &str, raw: &str) -> Result<i64, AppError> {
    let bad = || {
        AppError::BadRequest(format!(
            "{field}: שעה לא תקינה ({raw:.10}); כתבו HH:MM, למשל 09:30"
        ))
    };
    let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) || h > 24 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub fn show_hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Minutes after midnight → a wall-clock time; 1440 becomes the day's last moment.
pub fn civil_time(minutes: i64) -> jiff::civil::Time {
    if minutes >= 1440 {
        jiff::civil::Time::MAX
    } else {
        jiff::civil::time((minutes / 60) as i8, (minutes % 60) as i8, 0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_forms_and_shows_israel_offset() {
        let a = parse("start", "2027-01-05T09:00").unwrap();
        let b = parse("start", "2027-01-05T07:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(show_ts(a), "2027-01-05T09:00:00+02:00");
        let summer = parse("start", "2027-07-05T09:00").unwrap();
        assert_eq!(show_ts(summer), "2027-07-05T09:00:00+03:00");
        assert!(parse("start", "מחר").is_err());
        assert_eq!(parse_hhmm("from", "24:00").unwrap(), 1440);
        assert!(parse_hhmm("from", "24:30").is_err());
        assert!(parse_hhmm("from", "9").is_err());
    }
}
