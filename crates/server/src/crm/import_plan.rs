//! What a spreadsheet row means, before anything is written (C3, #20).
//!
//! Shared by the import (`POST /api/customers/import`) and its preview
//! (`POST /api/customers/import/preview`), so what the preview says a row will do is what
//! the import does: the file's text (UTF-8 with or without a byte-order mark, or
//! Windows-1255, what Excel in Hebrew writes), which column holds which field (suggested
//! from Hebrew or English headers, or chosen by the person importing), and a row's lead
//! after the row, computed from the lead as it is (or none). Only mapped columns are read,
//! so a column left unmapped never touches an existing lead.

use std::collections::HashMap;

use super::csv;
use super::customers::{Tags, check_email, check_status, join_tags};
use crate::domain::Phone;
use crate::error::{ApiResult, AppError};
use crate::store::customers::Fields;

/// The fields a column can feed, with their Hebrew names for the web app.
pub const FIELDS: [(&str, &str); 6] = [
    ("name", "שם"),
    ("phone", "טלפון"),
    ("email", "אימייל"),
    ("status", "סטטוס"),
    ("tags", "תגיות"),
    ("notes", "הערות"),
];

/// A column the import leaves alone.
pub const IGNORE: &str = "ignore";

/// How a file's bytes were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Windows1255,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8-bom",
            Encoding::Windows1255 => "windows-1255",
        }
    }
}

/// The file's text and how it was read: UTF-8 (a byte-order mark dropped) when it is
/// valid UTF-8, else Windows-1255, the code page of Excel in Hebrew.
pub fn decode(bytes: &[u8]) -> (String, Encoding) {
    let (bytes, bom) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    match std::str::from_utf8(bytes) {
        Ok(text) if bom => (text.to_string(), Encoding::Utf8Bom),
        Ok(text) => (text.to_string(), Encoding::Utf8),
        Err(_) => (
            encoding_rs::WINDOWS_1255.decode(bytes).0.into_owned(),
            Encoding::Windows1255,
        ),
    }
}

/// The field a header names, in English or Hebrew; `None` for a column import ignores.
pub fn field_of(header: &str) -> Option<&'static str> {
    let h: String = header
        .trim()
        .trim_matches('"')
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, '"' | '\'' | '״' | '׳' | '-' | '_' | ' ' | '.'))
        .collect();
    Some(match h.as_str() {
        "phone" | "telephone" | "mobile" | "tel" | "טלפון" | "נייד" | "טלפוןנייד" | "מספרטלפון"
        | "מספרנייד" | "פלאפון" => "phone",
        "name" | "fullname" | "שם" | "שםמלא" | "שםהלקוח" | "לקוח" => "name",
        "email" | "mail" | "אימייל" | "מייל" | "דואל" | "דואראלקטרוני" => {
            "email"
        }
        "status" | "סטטוס" | "מצב" => "status",
        "tags" | "תגיות" | "תגית" => "tags",
        "notes" | "הערות" | "הערה" => "notes",
        _ => return None,
    })
}

/// A status as stored, or by its Hebrew name.
pub fn status_of(text: &str) -> String {
    let t = text.trim();
    crate::ui::data::leads::STATUSES
        .iter()
        .find(|(_, he)| *he == t)
        .map(|(s, _)| s.to_string())
        .unwrap_or_else(|| t.to_lowercase())
}

/// The Hebrew name of a field.
pub fn label(field: &str) -> &'static str {
    FIELDS
        .iter()
        .find(|(f, _)| *f == field)
        .map_or("", |(_, l)| *l)
}

/// Which column feeds which field: one entry per column of the file, and each field's
/// column (looked up once, not per cell: a file may have a million columns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    columns: Vec<Option<&'static str>>,
    of_field: [Option<usize>; FIELDS.len()],
}

impl Mapping {
    fn new(columns: Vec<Option<&'static str>>) -> Self {
        let mut of_field = [None; FIELDS.len()];
        for (i, (f, _)) in FIELDS.iter().enumerate() {
            of_field[i] = columns.iter().position(|c| *c == Some(*f));
        }
        Mapping { columns, of_field }
    }

    /// The mapping the headers suggest; the first column naming a field wins.
    pub fn suggest(head: &[String]) -> Self {
        let mut taken = Vec::new();
        Mapping::new(
            head.iter()
                .map(|h| {
                    let f = field_of(h).filter(|f| !taken.contains(f))?;
                    taken.push(f);
                    Some(f)
                })
                .collect(),
        )
    }

