//! Google Calendar API v3, as the appointment book uses it (#19, X3): a staff member's
//! calendar, shared with the service account of `GOOGLE_APPLICATION_CREDENTIALS` (or
//! `GCP_CREDENTIALS_JSON`), gives its busy times (`freeBusy.query`) and receives our
//! bookings as events (`events.insert`, `patch`, `delete`). The access token comes from
//! the key file's `token_uri` (an RS256-signed JWT assertion, calendar scope) and is cached
//! until shortly before it expires. `GOOGLE_CALENDAR_API_BASE` points the calls elsewhere
//! (a stand-in in tests).
//!
//! Busy times are asked for with a short deadline: when Google is slow or down, the book
//! goes on with our own calendar only (logged), so booking never waits on Google.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::gauth::TokenSource;
use crate::config::Settings;

/// The scope that lets the service account read free/busy and write events.
pub const SCOPE: &str = "https://www.googleapis.com/auth/calendar";
/// How long availability waits for Google's busy times.
const FREE_BUSY_DEADLINE: Duration = Duration::from_secs(2);
/// How long one event write may take (it runs in a job).
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// Events are shown in Israel's time.
const TIME_ZONE: &str = "Asia/Jerusalem";

/// A connected Google account: cheap to clone and share.
#[derive(Clone, Debug)]
pub struct Google {
    auth: TokenSource,
    client: reqwest::Client,
    base: String,
}

/// Why a call to Google failed.
#[derive(Debug, thiserror::Error)]
pub enum GcalError {
    /// Worth trying again later (a timeout, a 5xx, 429, no token).
    #[error("{0}")]
    Transient(String),
    /// Google refused the request itself (a 4xx other than 404/409/410/429).
    #[error("{0}")]
    Refused(String),
    /// No such event (404, 410).
    #[error("event not found")]
    Gone,
    /// An event with that id exists already (409).
    #[error("event exists")]
    Exists,
}

