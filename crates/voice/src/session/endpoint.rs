//! How long the caller may pause before their turn is over, from what the agent just asked.
//!
//! One fixed pause serves nobody: a caller dictating a phone or ID number stops between
//! groups of digits, and at 500 ms the agent cuts in after "052"; a caller answering "כן"
//! waits half a second for nothing. So the silence that ends the caller's turn follows the
//! question they are answering:
//! - digits or spelling (a phone number, an ID, an e-mail, an address, "לאיית"):
//!   [`DICTATION_PAUSE`];
//! - a name: [`NAME_PAUSE`] (said in one breath, but a family name may follow a beat later);
//! - a yes/no question ("נכון?", "האם…", "זה זמן נוח לדבר?"): [`YES_NO_PAUSE`];
//! - anything else: the session's configured end of turn (500 ms by default).
//!
//! A recogniser that streams while the caller speaks can say more: digits (or single
//! letters) in the partial transcript so far mean dictation whatever the question was
//! ([`end_of_turn_silence`] takes the partial text when there is one).
//!
//! The question is read from what the caller heard of the agent's last turn: its last
//! question (the last sentence ending in `?`, else its last sentence).

use std::time::Duration;

/// Pause allowed while the caller dictates digits or spells.
pub const DICTATION_PAUSE: Duration = Duration::from_millis(1200);
/// Pause allowed while the caller gives a name.
pub const NAME_PAUSE: Duration = Duration::from_millis(800);
/// Pause that ends a yes/no answer.
pub const YES_NO_PAUSE: Duration = Duration::from_millis(350);

/// What kind of answer the agent's question calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Digits or letters, one group at a time.
    Dictation,
    Name,
    YesNo,
    /// Free speech.
    Open,
}

/// Words that ask for digits or spelling (matched as whole words, Hebrew prefixes allowed).
const DICTATION_WORDS: &[&str] = &[
    "טלפון",
    "מספר",
    "נייד",
    "פלאפון",
    "תז",
    "מיקוד",
    "אימייל",
    "מייל",
    "כתובת",
    "לאיית",
    "איות",
    "phone",
    "number",
    "spell",
    "id",
    "email",
    "address",
];
/// Phrases that ask for digits, matched as they are written.
const DICTATION_PHRASES: &[&str] = &["תעודת זהות", "ת\"ז", "ת״ז", "ת.ז", "דוא\"ל", "דוא״ל"];
const NAME_WORDS: &[&str] = &["שם", "שמך", "שמכם", "שמו", "שמה", "name"];
const NAME_PHRASES: &[&str] = &["עם מי אני מדבר", "מי מדבר"];
/// Question words: a question with one is not a yes/no question.
const WH_WORDS: &[&str] = &[
    "מה",
    "מי",
    "מתי",
    "איפה",
    "איך",
    "כמה",
    "איזה",
    "איזו",
    "אילו",
    "לאן",
    "מאיפה",
    "מדוע",
    "what",
    "who",
    "when",
    "where",
    "how",
    "which",
    "why",
];
/// Tags that end a yes/no question.
const YES_NO_TAGS: &[&str] = &[
    "נכון",
    "בסדר",
    "מתאים",
    "כן או לא",
    "אוקיי",
    "right",
    "correct",
    "ok",
    "okay",
];
/// Openings of a yes/no question.
const YES_NO_OPENERS: &[&str] = &[
    "האם",
    "תרצה",
    "תרצי",
    "תרצו",
    "רוצה",
    "רוצים",
    "אפשר",
    "יש",
    "נוח",
    "זה",
    "הכל",
    "do",
    "does",
    "is",
    "are",
    "would",
    "can",
    "could",
    "shall",
    "should",
    "will",
];
/// Hebrew letters a word may carry in front (and, the, in, to, that, from, as).
const PREFIXES: &[char] = &['ו', 'ה', 'ב', 'ל', 'ש', 'מ', 'כ'];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// `word` is one of `list`, possibly behind up to two Hebrew prefix letters.
fn is_one_of(word: &str, list: &[&str]) -> bool {
    let mut w = word;
    for _ in 0..=2 {
        if list.contains(&w) {
            return true;
        }
        match w.chars().next() {
            Some(c) if PREFIXES.contains(&c) && w.chars().count() > 2 => w = &w[c.len_utf8()..],
            _ => return false,
        }
    }
    false
}

