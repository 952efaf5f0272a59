//! `TwilioClient`: authenticated requests with timeouts and careful retries.
//!
//! Only idempotent requests (GETs, recording downloads) are retried, and only on
//! failures that may be momentary (connect errors, timeouts, 429, 5xx): retrying a
//! POST could place a second call or send a second message. Downloads are
//! confined to the configured API origin so a forged recording URL cannot make
//! the server fetch internal addresses with Twilio credentials attached.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;

use super::config::RestConfig;
use super::error::TwilioError;
use super::resources::{
    CallResource, CreateCall, CreateMessage, MessageResource, RecordingPage, RecordingResource,
    UpdateOutcome,
};

const API_PREFIX: &str = "/2010-04-01";
const MAX_ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_JSON_BYTES: usize = 4 << 20;
const MAX_RECORDING_BYTES: usize = 256 << 20;
const MAX_RECORDING_PAGES: usize = 20;
/// Twilio: "The requested resource was not found" (the call is gone).
const CODE_NOT_FOUND: u32 = 20404;
/// Twilio: "Call is not in-progress. Cannot redirect."
const CODE_NOT_IN_PROGRESS: u32 = 21220;

/// A client for one Twilio account. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    config: Arc<RestConfig>,
}

impl std::fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TwilioClient {
    pub fn new(mut config: RestConfig) -> Self {
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("mokdan-telephony/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            http,
            config: Arc::new(config),
        }
    }

    pub fn config(&self) -> &RestConfig {
        &self.config
    }

    /// Places an outbound call.
    pub async fn create_call(&self, call: &CreateCall) -> Result<CallResource, TwilioError> {
        let path = self.account_path("Calls.json")?;
        self.post_form(&path, &call.form()).await
    }

    /// Replaces a live call's TwiML, e.g. with the recording fallback.
    pub async fn update_call_twiml(
        &self,
        call_sid: &str,
        twiml: &str,
    ) -> Result<UpdateOutcome, TwilioError> {
        self.update_call(call_sid, vec![("Twiml", twiml.to_owned())])
            .await
    }

    /// Points a live call at new TwiML to be fetched (POST) from `url`.
    pub async fn update_call_url(
        &self,
        call_sid: &str,
        url: &str,
    ) -> Result<UpdateOutcome, TwilioError> {
        let form = vec![("Url", url.to_owned()), ("Method", "POST".to_owned())];
        self.update_call(call_sid, form).await
    }

    pub async fn fetch_call(&self, call_sid: &str) -> Result<CallResource, TwilioError> {
        let path = self.call_path(call_sid, ".json")?;
        self.get_json(&path).await
    }

    /// Every recording of a call, following Twilio's pagination.
    pub async fn list_recordings(
        &self,
        call_sid: &str,
    ) -> Result<Vec<RecordingResource>, TwilioError> {
        let mut path = self.call_path(call_sid, "/Recordings.json")?;
        let mut all = Vec::new();
        for _ in 0..MAX_RECORDING_PAGES {
            let page: RecordingPage = self.get_json(&path).await?;
            all.extend(page.recordings);
            match page.next_page_uri {
                Some(next) if next.starts_with(API_PREFIX) => path = next,
                _ => break,
            }
        }
        Ok(all)
    }

    /// Downloads recording audio. `media_url` is a URL on the API origin (as in
    /// the `RecordingUrl` webhook field) or a path on it; anything else is refused.
    pub async fn download_recording(&self, media_url: &str) -> Result<Bytes, TwilioError> {
        let url = self.same_origin_url(media_url)?;
        self.send_idempotent(&url, "GET recording", MAX_RECORDING_BYTES)
            .await
    }

    /// Sends an SMS or WhatsApp message.
    pub async fn create_message(
        &self,
        message: &CreateMessage,
    ) -> Result<MessageResource, TwilioError> {
        let path = self.account_path("Messages.json")?;
        self.post_form(&path, &message.form()).await
    }