impl Google {
    /// The account of the configured credentials, or `None` when there are none.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Google>> {
        let Some(secret) = &settings.google_credentials else {
            return Ok(None);
        };
        // Checked the way the speech providers check it (a clear error at start-up).
        crate::providers::google_credentials(settings)?;
        let raw = secret.expose();
        let json = if raw.trim_start().starts_with('{') {
            raw.to_string()
        } else {
            std::fs::read_to_string(raw)?
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Some(Google {
            auth: TokenSource::from_json(&json, SCOPE)?,
            client,
            base: settings.google_calendar_api_base.clone(),
        }))
    }

    fn calendar_url(&self, calendar_id: &str, rest: &str) -> String {
        let id: String = url::form_urlencoded::byte_serialize(calendar_id.as_bytes()).collect();
        // byte_serialize writes spaces as '+', which a path must not.
        format!(
            "{}/calendars/{}/events{rest}",
            self.base,
            id.replace('+', "%20")
        )
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, GcalError> {
        let token = self.auth.token().await.map_err(GcalError::Transient)?;
        let resp = req
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| GcalError::Transient(format!("Google Calendar: {e}")))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(resp),
            404 | 410 => Err(GcalError::Gone),
            409 => Err(GcalError::Exists),
            408 | 429 | 500..=599 => Err(GcalError::Transient(format!(
                "Google Calendar answered HTTP {status}"
            ))),
            _ => {
                let body: String = resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                Err(GcalError::Refused(format!(
                    "Google Calendar answered HTTP {status}: {body}"
                )))
            }
        }
    }

    /// Busy intervals of each calendar in `[from, to)`, as `(calendar_id, start, end)`.
    /// A calendar Google reports an error for gives none. `None` when Google is down or
    /// slower than the deadline: then nothing is blocked (logged, never an error).
    pub async fn busy(
        &self,
        calendars: &[&str],
        from: Timestamp,
        to: Timestamp,
    ) -> Option<Vec<(String, Timestamp, Timestamp)>> {
        if calendars.is_empty() {
            return Some(Vec::new());
        }
        match tokio::time::timeout(FREE_BUSY_DEADLINE, self.free_busy(calendars, from, to)).await {
            Ok(Ok(busy)) => Some(busy),
            Ok(Err(e)) => {
                crate::telemetry::count_error("google_free_busy");
                tracing::warn!(error = %e, "GOOGLE_FREEBUSY_FAILED: our own calendar only");
                None
            }
            Err(_) => {
                crate::telemetry::count_error("google_free_busy");
                tracing::warn!("GOOGLE_FREEBUSY_TIMEOUT: our own calendar only");
                None
            }
        }
    }

    async fn free_busy(
        &self,
        calendars: &[&str],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(String, Timestamp, Timestamp)>, GcalError> {
        let body = json!({
            "timeMin": from.to_string(),
            "timeMax": to.to_string(),
            "timeZone": TIME_ZONE,
            "items": calendars.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>(),
        });
        let resp = self
            .send(
                self.client
                    .post(format!("{}/freeBusy", self.base))
                    .json(&body),
            )
            .await?;
        let v: Value = resp
            .json()
            .await
            .map_err(|e| GcalError::Transient(format!("freeBusy answer: {e}")))?;
        let mut out = Vec::new();
        for id in calendars {
            let cal = &v["calendars"][*id];
            if let Some(errors) = cal["errors"].as_array().filter(|e| !e.is_empty()) {
                let errors = Value::Array(errors.clone()).to_string();
                tracing::warn!(calendar = %id, errors = %errors,
                    "GOOGLE_FREEBUSY_CALENDAR_ERROR: not counted as busy");
                continue;
            }
            for b in cal["busy"].as_array().into_iter().flatten() {
                let (Some(s), Some(e)) = (b["start"].as_str(), b["end"].as_str()) else {
                    continue;
                };
                if let (Ok(s), Ok(e)) = (s.parse::<Timestamp>(), e.parse::<Timestamp>())
                    && s < e
                {
                    out.push((id.to_string(), s, e));
                }
            }
        }
        Ok(out)
    }

    /// Inserts `event` with our own id `event_id`; its id as Google has it.
    pub async fn insert(
        &self,
        calendar_id: &str,
        event_id: &str,
        event: &Value,
    ) -> Result<String, GcalError> {
        let mut body = event.clone();
        body["id"] = json!(event_id);
        let resp = self
            .send(
                self.client
                    .post(self.calendar_url(calendar_id, ""))
                    .timeout(WRITE_TIMEOUT)
                    .json(&body),
            )
            .await?;
        let v: Value = resp
            .json()
            .await
            .map_err(|e| GcalError::Transient(format!("events.insert answer: {e}")))?;
        Ok(v["id"].as_str().unwrap_or(event_id).to_string())
    }

    pub async fn patch(
        &self,
        calendar_id: &str,
        event_id: &str,
        event: &Value,
    ) -> Result<(), GcalError> {
        self.send(
            self.client
                .patch(self.calendar_url(calendar_id, &format!("/{}", path_part(event_id))))
                .timeout(WRITE_TIMEOUT)
                .json(event),
        )
        .await
        .map(drop)
    }

    pub async fn delete(&self, calendar_id: &str, event_id: &str) -> Result<(), GcalError> {
        self.send(
            self.client
                .delete(self.calendar_url(calendar_id, &format!("/{}", path_part(event_id))))
                .timeout(WRITE_TIMEOUT),
        )
        .await
        .map(drop)
    }
}

fn path_part(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A time as Google's `dateTime`: RFC 3339 with Israel's offset.
pub fn israel_rfc3339(t: Timestamp) -> String {
    super::time::show_ts(t)
}

/// An event's `start` or `end`.
pub fn event_time(t: Timestamp) -> Value {
    json!({ "dateTime": israel_rfc3339(t), "timeZone": TIME_ZONE })
}
