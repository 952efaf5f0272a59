//! The summary without an LLM: the first sentences of the transcript plus the phone numbers,
//! dates and times found by rules, clearly marked as automatic.
//!
//! A business without an LLM still deserves to see at a glance who called and what they
//! left: a number to call back, a day, an hour. Rules are simple and predictable; the
//! prefix "סיכום אוטומטי" tells the reader no model wrote this.

use crate::store::post_call::Extraction;

pub const PREFIX: &str = "סיכום אוטומטי:";
const MAX_LEAD_CHARS: usize = 300;

/// Summary and details from the transcript by rules alone.
pub fn extractive(transcript: &str) -> Extraction {
    let text = transcript.trim();
    if text.is_empty() {
        return Extraction {
            summary: format!("{PREFIX} לא התקבל תמלול מההקלטה."),
            ..Extraction::default()
        };
    }
    let sentences = sentences(text);
    let mut lead = String::new();
    for s in sentences.iter().take(2) {
        if !lead.is_empty() && lead.chars().count() + s.chars().count() > MAX_LEAD_CHARS {
            break;
        }
        if !lead.is_empty() {
            lead.push(' ');
        }
        lead.push_str(s);
    }
    if lead.chars().count() > MAX_LEAD_CHARS {
        lead = lead.chars().take(MAX_LEAD_CHARS).collect::<String>() + "…";
    }
    let phones = phones(text);
    let dates = dates(text);
    let times = times(text);
    let mut summary = format!("{PREFIX} {lead}");
    for (label, found) in [("טלפון", &phones), ("תאריך", &dates), ("שעה", &times)] {
        if !found.is_empty() {
            summary.push_str(&format!(" | {label}: {}", found.join(", ")));
        }
    }
    let callback = match (dates.first(), times.first()) {
        (Some(d), Some(t)) => Some(format!("{d} {t}")),
        (Some(d), None) => Some(d.clone()),
        (None, Some(t)) => Some(t.clone()),
        (None, None) => None,
    };
    let reason = sentences
        .iter()
        .find(|s| {
            ["בקשר ל", "לגבי", "רציתי", "רוצה", "מבקש", "צריך", "צריכה"]
                .iter()
                .any(|k| s.contains(k))
        })
        .map(|s| s.chars().take(200).collect());
    let urgent = ["דחוף", "בהקדם", "מיד", "חירום"]
        .iter()
        .any(|k| text.contains(k));
    Extraction {
        summary,
        name: name(text),
        reason,
        urgency: urgent.then(|| "high".to_string()),
        callback_time: callback,
    }
}

/// Sentences, split at . ! ? and line breaks (punctuation kept).
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '\n' {
            push_sentence(&mut out, &mut cur);
            continue;
        }
        cur.push(c);
        // A dot between digits (10.5, 1.2.2025) does not end a sentence.
        let between_digits = c == '.'
            && i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if matches!(c, '.' | '!' | '?') && !between_digits {
            push_sentence(&mut out, &mut cur);
        }
    }
    push_sentence(&mut out, &mut cur);
    out
}

fn push_sentence(out: &mut Vec<String>, cur: &mut String) {
    let s = cur.trim();
    if s.chars().any(char::is_alphanumeric) {
        out.push(s.to_string());
    }
    cur.clear();
}

/// Israeli phone numbers (0XXXXXXXX[X] or +972…), however they were spaced or dashed,
/// normalised to digits.
pub fn phones(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for run in number_runs(text) {
        let groups: Vec<&str> = run.split(' ').filter(|g| !g.is_empty()).collect();
        let mut i = 0;
        while i < groups.len() {
            let mut taken = None;
            let mut joined = String::new();
            for (j, g) in groups.iter().enumerate().skip(i) {
                joined.push_str(g);
                let digits: String = joined.chars().filter(char::is_ascii_digit).collect();
                if digits.len() > 13 {
                    break;
                }
                if is_phone(&joined, &digits) {
                    taken = Some((j, digits));
                }
            }
            match taken {
                Some((j, digits)) => {
                    if !found.contains(&digits) {
                        found.push(digits);
                    }
                    i = j + 1;
                }
                None => i += 1,
            }
        }
    }
    found
}

