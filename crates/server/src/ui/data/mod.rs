//! The web app's reads and its few writes, on the shared store (both databases, `$n`
//! placeholders, epoch-ms times). Every function that touches tenant data takes the
//! `business_id` it is scoped to first (C4); rows of another business are never found.

pub mod admin;
pub mod calls;
pub mod leads;
pub mod optional;
pub mod settings;
pub mod whatsapp;

/// `%text%` for LIKE, with the wildcards in the user's text escaped (use `ESCAPE '\'`).
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The digits of a phone search (`050-12` → `5012`), with Israel's trunk 0 or country code
/// dropped so they match inside the stored E.164; `None` when too short to mean a number.
pub fn phone_digits(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let digits = if let Some(rest) = digits.strip_prefix("972") {
        rest.trim_start_matches('0').to_string()
    } else {
        digits.strip_prefix('0').unwrap_or(&digits).to_string()
    };
    (digits.len() >= 3).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert_eq!(like_pattern("דנה"), "%דנה%");
        assert_eq!(like_pattern("50%_"), "%50\\%\\_%");
        assert_eq!(phone_digits("050-123").as_deref(), Some("50123"));
        assert_eq!(phone_digits("+972 50 1"), Some("501".into()));
        assert_eq!(phone_digits("דנה"), None);
        assert_eq!(phone_digits("05"), None);
    }
}