    /// A mapping as the API takes it: comma-separated, one entry per column in order, each
    /// a field (`name`, `phone`, `email`, `status`, `tags`, `notes`, or its Hebrew name) or
    /// `ignore` (or empty). Columns past the list's end are ignored.
    pub fn parse(text: &str, width: usize) -> Result<Self, String> {
        let mut out: Vec<Option<&'static str>> = Vec::new();
        for (i, entry) in text.split(',').enumerate() {
            let e = entry.trim().to_lowercase();
            let field = if e.is_empty() || e == IGNORE {
                None
            } else {
                let f = FIELDS
                    .iter()
                    .find(|(f, l)| *f == e || *l == e)
                    .map(|(f, _)| *f)
                    .ok_or_else(|| {
                        format!(
                            "mapping: column {}: {:?} is not a field (name, phone, email, \
                             status, tags, notes or ignore)",
                            i + 1,
                            entry.chars().take(40).collect::<String>()
                        )
                    })?;
                if out.contains(&Some(f)) {
                    return Err(format!("mapping: `{f}` is given to two columns"));
                }
                Some(f)
            };
            if i >= width && field.is_some() {
                return Err(format!(
                    "mapping: column {} is mapped but the file has {width} columns",
                    i + 1
                ));
            }
            out.push(field);
        }
        out.truncate(width);
        out.resize(width, None);
        Ok(Mapping::new(out))
    }

    /// The column feeding a field.
    pub fn index(&self, field: &str) -> Option<usize> {
        let i = FIELDS.iter().position(|(f, _)| *f == field)?;
        self.of_field[i]
    }

    /// Each column's field, `ignore` for the rest.
    pub fn names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|f| f.unwrap_or(IGNORE)).collect()
    }

    /// A row's value for a field: the mapped cell, trimmed, its formula guard removed;
    /// `None` when unmapped or empty.
    pub fn get(&self, cells: &[String], field: &str) -> Option<String> {
        self.index(field)
            .and_then(|i| cells.get(i))
            .map(|c| csv::unguard(c.trim()).to_string())
            .filter(|c| !c.is_empty())
    }
}

/// The phone of a row, the key that finds an existing lead.
pub fn phone_of(m: &Mapping, cells: &[String]) -> ApiResult<Phone> {
    let raw = m
        .get(cells, "phone")
        .ok_or_else(|| AppError::BadRequest("phone is empty".into()))?;
    Phone::parse(&raw).map_err(|e| AppError::BadRequest(format!("phone: {e}")))
}

/// The lead after a row: `existing` (or a new lead) with the row's non-empty mapped cells.
pub fn apply(
    m: &Mapping,
    cells: &[String],
    phone: &Phone,
    existing: Option<&Fields>,
) -> ApiResult<Fields> {
    let mut f = existing.cloned().unwrap_or_else(|| Fields {
        phone: phone.to_string(),
        status: "new".into(),
        ..Default::default()
    });
    if let Some(n) = m.get(cells, "name") {
        f.name = Some(n);
    }
    if let Some(e) = m.get(cells, "email") {
        f.email = check_email(Some(e))?;
    }
    if let Some(s) = m.get(cells, "status") {
        f.status = check_status(&status_of(&s))?;
    }
    if let Some(tags) = m.get(cells, "tags") {
        f.tags = join_tags(Tags::Text(tags))?;
    }
    if let Some(n) = m.get(cells, "notes") {
        f.notes = n;
    }
    super::patch::max_len("name", f.name.as_deref(), 200)?;
    super::patch::max_len("notes", Some(&f.notes), 10_000)?;
    Ok(f)
}

/// The fields a row changes on an existing lead.
pub fn changes(old: &Fields, new: &Fields) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.name != new.name {
        out.push("name");
    }
    if old.email != new.email {
        out.push("email");
    }
    if old.status != new.status {
        out.push("status");
    }
    if old.tags != new.tags {
        out.push("tags");
    }
    if old.notes != new.notes {
        out.push("notes");
    }
    out
}

/// A rename a row makes: the lead's old and new names.
pub fn renamed(old: &Fields, new: &Fields) -> Option<(String, String)> {
    match (&old.name, &new.name) {
        (Some(from), Some(to)) if from != to => Some((from.clone(), to.clone())),
        _ => None,
    }
}

