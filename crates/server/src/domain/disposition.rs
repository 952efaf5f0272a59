//! What came of a call, as the business's staff mark it after listening (V10, C2): handled,
//! to call back, or spam. Input is strict (an unknown value is a field error, never stored),
//! and each value has the Hebrew label the web app shows.

/// A call's disposition; stored as its `as_str` text in `call_logs.disposition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Handled,
    Callback,
    Spam,
}

impl Disposition {
    pub const ALL: [Disposition; 3] = [Self::Handled, Self::Callback, Self::Spam];

    /// The stored and API text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handled => "handled",
            Self::Callback => "callback",
            Self::Spam => "spam",
        }
    }

    /// A known value, or `None`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text.trim())
    }

    /// What a business sees.
    pub fn label(self) -> &'static str {
        match self {
            Self::Handled => "טופלה",
            Self::Callback => "לחזור אליו/ה",
            Self::Spam => "ספאם",
        }
    }
}

/// The Hebrew name of a call's urgency as the summary stores it (`high`, `normal`, `low`);
/// `None` for anything else, which a business never sees in English (#20).
pub fn urgency_label(u: &str) -> Option<&'static str> {
    match u.trim() {
        "high" => Some("דחופה"),
        "normal" => Some("רגילה"),
        "low" => Some("נמוכה"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_and_unknown_ones_are_refused() {
        for d in Disposition::ALL {
            assert_eq!(Disposition::parse(d.as_str()), Some(d));
            assert!(!d.label().is_ascii());
        }
        assert_eq!(Disposition::parse(" spam "), Some(Disposition::Spam));
        assert_eq!(Disposition::parse("done"), None);
        assert_eq!(Disposition::parse(""), None);
    }
}
