//! Domain newtypes, parsed once at the edge so the rest of the code can trust them.
//!
//! Phone numbers arrive as `050-1234567`, `+972 50…`, `0097250…` or `whatsapp:+972…`; the
//! database only ever holds E.164, so lookups by number (the business behind a `To`, the
//! customer behind a `From`) match however the number was typed.

use std::fmt;

pub mod call;
pub mod disposition;

pub use call::{CallDirection, CallStatus};
pub use disposition::{Disposition, urgency_label};

/// A phone number in E.164 form (`+` and 8–15 digits).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Phone(String);

/// Why a phone number was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a phone number (expected +972… or 05…)")]
pub struct PhoneError(pub String);

impl Phone {
    /// Accepts E.164, `00` international prefixes, and Israeli national forms.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let bad = || PhoneError(raw.chars().take(40).collect());
        let s = raw.trim();
        let s = s.strip_prefix("whatsapp:").unwrap_or(s).trim();
        let mut digits = String::with_capacity(s.len());
        let mut plus = false;
        for (i, c) in s.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '(' | ')' | '.' | '\u{200f}' | '\u{200e}' => {}
                _ => return Err(bad()),
            }
        }
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if let Some(rest) = digits.strip_prefix('0') {
            // Israeli national form: 05X-XXXXXXX (mobile) or 0X-XXXXXXX (landline).
            if !(8..=9).contains(&rest.len()) {
                return Err(bad());
            }
            format!("972{rest}")
        } else if digits.starts_with("972") {
            digits
        } else {
            return Err(bad());
        };
        // Israel's trunk 0 sometimes survives after the country code: +972 050…. All of it
        // goes, so that parsing what we produced gives the same number back.
        let international = match international.strip_prefix("972") {
            Some(rest) if rest.starts_with('0') => format!("972{}", rest.trim_start_matches('0')),
            _ => international,
        };
        if !(8..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(bad());
        }
        Ok(Phone(format!("+{international}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The local Israeli form for display (`050-123-4567`); other countries stay E.164.
    pub fn local_display(&self) -> String {
        match self.0.strip_prefix("+972") {
            Some(rest) if rest.len() == 9 && rest.starts_with('5') => {
                format!("0{}-{}-{}", &rest[..2], &rest[2..5], &rest[5..])
            }
            Some(rest) if rest.len() == 8 => format!("0{}-{}", &rest[..1], &rest[1..]),
            _ => self.0.clone(),
        }
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn israeli_forms_normalise_to_e164() {
        for raw in [
            "050-1234567",
            "0501234567",
            "+972 50 123 4567",
            "+972501234567",
            "00972501234567",
            "972501234567",
            "+972 050-1234567",
            "whatsapp:+972501234567",
            "(050) 123-4567",
        ] {
            assert_eq!(
                Phone::parse(raw).unwrap().as_str(),
                "+972501234567",
                "{raw}"
            );
        }
        assert_eq!(Phone::parse("03-1234567").unwrap().as_str(), "+97231234567");
        assert_eq!(
            Phone::parse("+14155550100").unwrap().as_str(),
            "+14155550100"
        );
    }

    #[test]
    fn garbage_is_refused() {
        for raw in [
            "",
            "abc",
            "05",
            "+1",
            "050-12345678901234",
            "12345",
            "+972-50-12x4567",
        ] {
            assert!(Phone::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn normalising_is_idempotent() {
        // Found by fuzzing: one trunk zero too many gave a number that did not parse again.
        assert!(Phone::parse("972000000").is_err());
        for raw in ["+972 00 50 123 4567", "0097200501234567", "+9720501234567"] {
            let p = Phone::parse(raw).unwrap();
            assert_eq!(p.as_str(), "+972501234567", "{raw}");
            assert_eq!(Phone::parse(p.as_str()), Ok(p));
        }
    }

    #[test]
    fn local_display() {
        let p = Phone::parse("+972501234567").unwrap();
        assert_eq!(p.local_display(), "050-123-4567");
        assert_eq!(
            Phone::parse("03-1234567").unwrap().local_display(),
            "03-1234567"
        );
    }
}

/// The most intake questions a business may set.
pub const MAX_QUESTIONS: usize = 10;
/// The longest intake question, in characters.
pub const MAX_QUESTION_CHARS: usize = 200;

/// Why a business's intake questions were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuestionsError {
    #[error("between 1 and {MAX_QUESTIONS} questions")]
    Count,
    #[error("question {0} is empty")]
    Empty(usize),
    #[error("question {0} is longer than {MAX_QUESTION_CHARS} characters")]
    TooLong(usize),
}

/// Checks a business's intake questions (1–10, each non-empty and at most 200 characters,
/// any language); the questions trimmed, in order.
pub fn intake_questions(raw: &[String]) -> Result<Vec<String>, QuestionsError> {
    if raw.is_empty() || raw.len() > MAX_QUESTIONS {
        return Err(QuestionsError::Count);
    }
    raw.iter()
        .enumerate()
        .map(|(i, q)| {
            let q = q.trim();
            if q.is_empty() {
                Err(QuestionsError::Empty(i + 1))
            } else if q.chars().count() > MAX_QUESTION_CHARS {
                Err(QuestionsError::TooLong(i + 1))
            } else {
                Ok(q.to_string())
            }
        })
        .collect()
}

#[cfg(test)]
mod question_tests {
    use super::*;

    fn qs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn intake_questions_are_bounded_and_trimmed() {
        assert_eq!(
            intake_questions(&qs(&[" מה השם? ", "What time suits you?"])),
            Ok(qs(&["מה השם?", "What time suits you?"]))
        );
        assert_eq!(intake_questions(&[]), Err(QuestionsError::Count));
        assert_eq!(
            intake_questions(&qs(&["ש?"; 11])),
            Err(QuestionsError::Count)
        );
        assert!(intake_questions(&qs(&["ש?"; 10])).is_ok());
        assert_eq!(
            intake_questions(&qs(&["א?", "  "])),
            Err(QuestionsError::Empty(2))
        );
        let long = "ש".repeat(201);
        assert_eq!(intake_questions(&[long]), Err(QuestionsError::TooLong(1)));
        assert!(intake_questions(&["ש".repeat(200)]).is_ok());
    }
}