/// The Hebrew reason for an English row error.
pub fn reason(message: &str) -> String {
    let m = message.to_lowercase();
    if m.starts_with("phone is empty") {
        "חסר מספר טלפון".into()
    } else if m.starts_with("phone") {
        "מספר הטלפון אינו תקין".into()
    } else if m.starts_with("status") {
        "סטטוס לא מוכר (חדש, נוצר קשר, מתעניין, נסגר, לא רלוונטי)".into()
    } else if m.starts_with("email") {
        "כתובת האימייל אינה תקינה".into()
    } else if m.starts_with("tags") {
        "התגיות אינן תקינות".into()
    } else if m.starts_with("name") {
        "השם ארוך מדי".into()
    } else if m.starts_with("notes") {
        "ההערות ארוכות מדי".into()
    } else if m.contains("already") {
        "המספר כבר שייך לליד אחר".into()
    } else {
        "השורה אינה תקינה".into()
    }
}

/// Leads as earlier rows of the same file left them, by phone: a preview's stand-in for
/// the writes it does not make.
pub type Pending = HashMap<String, Fields>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1255_and_utf8_with_or_without_bom_read_the_same() {
        let text = "שם,טלפון\r\nדנה,050-1234567\r\n";
        let (cp1255, _, bad) = encoding_rs::WINDOWS_1255.encode(text);
        assert!(!bad);
        assert_eq!(decode(&cp1255), (text.to_string(), Encoding::Windows1255));
        assert_eq!(decode(text.as_bytes()), (text.to_string(), Encoding::Utf8));
        assert_eq!(
            decode(format!("\u{feff}{text}").as_bytes()),
            (text.to_string(), Encoding::Utf8Bom)
        );
    }

    #[test]
    fn hebrew_headers_and_statuses_are_understood() {
        for (h, f) in [
            ("טלפון", "phone"),
            ("מספר טלפון", "phone"),
            ("Phone", "phone"),
            ("שם מלא", "name"),
            ("דוא\"ל", "email"),
            ("דוא״ל", "email"),
            ("סטטוס", "status"),
            ("הערות", "notes"),
        ] {
            assert_eq!(field_of(h), Some(f), "{h}");
        }
        assert_eq!(field_of("עיר"), None);
        assert_eq!(status_of("נוצר קשר"), "contacted");
        assert_eq!(status_of("Won"), "won");
    }

    #[test]
    fn mappings_are_suggested_and_parsed() {
        let head: Vec<String> = ["שם", "עיר", "טלפון", "נייד"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let m = Mapping::suggest(&head);
        assert_eq!(m.names(), ["name", "ignore", "phone", "ignore"]);
        let m = Mapping::parse("ignore,,notes,טלפון", 4).unwrap();
        assert_eq!(m.names(), ["ignore", "ignore", "notes", "phone"]);
        assert_eq!(Mapping::parse("phone", 3).unwrap().names().len(), 3);
        assert_eq!(
            Mapping::parse("phone,,,ignore", 2).unwrap().names().len(),
            2
        );
        assert!(Mapping::parse("phone,phone", 2).is_err());
        assert!(Mapping::parse("phone,city", 2).is_err());
        assert!(Mapping::parse(",,phone", 2).is_err());
    }

    proptest::proptest! {
        /// Any bytes and any mapping text: never a panic, and a mapping that parses covers
        /// exactly the file's columns with each field at most once.
        #[test]
        fn any_file_and_mapping_is_read_or_refused(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            mapping in "[a-z,אבגטלפוןשם ]{0,40}",
            width in 0usize..8,
        ) {
            let (text, _) = decode(&bytes);
            if let Ok(rows) = csv::parse(&text)
                && let Some((_, head)) = rows.first()
            {
                let m = Mapping::suggest(head);
                proptest::prop_assert_eq!(m.names().len(), head.len());
                for (_, cells) in &rows {
                    let _ = m.get(cells, "phone");
                }
            }
            if let Ok(m) = Mapping::parse(&mapping, width) {
                let names = m.names();
                proptest::prop_assert_eq!(names.len(), width);
                for (f, _) in FIELDS {
                    proptest::prop_assert!(names.iter().filter(|n| **n == f).count() <= 1);
                }
            }
        }
    }
}
