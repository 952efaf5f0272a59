//! PATCH bodies: a field left out means "keep", `null` means "clear".
//!
//! `Option<Option<T>>` with [`some`] tells the two apart: absent → `None`, `null` →
//! `Some(None)`, a value → `Some(Some(v))`.

use serde::{Deserialize, Deserializer};

pub fn some<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// Trims text and turns empty into `None`.
pub fn clean(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// Refuses text longer than `max` characters, naming the field.
pub fn max_len(field: &str, text: Option<&str>, max: usize) -> Result<(), crate::error::AppError> {
    match text {
        Some(t) if t.chars().count() > max => Err(crate::error::AppError::BadRequest(format!(
            "{field}: at most {max} characters"
        ))),
        _ => Ok(()),
    }
}