    async fn update_call(
        &self,
        call_sid: &str,
        form: Vec<(&'static str, String)>,
    ) -> Result<UpdateOutcome, TwilioError> {
        let path = self.call_path(call_sid, ".json")?;
        match self.post_form::<CallResource>(&path, &form).await {
            Ok(_) => Ok(UpdateOutcome::Updated),
            Err(e) if matches!(e.code(), Some(CODE_NOT_FOUND | CODE_NOT_IN_PROGRESS)) => {
                tracing::info!(call_sid, code = e.code(), "call already ended; not updated");
                Ok(UpdateOutcome::AlreadyEnded)
            }
            Err(e) => Err(e),
        }
    }

    fn account_path(&self, tail: &str) -> Result<String, TwilioError> {
        let account = &self.config.account_sid;
        check_sid("account SID", account)?;
        Ok(format!("{API_PREFIX}/Accounts/{account}/{tail}"))
    }

    fn call_path(&self, call_sid: &str, tail: &str) -> Result<String, TwilioError> {
        check_sid("call SID", call_sid)?;
        self.account_path(&format!("Calls/{call_sid}{tail}"))
    }

    /// Resolves `target` and checks it shares the base URL's scheme, host and port.
    fn same_origin_url(&self, target: &str) -> Result<String, TwilioError> {
        let base = url::Url::parse(&self.config.base_url)
            .map_err(|e| TwilioError::InvalidArgument(format!("base_url: {e}")))?;
        let url = if target.starts_with('/') && !target.starts_with("//") {
            base.join(target)
        } else {
            url::Url::parse(target)
        }
        .map_err(|_| TwilioError::ForeignUrl(target.to_owned()))?;
        let same_origin = url.origin() == base.origin() && url.origin().is_tuple();
        if !same_origin || !url.username().is_empty() || url.password().is_some() {
            return Err(TwilioError::ForeignUrl(target.to_owned()));
        }
        Ok(url.into())
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, TwilioError> {
        let url = format!("{}{path}", self.config.base_url);
        let body = self
            .send_idempotent(&url, &format!("GET {path}"), MAX_JSON_BYTES)
            .await?;
        decode(&body)
    }

    async fn post_form<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&'static str, String)],
    ) -> Result<T, TwilioError> {
        let url = format!("{}{path}", self.config.base_url);
        let request = self.request(Method::POST, &url).form(form);
        let body = attempt(request, &format!("POST {path}"), MAX_JSON_BYTES).await?;
        decode(&body)
    }

    /// GETs `url`, retrying transient failures with exponential backoff.
    async fn send_idempotent(
        &self,
        url: &str,
        context: &str,
        limit: usize,
    ) -> Result<Bytes, TwilioError> {
        let mut backoff = FIRST_BACKOFF;
        let mut tries = 1;
        loop {
            match attempt(self.request(Method::GET, url), context, limit).await {
                Err(e) if e.is_transient() && tries < MAX_ATTEMPTS => {
                    tracing::warn!(%context, attempt = tries, error = %e, "retrying Twilio request");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .timeout(self.config.timeout)
            .header(reqwest::header::ACCEPT, "application/json")
    }
}

/// Sends once; a non-2xx status becomes `TwilioError::Api`.
async fn attempt(
    request: RequestBuilder,
    context: &str,
    limit: usize,
) -> Result<Bytes, TwilioError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| TwilioError::from_reqwest(e, context))?;
    let status = response.status();
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| TwilioError::from_reqwest(e, context))?
    {
        if body.len() + chunk.len() > limit {
            return Err(TwilioError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    if status.is_success() {
        Ok(body.freeze())
    } else {
        Err(TwilioError::from_response(status.as_u16(), &body))
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, TwilioError> {
    serde_json::from_slice(body).map_err(|e| TwilioError::Decode(e.to_string()))
}

/// SIDs go into URL paths, so only plain alphanumerics are accepted.
fn check_sid(kind: &str, sid: &str) -> Result<(), TwilioError> {
    if sid.is_empty() || sid.len() > 64 || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(TwilioError::InvalidArgument(format!("{kind} {sid:?}")));
    }
    Ok(())
}
