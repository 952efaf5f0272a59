//! Requests Twilio makes to the server: signed, timed, and judged as Twilio judges them.
//!
//! Twilio signs the exact URL plus the sorted POST fields, waits at most 15 s, treats
//! any non-2xx answer as a failure (11200) and only runs TwiML served as XML. Every
//! webhook and callback the sim sends goes through here, so all of them are checked
//! the same way and all of them land in the timeline with their latency.

use std::time::{Duration, Instant};

use crate::error::{ProtocolError, codes};

/// Twilio gives up on a webhook after 15 s.
pub(crate) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// A webhook's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// The outcome of one webhook: a line for the timeline and maybe a reply or an error.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub line: String,
    pub reply: Option<Reply>,
    pub error: Option<ProtocolError>,
}

/// The path (and query) of `url`, for readable timeline lines.
pub(crate) fn short(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// Sends one signed webhook. `method` is `GET` or `POST` (anything else is POST).
pub(crate) async fn send(
    http: &reqwest::Client,
    auth_token: &str,
    method: &str,
    url: &str,
    params: &[(String, String)],
) -> Outcome {
    let get = method.eq_ignore_ascii_case("GET");
    let verb = if get { "GET" } else { "POST" };
    let (target, signature) = if get {
        let query = serde_urlencoded::to_string(params).unwrap_or_default();
        let sep = if url.contains('?') { '&' } else { '?' };
        let full = if query.is_empty() {
            url.to_owned()
        } else {
            format!("{url}{sep}{query}")
        };
        let sig = telephony::signature::compute(auth_token, &full, &[]);
        (full, sig)
    } else {
        (
            url.to_owned(),
            telephony::signature::compute(auth_token, url, params),
        )
    };
    let mut req = if get {
        http.get(&target)
    } else {
        http.post(&target).form(params)
    };
    req = req
        .header("X-Twilio-Signature", signature)
        .header(
            "I-Twilio-Idempotency-Token",
            uuid::Uuid::new_v4().to_string(),
        )
        .header("Accept", "*/*")
        .timeout(WEBHOOK_TIMEOUT);
    let started = Instant::now();
    let label = format!("{verb} {}", short(url));
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return failed(&label, started, e),
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = match resp.text().await {
        Ok(b) => b,
        Err(e) => return failed(&label, started, e),
    };
    let latency = started.elapsed();
    let line = format!("{label} -> {status} in {} ms", latency.as_millis());
    let error = (!(200..300).contains(&status)).then(|| ProtocolError {
        code: codes::HTTP_RETRIEVAL_FAILURE,
        message: format!("{label} answered HTTP {status}"),
    });
    Outcome {
        line,
        reply: Some(Reply {
            status,
            content_type,
            body,
        }),
        error,
    }
}

fn failed(label: &str, started: Instant, e: reqwest::Error) -> Outcome {
    let waited = started.elapsed();
    let (code, what) = if e.is_timeout() {
        (codes::HTTP_TIMEOUT, "timed out")
    } else {
        (codes::HTTP_RETRIEVAL_FAILURE, "failed")
    };
    Outcome {
        line: format!("{label} {what} after {} ms", waited.as_millis()),
        reply: None,
        error: Some(ProtocolError {
            code,
            message: format!("{label} {what}: {e}"),
        }),
    }
}

/// True when Twilio would run a webhook answer with this Content-Type as TwiML.
pub(crate) fn is_twiml_type(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(mime.as_str(), "text/xml" | "application/xml" | "text/html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_content_types() {
        assert!(is_twiml_type("text/xml; charset=utf-8"));
        assert!(is_twiml_type("Application/XML"));
        assert!(!is_twiml_type("application/json"));
        assert!(!is_twiml_type(""));
    }

    #[test]
    fn short_urls() {
        assert_eq!(short("http://h:1/webhook/x?a=1"), "/webhook/x?a=1");
        assert_eq!(short("relative"), "relative");
    }
}