fn is_phone(raw: &str, digits: &str) -> bool {
    let international = raw.starts_with('+') || digits.starts_with("972");
    if international {
        digits.starts_with("972") && (11..=12).contains(&digits.len())
    } else {
        digits.starts_with('0') && (9..=10).contains(&digits.len())
    }
}

/// Maximal runs of digits, `+`, `-` and single spaces between digit groups.
fn number_runs(text: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '-' || c == '+' {
            cur.push(c);
        } else if c == ' ' && !cur.is_empty() {
            cur.push(' ');
        } else if !cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs.into_iter()
        .map(|r| r.trim().to_string())
        .filter(|r| r.chars().any(|c| c.is_ascii_digit()))
        .collect()
}

/// Words of the text with surrounding punctuation removed.
fn words(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric() && c != ':' && c != '/'))
        .map(|w| w.trim_end_matches([':', '/']))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Hours like 10:30 (or "בשעה 10"), as written.
pub fn times(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let ws = words(text);
    for (i, w) in ws.iter().enumerate() {
        let bare = w.trim_start_matches(|c: char| !c.is_ascii_digit());
        let found = if let Some((h, m)) = bare.split_once(':') {
            let ok = (1..=2).contains(&h.len())
                && m.len() == 2
                && h.parse::<u32>().is_ok_and(|h| h < 24)
                && m.parse::<u32>().is_ok_and(|m| m < 60);
            ok.then(|| bare.to_string())
        } else if (*w == "בשעה" || *w == "שעה") && i + 1 < ws.len() {
            let n = ws[i + 1];
            n.parse::<u32>()
                .is_ok_and(|h| (1..=24).contains(&h))
                .then(|| format!("{w} {n}"))
        } else {
            None
        };
        if let Some(t) = found
            && !out.contains(&t)
        {
            out.push(t);
        }
    }
    out
}

const DAYS: [&str; 6] = ["ראשון", "שני", "שלישי", "רביעי", "חמישי", "שישי"];
const RELATIVE: [&str; 6] = ["היום", "מחר", "מחרתיים", "שבת", "בשבת", "הערב"];

/// Dates like 12/5, 12.5.2025, weekday names after "יום", and today/tomorrow words.
pub fn dates(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let ws = words(text);
    let mut push = |s: String| {
        if !out.contains(&s) {
            out.push(s);
        }
    };
    for (i, w) in ws.iter().enumerate() {
        if let Some(d) = numeric_date(w.trim_start_matches(|c: char| !c.is_ascii_digit())) {
            push(d);
            continue;
        }
        let bare = w.strip_prefix('ו').unwrap_or(w);
        if RELATIVE.contains(&bare) {
            push(bare.to_string());
        } else if (bare == "יום" || bare == "ביום")
            && let Some(day) = ws.get(i + 1).filter(|d| DAYS.contains(d))
        {
            push(format!("יום {day}"));
        } else if bare == "בשבוע" && ws.get(i + 1) == Some(&"הבא") {
            push("בשבוע הבא".into());
        }
    }
    out
}

fn numeric_date(w: &str) -> Option<String> {
    let sep = if w.contains('/') { '/' } else { '.' };
    let parts: Vec<&str> = w.split(sep).collect();
    if !(2..=3).contains(&parts.len())
        || !parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty())
    {
        return None;
    }
    let day: u32 = parts[0].parse().ok()?;
    let month: u32 = parts[1].parse().ok()?;
    let year_ok = parts.get(2).is_none_or(|y| y.len() == 2 || y.len() == 4);
    ((1..=31).contains(&day)
        && (1..=12).contains(&month)
        && year_ok
        && parts[0].len() <= 2
        && parts[1].len() <= 2)
        .then(|| w.to_string())
}