/// The question the caller is answering: the last sentence ending in `?`, else the last.
fn last_question(line: &str) -> &str {
    let sentences: Vec<&str> = line
        .split_inclusive(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    sentences
        .iter()
        .rev()
        .find(|s| s.ends_with('?'))
        .or(sentences.last())
        .copied()
        .unwrap_or("")
}

/// What kind of answer the agent's line (as the caller heard it) asks for.
pub fn expected_answer(agent_line: &str) -> Expected {
    let q = last_question(agent_line);
    let lower = q.to_lowercase();
    let ws = words(q);
    let any = |list: &[&str]| ws.iter().any(|w| is_one_of(w, list));
    let tail = lower.trim_end_matches(|c: char| !c.is_alphanumeric());
    if YES_NO_TAGS.iter().any(|t| tail.ends_with(t)) {
        return Expected::YesNo;
    }
    if any(DICTATION_WORDS) || DICTATION_PHRASES.iter().any(|p| q.contains(p)) {
        return Expected::Dictation;
    }
    if any(NAME_WORDS) || NAME_PHRASES.iter().any(|p| q.contains(p)) {
        return Expected::Name;
    }
    if any(WH_WORDS) {
        return Expected::Open;
    }
    match ws.first() {
        Some(first) if q.ends_with('?') && YES_NO_OPENERS.contains(&first.as_str()) => {
            Expected::YesNo
        }
        _ => Expected::Open,
    }
}

/// Hebrew digit words, for a recogniser that spells numbers out.
const DIGIT_WORDS: &[&str] = &[
    "אפס",
    "אחת",
    "אחד",
    "שתיים",
    "שניים",
    "שתים",
    "שלוש",
    "שלושה",
    "ארבע",
    "ארבעה",
    "חמש",
    "חמישה",
    "שש",
    "שישה",
    "שבע",
    "שבעה",
    "שמונה",
    "תשע",
    "תשעה",
];

/// Whether the caller's words so far look like dictation: two or more digits, or a run of
/// single letters (spelling).
pub fn sounds_like_dictation(partial: &str) -> bool {
    let digits = partial.chars().filter(char::is_ascii_digit).count();
    let ws = words(partial);
    let digit_words = ws
        .iter()
        .filter(|w| is_one_of(w, DIGIT_WORDS) || w.chars().all(|c| c.is_ascii_digit()))
        .count();
    let letters = ws
        .iter()
        .filter(|w| w.chars().count() == 1 && w.chars().all(char::is_alphabetic))
        .count();
    digits >= 2 || digit_words >= 2 || letters >= 3
}

/// The silence that ends the caller's turn: `base` (the session's configured end of turn)
/// for free speech, longer for dictation and names, shorter for yes/no; dictation heard in
/// `partial` (a streaming recogniser's text so far) lengthens it whatever was asked.
pub fn end_of_turn_silence(base: Duration, expected: Expected, partial: Option<&str>) -> Duration {
    if partial.is_some_and(sounds_like_dictation) {
        return base.max(DICTATION_PAUSE);
    }
    match expected {
        Expected::Dictation => base.max(DICTATION_PAUSE),
        Expected::Name => base.max(NAME_PAUSE),
        Expected::YesNo => base.min(YES_NO_PAUSE),
        Expected::Open => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_read_for_the_answer_they_call_for() {
        use Expected::*;
        for (line, want) in [
            ("מה מספר הטלפון שלך?", Dictation),
            ("תודה. ומה מספר תעודת הזהות?", Dictation),
            ("אפשר לקבל ת\"ז?", Dictation),
            ("תוכל/י לאיית את שם המשפחה?", Dictation),
            ("מה המייל שלך?", Dictation),
            ("What is your phone number?", Dictation),
            ("שלום, הגעתם למספרת רותי. מה השם שלך?", Name),
            ("ומה שמך המלא?", Name),
            ("שלום, מדברים מהמספרה. עם מי אני מדבר/ת?", Name),
            (
                "רק לוודא שרשמתי נכון: דנה כהן, תור, מחר בבוקר. נכון?",
                YesNo,
            ),
            (
                "רק לוודא שרשמתי נכון: דנה כהן, מספר 0521234567, נכון?",
                YesNo,
            ),
            ("האם תרצה שנחזור אליך?", YesNo),
            ("שלום, מדברים ממספרת רותי. זה זמן נוח לדבר?", YesNo),
            ("Is that right?", YesNo),
            ("תודה. במה אפשר לעזור? מה סיבת הפנייה?", Open),
            ("מתי נוח שנחזור אליך?", Open),
            ("תודה רבה! רשמתי את הפרטים ונחזור אליך בהקדם.", Open),
            ("", Open),
        ] {
            assert_eq!(expected_answer(line), want, "{line}");
        }
    }

    #[test]
    fn a_salon_named_mispara_is_not_a_number() {
        assert_eq!(
            expected_answer("הגעתם למספרת רותי. איך אפשר לעזור?"),
            Expected::Open
        );
    }

    #[test]
    fn dictation_is_heard_in_the_partial_transcript() {
        for p in ["052", "אפס חמש שתיים", "ד, נ, ה", "המספר הוא 03 5"] {
            assert!(sounds_like_dictation(p), "{p}");
        }
        for p in ["", "כן", "דנה כהן", "אני רוצה תור למחר", "1"] {
            assert!(!sounds_like_dictation(p), "{p}");
        }
    }

    #[test]
    fn the_pause_follows_the_question_and_the_partial() {
        let base = Duration::from_millis(500);
        let pause = |q: &str, p| end_of_turn_silence(base, expected_answer(q), p);
        assert_eq!(pause("מה מספר הטלפון?", None), DICTATION_PAUSE);
        assert_eq!(pause("מה השם שלך?", None), NAME_PAUSE);
        assert_eq!(pause("נכון?", None), YES_NO_PAUSE);
        assert_eq!(pause("במה אפשר לעזור?", None), base);
        assert_eq!(pause("במה אפשר לעזור?", Some("050 1")), DICTATION_PAUSE);
        assert_eq!(pause("נכון?", Some("כן")), YES_NO_PAUSE);
        // A configured end of turn longer than the yes/no pause is never lengthened by it,
        // nor a longer one shortened by a name.
        let long = Duration::from_millis(1500);
        assert_eq!(
            end_of_turn_silence(long, Expected::Name, None),
            long,
            "never shorter than configured for a name"
        );
    }
}
