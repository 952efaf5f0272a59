//! The e-mail that carries a team link (#20): an invitation or a password reset, sent at
//! once over `SMTP_URL` (the same server as notifications, `notify/email.rs`) with a Hebrew
//! subject and a right-to-left body. Without SMTP, or when the server refuses, nothing is
//! sent and the owner is shown the link to pass on; the link itself is never logged.

use std::time::Duration;

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Settings;

/// Which link the e-mail carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Invite,
    Reset,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="he" dir="rtl"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body dir="rtl" style="font-family:Arial,sans-serif;text-align:right;direction:rtl">
<h1 style="font-size:20px">{{ subject }}</h1>
<p>{{ lead }}</p>
<p><a href="{{ url }}" style="display:inline-block;padding:10px 18px;background:#0b5cad;color:#fff;border-radius:6px;text-decoration:none">{{ action }}</a></p>
<p>אם הכפתור לא נפתח, אפשר להעתיק את הקישור לדפדפן:<br><span dir="ltr">{{ url }}</span></p>
<p>הקישור תקף ל-72 שעות ולשימוש אחד בלבד. אם לא ציפית להודעה הזו, אפשר להתעלם ממנה.</p>
<p>מוקדן · מענה טלפוני חכם בעברית</p>
</body></html>"#
)]
struct Html<'a> {
    subject: &'a str,
    lead: &'a str,
    action: &'a str,
    url: &'a str,
}

/// A business name made safe for one header line.
fn one_line(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect::<String>()
        .trim()
        .to_string()
}

/// The message: Hebrew subject, plain text and RTL HTML.
pub fn compose(from: &str, to: &str, kind: Kind, business: &str, url: &str) -> Option<Message> {
    let business = one_line(business);
    let (subject, lead, action) = match kind {
        Kind::Invite => (
            if business.is_empty() {
                "הוזמנת להצטרף למוקדן".to_string()
            } else {
                format!("הוזמנת להצטרף לצוות של {business} במוקדן")
            },
            "כדי להצטרף, פתחו את הקישור, בחרו שם וסיסמה, ותיכנסו מיד.",
            "הצטרפות לצוות",
        ),
        Kind::Reset => (
            "איפוס הסיסמה שלך במוקדן".to_string(),
            "ביקשו עבורך סיסמה חדשה. פתחו את הקישור ובחרו סיסמה חדשה.",
            "בחירת סיסמה חדשה",
        ),
    };
    let html = Html {
        subject: &subject,
        lead,
        action,
        url,
    }
    .render()
    .ok()?;
    let text = format!("{subject}\n\n{lead}\n\n{url}\n\nהקישור תקף ל-72 שעות ולשימוש אחד בלבד.\n");
    Message::builder()
        .from(from.parse::<Mailbox>().ok()?)
        .to(Mailbox::new(None, to.parse().ok()?))
        .subject(subject)
        .multipart(MultiPart::alternative_plain_html(text, html))
        .ok()
}

/// Sends the link; true when the SMTP server took it. False without `SMTP_URL`, or on any
/// failure (logged without the link or the URL's password).
pub async fn send(settings: &Settings, to: &str, kind: Kind, business: &str, url: &str) -> bool {
    let Some(smtp) = &settings.smtp_url else {
        return false;
    };
    let Some(message) = compose(&settings.smtp_from, to, kind, business, url) else {
        tracing::warn!("TEAM_MAIL_UNBUILDABLE");
        return false;
    };
    let Ok(transport) = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp.expose()) else {
        tracing::warn!("TEAM_MAIL_BAD_SMTP_URL");
        return false;
    };
    let transport = transport.timeout(Some(Duration::from_secs(15))).build();
    match transport.send(message).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(error = %e, "TEAM_MAIL_FAILED");
            false
        }
    }
}
