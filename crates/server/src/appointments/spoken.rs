//! Times as the receptionist says them (#19): "מחר, יום שלישי 5 בינואר, בשעה 9:30", in
//! Israel's time, so the model can read a free time to the caller as it is, while the ISO
//! value beside it is what it sends back to book.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

const MONTHS: [&str; 12] = [
    "ינואר",
    "פברואר",
    "מרץ",
    "אפריל",
    "מאי",
    "יוני",
    "יולי",
    "אוגוסט",
    "ספטמבר",
    "אוקטובר",
    "נובמבר",
    "דצמבר",
];

fn weekday(d: Weekday) -> &'static str {
    match d {
        Weekday::Sunday => "ראשון",
        Weekday::Monday => "שני",
        Weekday::Tuesday => "שלישי",
        Weekday::Wednesday => "רביעי",
        Weekday::Thursday => "חמישי",
        Weekday::Friday => "שישי",
        Weekday::Saturday => "שבת",
    }
}

/// The day as said: "יום שלישי 5 בינואר" ("שבת 9 בינואר" for Saturday).
pub fn day(d: Date) -> String {
    let name = match d.weekday() {
        Weekday::Saturday => "שבת".to_string(),
        w => format!("יום {}", weekday(w)),
    };
    format!("{name} {} ב{}", d.day(), MONTHS[(d.month() - 1) as usize])
}

/// A time as said relative to `now`: "היום"/"מחר" before the day, the hour after it.
pub fn when(t: Timestamp, now: Timestamp) -> String {
    let tz = calendar::israel();
    let at = t.to_zoned_datetime(tz.clone());
    let today = now.to_zoned_datetime(tz).date();
    let date = at.date();
    let hour = format!("בשעה {}:{:02}", at.hour(), at.minute());
    let relative = if date == today {
        Some("היום")
    } else if today.tomorrow().ok() == Some(date) {
        Some("מחר")
    } else {
        None
    };
    match relative {
        Some(r) => format!("{r}, {}, {hour}", day(date)),
        None => format!("{}, {hour}", day(date)),
    }
}

/// Today in Israel, for the model's instructions: "יום שני 7 בדצמבר 2026 (2026-12-07), 13:05".
pub fn today(now: Timestamp) -> String {
    let at = now.to_zoned_datetime(calendar::israel());
    format!(
        "{} {} ({}), {}:{:02}",
        day(at.date()),
        at.year(),
        at.date(),
        at.hour(),
        at.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn times_are_said_in_israel_time_with_today_and_tomorrow() {
        let now = ts("2027-01-04T08:00:00Z"); // Monday 10:00 in Israel
        assert_eq!(
            when(ts("2027-01-05T07:30:00Z"), now),
            "מחר, יום שלישי 5 בינואר, בשעה 9:30"
        );
        assert_eq!(
            when(ts("2027-01-04T14:00:00Z"), now),
            "היום, יום שני 4 בינואר, בשעה 16:00"
        );
        assert_eq!(
            when(ts("2027-01-09T18:00:00Z"), now),
            "שבת 9 בינואר, בשעה 20:00"
        );
        // Summer time: +03:00.
        assert_eq!(
            when(ts("2027-07-06T06:00:00Z"), now),
            "יום שלישי 6 ביולי, בשעה 9:00"
        );
        assert_eq!(today(now), "יום שני 4 בינואר 2027 (2027-01-04), 10:00");
    }
}
