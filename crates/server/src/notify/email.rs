//! Notification e-mail over SMTP (#22) with `lettre`: `SMTP_URL` names the server
//! (`smtp://host:port` in the clear, `smtp://…?tls=required` for STARTTLS, `smtps://` for
//! TLS from the first byte, with `user:pass@` when it wants a login), `SMTP_FROM` the
//! sender. The message is multipart: plain text and right-to-left HTML, Hebrew subject
//! (encoded by lettre as RFC 2047 words).
//!
//! A server that refuses for good (5xx: no such mailbox, …) ends the job `dead` at once;
//! anything else (unreachable, 4xx, a timeout) is retried by the queue with backoff.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::message::Note;
use super::state::NotifyState;
use super::{JobError, Sent};
use crate::store::notify::Recipient;

/// How long one conversation with the SMTP server may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// The message as it will be sent.
pub fn compose(from: &str, to: &Recipient, note: &Note) -> Result<Message, JobError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| JobError::permanent(format!("SMTP_FROM: {e}")))?;
    let to_box = Mailbox::new(
        None,
        to.email
            .parse()
            .map_err(|e| JobError::permanent(format!("the user's address: {e}")))?,
    );
    Message::builder()
        .from(from)
        .to(to_box)
        .subject(note.subject())
        .multipart(MultiPart::alternative_plain_html(note.text(), note.html()))
        .map_err(|e| JobError::permanent(format!("cannot build the e-mail: {e}")))
}

/// Hands one notification to the SMTP server.
pub async fn send(state: &NotifyState, to: &Recipient, note: &Note) -> Result<Sent, JobError> {
    let Some(url) = &state.settings.smtp_url else {
        return Ok(Sent::NotConfigured(
            "no SMTP_URL configured: notification e-mail waits until it is set".into(),
        ));
    };
    let message = compose(&state.settings.smtp_from, to, note)?;
    // The URL may carry a password: its errors are reported without it.
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
        .map_err(|_| JobError::permanent("SMTP_URL is not a usable SMTP URL"))?
        .timeout(Some(SMTP_TIMEOUT))
        .build();
    match transport.send(message).await {
        Ok(response) => Ok(Sent::Done(
            response
                .message()
                .next()
                .unwrap_or("accepted")
                .chars()
                .take(120)
                .collect(),
        )),
        Err(e) if e.is_permanent() => Err(JobError::permanent(format!("SMTP refused: {e}"))),
        Err(e) => Err(JobError::retry(format!("SMTP: {e}"))),
    }
}
