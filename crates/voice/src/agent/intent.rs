//! The few intents the scripted agent must understand from a transcript: yes, no and
//! "please repeat", in Hebrew and in English (callers mix languages, and an English-only
//! recogniser is what runs offline). Speech-to-text output is noisy (punctuation, niqqud,
//! prefixes, capitals), so matching is on normalised words and short utterances only:
//! "סליחה, השם שלי דנה" is an answer, while "סליחה?" alone asks to repeat.

/// What a short caller reply means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Yes,
    No,
    Repeat,
    /// Anything else: an answer.
    Other,
}

/// Hebrew niqqud and cantillation marks (U+0591..U+05C7) are dropped.
fn is_mark(c: char) -> bool {
    ('\u{0591}'..='\u{05C7}').contains(&c) && !matches!(c, '\u{05BE}' | '\u{05C0}' | '\u{05C3}')
}

/// Lower-cased words without punctuation or niqqud. Apostrophes join ("didn't" is one
/// word, "didnt"), so contractions do not push a short reply over the word limit.
pub fn words(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !is_mark(*c) && !matches!(c, '\'' | '\u{2019}'))
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    cleaned
        .split_whitespace()
        .map(|w| w.to_lowercase())
        .collect()
}

const REPEAT_WORDS: &[&str] = &[
    "תחזור",
    "תחזרי",
    "תחזרו",
    "חזור",
    "חזרי",
    "שוב",
    "סליחה",
    "מה",
    "פרדון",
    "repeat",
    "again",
    "pardon",
    "sorry",
    "what",
];
const REPEAT_PHRASES: &[&str] = &[
    "לא שמעתי",
    "לא הבנתי",
    "מה אמרת",
    "מה אמרתם",
    "עוד פעם",
    "אפשר לחזור",
    "didnt hear",
    "didnt catch",
    "say that again",
    "come again",
];
const YES_WORDS: &[&str] = &[
    "כן",
    "נכון",
    "בדיוק",
    "בסדר",
    "יופי",
    "אכן",
    "כמובן",
    "מאשר",
    "מאשרת",
    "מצוין",
    "סבבה",
    "אוקיי",
    "ok",
    "okay",
    "yes",
    "yeah",
    "yep",
    "correct",
    "right",
    "sure",
    "exactly",
];
const NO_WORDS: &[&str] = &[
    "לא",
    "טעות",
    "שגוי",
    "no",
    "nope",
    "not",
    "wrong",
    "incorrect",
];

/// Longest reply still read as a bare yes/no/repeat rather than an answer.
const MAX_INTENT_WORDS: usize = 4;

/// Classifies a caller's reply.
pub fn classify(text: &str) -> Intent {
    let w = words(text);
    if w.is_empty() || w.len() > MAX_INTENT_WORDS {
        return Intent::Other;
    }
    let joined = w.join(" ");
    let has = |list: &[&str]| w.iter().any(|x| list.contains(&x.as_str()));
    if REPEAT_PHRASES.iter().any(|p| joined.contains(p)) || has(REPEAT_WORDS) {
        return Intent::Repeat;
    }
    // "לא נכון" is a no although it contains "נכון": no wins.
    if has(NO_WORDS) {
        return Intent::No;
    }
    if has(YES_WORDS) {
        return Intent::Yes;
    }
    Intent::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_repeat_in_hebrew() {
        assert_eq!(classify("כן"), Intent::Yes);
        assert_eq!(classify("כן, נכון."), Intent::Yes);
        assert_eq!(classify("בדיוק"), Intent::Yes);
        assert_eq!(classify("לא"), Intent::No);
        assert_eq!(classify("לא נכון"), Intent::No);
        assert_eq!(classify("תחזור בבקשה"), Intent::Repeat);
        assert_eq!(classify("תחזרי?"), Intent::Repeat);
        assert_eq!(classify("סליחה?"), Intent::Repeat);
        assert_eq!(classify("לא שמעתי"), Intent::Repeat);
        assert_eq!(classify("מה?"), Intent::Repeat);
    }

    #[test]
    fn yes_no_repeat_in_english() {
        assert_eq!(classify("Yes."), Intent::Yes);
        assert_eq!(classify("Yeah, that's right."), Intent::Yes);
        assert_eq!(classify("Correct"), Intent::Yes);
        assert_eq!(classify("No."), Intent::No);
        assert_eq!(classify("That's not right"), Intent::No);
        assert_eq!(classify("Wrong."), Intent::No);
        assert_eq!(classify("Repeat please."), Intent::Repeat);
        assert_eq!(classify("Sorry?"), Intent::Repeat);
        assert_eq!(classify("I didn't hear you"), Intent::Repeat);
        assert_eq!(classify("Say that again?"), Intent::Repeat);
        assert_eq!(classify("Sorry, my name is David Levi."), Intent::Other);
        assert_eq!(classify("Tomorrow morning"), Intent::Other);
    }

    #[test]
    fn niqqud_and_punctuation_are_ignored() {
        assert_eq!(classify("כֵּן!"), Intent::Yes);
        assert_eq!(classify("  לֹא...  "), Intent::No);
    }

    #[test]
    fn longer_replies_are_answers() {
        assert_eq!(classify("סליחה, השם שלי דנה כהן מרמת גן"), Intent::Other);
        assert_eq!(classify("דנה כהן"), Intent::Other);
        assert_eq!(classify(""), Intent::Other);
        assert_eq!(classify("מחר בבוקר"), Intent::Other);
    }
}
