//! Leads (customers) as the app lists, shows and edits them; the queries are the store's
//! ([`crate::store::leads`]).

pub use crate::store::leads::{
    AuthoredNote, LeadFields, Search, create, newest, notes, search, update,
};

/// The statuses a lead moves through, with their Hebrew names.
pub const STATUSES: &[(&str, &str)] = &[
    ("new", "חדש"),
    ("contacted", "נוצר קשר"),
    ("qualified", "מתעניין"),
    ("won", "נסגר"),
    ("lost", "לא רלוונטי"),
];

pub fn status_label(status: &str) -> &'static str {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, l)| *l)
        .unwrap_or("אחר")
}
