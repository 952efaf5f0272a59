//! Twilio resource identifiers: a two-letter type prefix and 32 lowercase hex digits.
//!
//! The server parses these (a CallSid newtype rejects anything else), so the sim must
//! mint them in exactly Twilio's shape.

/// A new random SID such as `CA` + 32 hex digits.
pub(crate) fn new_sid(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    #[test]
    fn shape() {
        let sid = super::new_sid("CA");
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("CA"));
        assert!(
            sid[2..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(sid, super::new_sid("CA"));
    }
}
