//! The lead form's checks, every field at once, each error in Hebrew beside its field (the
//! form is `novalidate`, so no browser-default message ever shows): an empty or malformed
//! phone, an e-mail that is not `name@domain.tld`, an unknown status, overlong text (#20).

use super::data::leads::STATUSES;
use super::leads::LeadForm;
use crate::domain::Phone;

/// What is wrong with each field of the lead form, in Hebrew, shown beside the field.
#[derive(Default, Debug)]
pub struct FieldErrors {
    pub name: &'static str,
    pub phone: &'static str,
    pub email: &'static str,
    pub status: &'static str,
    pub tags: &'static str,
    pub notes: &'static str,
}

impl FieldErrors {
    fn any(&self) -> bool {
        [
            &self.name,
            &self.phone,
            &self.email,
            &self.status,
            &self.tags,
            &self.notes,
        ]
        .iter()
        .any(|e| !e.is_empty())
    }
}

/// The form's values checked, every field at once: a phone in E.164, an e-mail address of
/// the form `name@domain.tld`, a known status, lengths bounded.
pub(super) fn validate(f: &LeadForm) -> Result<(Phone, String), FieldErrors> {
    let mut e = FieldErrors::default();
    let phone = if f.phone.trim().is_empty() {
        e.phone = "נא למלא מספר טלפון.";
        None
    } else {
        match Phone::parse(&f.phone) {
            Ok(p) => Some(p),
            Err(_) => {
                e.phone = "מספר הטלפון אינו תקין (למשל 050-1234567).";
                None
            }
        }
    };
    let status = if f.status.is_empty() {
        "new"
    } else {
        f.status.as_str()
    };
    if !STATUSES.iter().any(|(s, _)| *s == status) {
        e.status = "סטטוס לא מוכר.";
    }
    if f.name.chars().count() > 200 {
        e.name = "השם ארוך מדי (עד 200 תווים).";
    }
    if f.tags.chars().count() > 500 {
        e.tags = "התגיות ארוכות מדי (עד 500 תווים).";
    }
    if f.notes.chars().count() > 10_000 {
        e.notes = "ההערות ארוכות מדי (עד 10,000 תווים).";
    }
    let email = f.email.trim();
    if email.chars().count() > 200 {
        e.email = "כתובת האימייל ארוכה מדי.";
    } else if !email.is_empty() && !email_looks_valid(email) {
        e.email = "כתובת האימייל אינה תקינה (למשל dana@example.co.il).";
    }
    match phone {
        Some(p) if !e.any() => Ok((p, status.to_string())),
        _ => Err(e),
    }
}

/// `local@domain.tld`: one `@`, something before it, a dot inside the domain, no spaces.
fn email_looks_valid(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
        && domain
            .split_once('.')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(phone: &str, email: &str) -> LeadForm {
        LeadForm {
            phone: phone.into(),
            email: email.into(),
            ..LeadForm::default()
        }
    }

    #[test]
    fn every_field_is_checked_at_once() {
        let e = validate(&form("", "dana@")).unwrap_err();
        assert_eq!(e.phone, "נא למלא מספר טלפון.");
        assert!(e.email.contains("אינה תקינה"));
        let e = validate(&form("12", "")).unwrap_err();
        assert!(e.phone.contains("אינו תקין") && e.email.is_empty());
        let (phone, status) = validate(&form("050-1234567", "dana@example.co.il")).unwrap();
        assert_eq!((phone.as_str(), status.as_str()), ("+972501234567", "new"));
        for bad in ["a@b", "@b.co", "a b@c.co", "a@b.", "a@@b.co"] {
            assert!(!email_looks_valid(bad), "{bad}");
        }
    }
}