const NOT_NAMES: [&str; 14] = [
    "אני",
    "ואני",
    "רציתי",
    "רוצה",
    "מתקשר",
    "מתקשרת",
    "התקשרתי",
    "מבקש",
    "מבקשת",
    "לגבי",
    "בקשר",
    "היי",
    "שלום",
    "מ",
];

/// The caller's name after "שמי", "קוראים לי", "מדבר/ת" or "זה/זו".
pub fn name(text: &str) -> Option<String> {
    let ws = words(text);
    let raw: Vec<&str> = text.split_whitespace().collect();
    for i in 0..ws.len() {
        let start = match (ws[i], ws.get(i + 1)) {
            ("שמי", _) => i + 1,
            ("קוראים", Some(&"לי")) => i + 2,
            ("מדבר" | "מדברת", _) => i + 1,
            _ => continue,
        };
        let Some(first) = ws
            .get(start)
            .filter(|w| !NOT_NAMES.contains(w) && w.chars().all(char::is_alphabetic))
        else {
            continue;
        };
        let mut name = first.to_string();
        // A surname too, unless the first word ended the phrase (punctuation after it).
        let ended = raw
            .iter()
            .find(|r| r.contains(*first))
            .is_some_and(|r| r.ends_with([',', '.', '!', '?']));
        if !ended
            && let Some(second) = ws.get(start + 1)
            && !NOT_NAMES.contains(second)
            && !second.starts_with('ו')
            && second.chars().all(char::is_alphabetic)
            && second.chars().count() > 1
        {
            name.push(' ');
            name.push_str(second);
        }
        return Some(name);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "שלום, שמי דני כהן, ואני רוצה לקבוע תור לטיפול שיניים. \
        אפשר לחזור אליי למספר 050-123 4567 מחר בשעה 10:30? זה די דחוף. תודה רבה.";

    #[test]
    fn extractive_summary_has_lead_phone_date_and_time() {
        let x = extractive(T);
        assert!(x.summary.starts_with(PREFIX), "{}", x.summary);
        assert!(x.summary.contains("שמי דני כהן"), "{}", x.summary);
        assert!(x.summary.contains("0501234567"), "{}", x.summary);
        assert!(x.summary.contains("מחר"), "{}", x.summary);
        assert!(x.summary.contains("10:30"), "{}", x.summary);
        assert!(
            !x.summary.contains("תודה רבה"),
            "only the first sentences: {}",
            x.summary
        );
        assert_eq!(x.name.as_deref(), Some("דני כהן"));
        assert_eq!(x.urgency.as_deref(), Some("high"));
        assert_eq!(x.callback_time.as_deref(), Some("מחר 10:30"));
        assert!(x.reason.unwrap().contains("לקבוע תור"));
    }

    #[test]
    fn phones_in_many_shapes() {
        assert_eq!(phones("המספר שלי 0501234567"), vec!["0501234567"]);
        assert_eq!(
            phones("טלפון 03-1234567 או +972 50 123 4567"),
            vec!["031234567", "972501234567"]
        );
        assert!(phones("בשעה 10 ביום 3").is_empty());
        assert_eq!(phones("בשעה 10 050-1234567"), vec!["0501234567"]);
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            dates("ביום שלישי ב-12/5 או 1.6.2025"),
            vec!["יום שלישי", "12/5", "1.6.2025"]
        );
        assert_eq!(times("בשעה 4 או 16:45, לא 25:00"), vec!["בשעה 4", "16:45"]);
        assert!(dates("מחיר 10.50").is_empty());
    }

    #[test]
    fn empty_transcript_still_says_something() {
        let x = extractive("  ");
        assert!(x.summary.starts_with(PREFIX));
        assert!(x.name.is_none());
    }
}
