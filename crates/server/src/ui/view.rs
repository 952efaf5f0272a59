//! Rows turned into what the templates print: Hebrew labels, local phone numbers and
//! Israeli dates, computed once here so templates stay plain.

use super::data::calls::Call;
use super::data::leads::status_label;
use super::time;
use crate::domain::{CallDirection, CallStatus, Phone};
use crate::store::customers::Customer;

/// `050-123-4567` for an Israeli number; anything unparsable as it was.
pub fn phone(raw: &str) -> String {
    Phone::parse(raw)
        .map(|p| p.local_display())
        .unwrap_or_else(|_| raw.to_string())
}

pub fn call_status_label(status: &CallStatus) -> &'static str {
    match status {
        CallStatus::Queued => "בתור",
        CallStatus::Initiated => "מחייגת",
        CallStatus::Ringing => "מצלצלת",
        CallStatus::InProgress | CallStatus::Answered => "בשיחה",
        CallStatus::FallbackRecording => "הועברה להקלטה",
        CallStatus::Completed => "הסתיימה",
        CallStatus::Busy => "תפוס",
        CallStatus::Failed => "נכשלה",
        CallStatus::NoAnswer => "לא נענתה",
        CallStatus::Canceled => "בוטלה",
        CallStatus::Recorded => "הוקלטה",
        CallStatus::Transcribed => "תומללה",
        CallStatus::Other(_) => "לא ידוע",
    }
}

pub fn fallback_label(reason: &str) -> &'static str {
    match reason {
        "stream_never_started" => "הזרם לא התחיל",
        "stream_broken" => "הזרם נקטע",
        "no_media" | "media_timeout" => "לא הגיע קול",
        "dtmf_star" | "caller_pressed_star" => "המתקשר/ת לחץ/ה כוכבית",
        _ => "הועברה להקלטה",
    }
}

/// One option of a `<select>`: its value, its Hebrew label, and whether it is chosen.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// Why a call's media stream ended, as a business reads it (never the stored code).
pub fn stream_end_label(reason: &str) -> &'static str {
    match reason {
        "conversation_complete" => "השיחה הושלמה",
        "transferred" => "השיחה הועברה",
        "twilio_stop" => "השיחה נותקה",
        "socket_closed" => "החיבור נסגר",
        "server_shutdown" => "השרת הופעל מחדש",
        "refused" | "too_many_bad_messages" => "החיבור נדחה",
        "fallback" => "עברה להקלטה",
        other => fallback_label(other),
    }
}

/// Text cut to a length, on a character boundary.
pub fn excerpt(text: &str, max: usize) -> String {
    let t = text.trim();
    if t.chars().count() <= max {
        t.to_string()
    } else {
        format!("{}…", t.chars().take(max).collect::<String>().trim_end())
    }
}

#[derive(Clone, Debug)]
pub struct CallView {
    pub id: i64,
    pub when: String,
    pub when_iso: String,
    pub who: String,
    pub phone: String,
    pub inbound: bool,
    pub direction: &'static str,
    pub status: &'static str,
    pub status_class: &'static str,
    pub duration: String,
    pub summary: String,
    /// What the caller wanted, in their words as the summary job found them.
    pub reason: String,
    /// What staff marked came of the call, in Hebrew.
    pub disposition: Option<&'static str>,
    pub fallback: Option<&'static str>,
    pub live: bool,
}

impl CallView {
    /// Names the lead known by this call's number instead of the number or the name said.
    pub fn with_lead(mut self, name: Option<&String>) -> Self {
        if let Some(n) = name {
            self.who = n.clone();
        }
        self
    }
}

pub fn call(c: &Call, now: i64) -> CallView {
    let inbound = c.direction == CallDirection::Inbound;
    let other = if inbound {
        c.from_number.as_deref()
    } else {
        c.to_number.as_deref()
    };
    let phone_shown = other.map(phone).unwrap_or_else(|| "מספר חסוי".into());
    let live = c.status.is_live();
    CallView {
        id: c.id,
        when: time::relative(c.created_at, now),
        when_iso: time::iso(c.created_at),
        who: c
            .caller_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| phone_shown.clone()),
        phone: phone_shown,
        inbound,
        direction: if inbound { "נכנסת" } else { "יוצאת" },
        status: call_status_label(&c.status),
        status_class: if c.fallback_reason.is_some() {
            "warn"
        } else if live {
            "live"
        } else if c.status.is_unanswered() {
            "bad"
        } else {
            "ok"
        },
        duration: c
            .duration_secs
            .map(time::duration)
            .unwrap_or_else(|| "—".into()),
        summary: c
            .call_summary
            .as_deref()
            .or(c.caller_reason.as_deref())
            .map(|s| excerpt(s, 120))
            .unwrap_or_default(),
        reason: c
            .caller_reason
            .as_deref()
            .map(|s| excerpt(s, 80))
            .unwrap_or_default(),
        disposition: c
            .disposition
            .as_deref()
            .and_then(crate::domain::Disposition::parse)
            .map(crate::domain::Disposition::label),
        fallback: c.fallback_reason.as_deref().map(fallback_label),
        live,
    }
}

#[derive(Clone, Debug)]
pub struct LeadView {
    pub id: i64,
    pub name: String,
    pub phone: String,
    /// The number as dialled (`tel:` links): E.164.
    pub tel: String,
    pub email: String,
    pub status: String,
    pub status_label: &'static str,
    pub tags: String,
    pub source: String,
    pub created: String,
    pub updated: String,
}

pub fn lead(c: &Customer, now: i64) -> LeadView {
    LeadView {
        id: c.id,
        name: c
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "ללא שם".into()),
        phone: phone(&c.phone),
        tel: c.phone.clone(),
        email: c.email.clone().unwrap_or_default(),
        status: c.status.clone(),
        status_label: status_label(&c.status),
        tags: c.tags.clone(),
        source: match c.source.as_deref() {
            Some("call") => "שיחה".into(),
            Some("whatsapp") => "וואטסאפ".into(),
            Some("crm") => "הוזן ידנית".into(),
            Some("import") => "ייבוא".into(),
            Some("api") => "מערכת חיצונית".into(),
            Some(_) => "אחר".into(),
            None => "—".into(),
        },
        created: time::relative(c.created_at, now),
        updated: time::relative(c.updated_at, now),
    }
}

/// A page of results: where it is and the links around it.
#[derive(Clone, Debug)]
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the list's URL with its other query parameters (ending in `?` or `&`).
    pub fn new(base: &str, page: i64, per_page: i64, total: i64) -> Self {
        let pages = ((total + per_page - 1) / per_page).max(1);
        let page = page.clamp(1, pages);
        Pager {
            page,
            pages,
            total,
            prev: (page > 1).then(|| format!("{base}page={}", page - 1)),
            next: (page < pages).then(|| format!("{base}page={}", page + 1)),
        }
    }
}

/// Query-string encoding of one value.
pub fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_links() {
        let p = Pager::new("/x?q=a&", 2, 25, 60);
        assert_eq!(p.pages, 3);
        assert_eq!(p.prev.as_deref(), Some("/x?q=a&page=1"));
        assert_eq!(p.next.as_deref(), Some("/x?q=a&page=3"));
        let p = Pager::new("/x?", 9, 25, 0);
        assert_eq!((p.page, p.pages, p.prev, p.next), (1, 1, None, None));
    }

    #[test]
    fn phones_and_excerpts() {
        assert_eq!(phone("+972501234567"), "050-123-4567");
        assert_eq!(phone("anonymous"), "anonymous");
        assert_eq!(excerpt("אבגדה", 3), "אבג…");
    }
}
