//! What a notification says (#22): the Hebrew subject, the right-to-left HTML body and its
//! plain-text twin, and the short WhatsApp text, from the call as stored when it is sent.
//!
//! Everything the caller controls (their name, their words in the summary and the reason)
//! goes into the HTML through askama's escaping, and into headers with line breaks and
//! control characters removed: a caller cannot inject markup or headers by what they say.

use askama::Template;

use super::{Delivery, Event};
use crate::config::Settings;
use crate::domain::Phone;
use crate::store::{Db, businesses, calls, customers};

/// A message about one event, ready for any channel.
#[derive(Clone, Debug, Default)]
pub struct Note {
    pub event: Option<Event>,
    pub business: String,
    /// The caller as a person reads them: the lead's name, else the name they gave.
    pub caller_name: Option<String>,
    /// `050-123-4567`, or E.164 abroad.
    pub phone: Option<String>,
    pub reason: Option<String>,
    pub summary: Option<String>,
    /// Hebrew: דחופה / רגילה / נמוכה.
    pub urgency: Option<String>,
    pub callback_time: Option<String>,
    /// The call's page in the web app, absolute when PUBLIC_BASE_URL is set.
    pub link: String,
    /// Free text of a non-call event (a booking's details).
    pub details: Option<String>,
    /// The business's own WhatsApp number (the sender, where the provider uses one).
    pub business_whatsapp: Option<String>,
}

/// Text from a caller, made safe for a header or one line: no control characters, bounded.
pub fn one_line(s: &str, max: usize) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() > max {
        let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        joined
    }
}

fn urgency_label(u: &str) -> Option<String> {
    crate::domain::urgency_label(u).map(str::to_string)
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

impl Note {
    /// The note of a delivery from what is stored now; `None` when its call is gone (or is
    /// not the business's).
    pub async fn load(
        db: &Db,
        settings: &Settings,
        d: &Delivery,
    ) -> Result<Option<Note>, sqlx::Error> {
        let business = businesses::get(db, d.business_id).await?;
        let mut note = Note {
            event: Some(d.event),
            business: business
                .as_ref()
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            business_whatsapp: business.and_then(|b| b.whatsapp_number),
            link: format!(
                "{}/app/biz",
                settings.public_base_url.as_deref().unwrap_or("")
            ),
            details: d
                .data
                .get("details")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            ..Default::default()
        };
        let Some(call_sid) = &d.call_sid else {
            // Not about a call (an appointment): who it is about, as the event carries it.
            note.caller_name = nonempty(d.data.get("name").and_then(|v| v.as_str()));
            note.phone = nonempty(d.data.get("phone").and_then(|v| v.as_str())).map(|p| {
                Phone::parse(&p)
                    .map(|p| p.local_display())
                    .unwrap_or_else(|_| one_line(&p, 40))
            });
            return Ok(Some(note));
        };
        let Some(call) = calls::by_sid(db, call_sid)
            .await?
            .filter(|c| c.business_id == Some(d.business_id))
        else {
            return Ok(None);
        };
        let raw_phone = if call.direction.is_outbound() {
            call.to_number.as_deref()
        } else {
            call.from_number.as_deref()
        };
        note.phone = raw_phone.map(|p| {
            Phone::parse(p)
                .map(|p| p.local_display())
                .unwrap_or_else(|_| one_line(p, 40))
        });
        let lead = match call.customer_id {
            Some(id) => customers::get(db, d.business_id, id).await?,
            None => None,
        };
        note.caller_name = nonempty(lead.as_ref().and_then(|c| c.name.as_deref()))
            .or_else(|| nonempty(call.caller_name.as_deref()));
        note.reason = nonempty(call.caller_reason.as_deref());
        note.summary = nonempty(call.call_summary.as_deref());
        note.urgency = call.urgency.as_deref().and_then(urgency_label);
        note.callback_time = nonempty(call.callback_time.as_deref());
        note.link = format!(
            "{}/app/biz/calls/{}",
            settings.public_base_url.as_deref().unwrap_or(""),
            call.id
        );
        Ok(Some(note))
    }

    /// Who called, for one line: `דנה כהן (050-123-4567)`, the number, or "מספר חסוי".
    pub fn who(&self) -> String {
        match (&self.caller_name, &self.phone) {
            (Some(n), Some(p)) => format!("{} ({p})", one_line(n, 60)),
            (Some(n), None) => one_line(n, 60),
            (None, Some(p)) => p.clone(),
            (None, None) => "מספר חסוי".into(),
        }
    }

    fn headline(&self) -> &'static str {
        match self.event {
            Some(Event::CallUrgent) => "שיחה דחופה",
            Some(Event::AppointmentBooked) => "תור חדש",
            Some(Event::AppointmentCancelled) => "תור בוטל",
            _ => "שיחה חדשה",
        }
    }

    /// `שיחה חדשה מ-050-123-4567: תור לטיפול` (one line, bounded).
    pub fn subject(&self) -> String {
        let about = self
            .reason
            .as_deref()
            .or(self.details.as_deref())
            .or(self.callback_time.as_ref().map(|_| "ביקש/ה שיחה חוזרת"));
        let mut s = format!("{} מ-{}", self.headline(), self.who());
        if let Some(a) = about {
            s.push_str(": ");
            s.push_str(a);
        }
        one_line(&s, 150)
    }

    /// The HTML body (right to left, Hebrew), every value escaped.
    pub fn html(&self) -> String {
        EmailHtml { n: self }
            .render()
            .unwrap_or_else(|_| format!("<p>{}</p>", askama_escape(&self.text())))
    }

    /// The plain-text alternative.
    pub fn text(&self) -> String {
        EmailText { n: self }
            .render()
            .unwrap_or_else(|_| self.subject())
    }

    /// The WhatsApp message: short, one screen.
    pub fn whatsapp_text(&self) -> String {
        let mut lines = vec![format!("{} מ-{}", self.headline(), self.who())];
        if let Some(s) = &self.summary {
            lines.push(one_line(s, 600));
        } else if let Some(r) = &self.reason {
            lines.push(one_line(r, 200));
        }
        if let Some(d) = &self.details {
            lines.push(one_line(d, 300));
        }
        if let Some(u) = &self.urgency {
            lines.push(format!("דחיפות: {u}"));
        }
        if let Some(c) = &self.callback_time {
            lines.push(format!("לחזור: {}", one_line(c, 100)));
        }
        lines.push(self.link.clone());
        lines.join("\n")
    }

    /// The template's variables: 1 who, 2 what (reason or summary), 3 the link.
    pub fn template_variables(&self) -> std::collections::BTreeMap<String, String> {
        let what = self
            .reason
            .as_deref()
            .or(self.summary.as_deref())
            .or(self.details.as_deref())
            .unwrap_or("-");
        [
            ("1".to_string(), self.who()),
            ("2".to_string(), one_line(what, 300)),
            ("3".to_string(), self.link.clone()),
        ]
        .into_iter()
        .collect()
    }
}

fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[derive(Template)]
#[template(path = "email.html")]
struct EmailHtml<'a> {
    n: &'a Note,
}

#[derive(Template)]
#[template(path = "email.txt", whitespace = "preserve")]
struct EmailText<'a> {
    n: &'a Note,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hostile() -> Note {
        Note {
            event: Some(Event::CallSummarised),
            business: "מוסך <b>".into(),
            caller_name: Some("<script>alert(1)</script>\r\nBcc: x@evil".into()),
            phone: Some("050-123-4567".into()),
            reason: Some("תור\n<img src=x onerror=alert(1)>".into()),
            summary: Some("אמר \"<a href='http://evil'>כאן</a>\" & הלך".into()),
            urgency: Some("דחופה".into()),
            callback_time: Some("מחר ב-10:00".into()),
            link: "https://mokdan.example/app/biz/calls/7".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_callers_words_cannot_inject_markup_or_headers() {
        let n = hostile();
        let html = n.html();
        assert!(html.contains(r#"dir="rtl""#) && html.contains(r#"lang="he""#));
        for raw in ["<script>", "<img", "<a href='", "<b>"] {
            assert!(!html.contains(raw), "{raw} unescaped in {html}");
        }
        // Shown, as text.
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
        assert!(html.contains("https://mokdan.example/app/biz/calls/7"));
        let subject = n.subject();
        assert!(
            !subject.contains('\n') && !subject.contains('\r'),
            "{subject}"
        );
        assert!(subject.starts_with("שיחה חדשה מ-"));
        let text = n.text();
        assert!(text.contains("מחר ב-10:00") && text.contains("/app/biz/calls/7"));
    }

    #[test]
    fn lines_are_bounded() {
        assert_eq!(one_line("a\r\nb\tc", 10), "a b c");
        assert_eq!(one_line(&"א".repeat(20), 5).chars().count(), 5);
    }
}
