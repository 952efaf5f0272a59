//! Request parameters and response resources of the endpoints we call.
//!
//! Parameters turn into Twilio's form fields (PascalCase, repeated keys for
//! lists); resources keep only the fields mokdan reads. Twilio marks nearly every
//! field nullable and sends numbers as strings, so decoding is lenient: null
//! becomes empty, and durations accept strings or numbers.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `POST /Calls.json`: place an outbound call whose TwiML is fetched from `url`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateCall {
    pub to: String,
    pub from: String,
    pub url: String,
    pub status_callback: Option<String>,
    /// e.g. `initiated`, `ringing`, `answered`, `completed`.
    pub status_callback_events: Vec<String>,
    pub record: bool,
    /// With `record`: the two sides on their own channels (`RecordingChannels=dual`), so
    /// the recording is transcribed with the speakers told apart.
    pub record_dual: bool,
    pub recording_status_callback: Option<String>,
}

impl CreateCall {
    pub(crate) fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("To", self.to.clone()),
            ("From", self.from.clone()),
            ("Url", self.url.clone()),
        ];
        if let Some(cb) = &self.status_callback {
            form.push(("StatusCallback", cb.clone()));
            form.push(("StatusCallbackMethod", "POST".into()));
        }
        for event in &self.status_callback_events {
            form.push(("StatusCallbackEvent", event.clone()));
        }
        if self.record {
            form.push(("Record", "true".into()));
            if self.record_dual {
                form.push(("RecordingChannels", "dual".into()));
            }
        }
        if let Some(cb) = &self.recording_status_callback {
            form.push(("RecordingStatusCallback", cb.clone()));
        }
        form
    }
}

/// `POST /Messages.json`: an SMS or WhatsApp message (`whatsapp:+972...`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateMessage {
    pub to: String,
    pub from: String,
    pub body: Option<String>,
    pub status_callback: Option<String>,
    /// A Content API template, required outside WhatsApp's 24-hour window.
    pub content_sid: Option<String>,
    /// JSON object of template variables, e.g. `{"1":"Dana"}`.
    pub content_variables: Option<String>,
    pub media_url: Vec<String>,
}

impl CreateMessage {
    pub(crate) fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![("To", self.to.clone()), ("From", self.from.clone())];
        let optional = [
            ("Body", &self.body),
            ("StatusCallback", &self.status_callback),
            ("ContentSid", &self.content_sid),
            ("ContentVariables", &self.content_variables),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                form.push((name, value.clone()));
            }
        }
        for url in &self.media_url {
            form.push(("MediaUrl", url.clone()));
        }
        form
    }
}

/// What became of a request to change a live call's TwiML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    Updated,
    /// The call had already ended (Twilio code 20404 or 21220): nothing to do.
    AlreadyEnded,
}

/// A call, as returned by the Calls endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct CallResource {
    #[serde(deserialize_with = "null_as_empty")]
    pub sid: String,
    /// `queued`, `ringing`, `in-progress`, `completed`, `busy`, `failed`, ...
    #[serde(deserialize_with = "null_as_empty")]
    pub status: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub to: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub from: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub direction: String,
    /// Seconds; absent until the call has ended.
    #[serde(deserialize_with = "lenient_u32")]
    pub duration: Option<u32>,
}

/// A recording of a call.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct RecordingResource {
    #[serde(deserialize_with = "null_as_empty")]
    pub sid: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub call_sid: String,
    /// Seconds; absent (Twilio says `-1`) while still processing.
    #[serde(deserialize_with = "lenient_u32")]
    pub duration: Option<u32>,
    /// The resource's path, `/2010-04-01/Accounts/AC../Recordings/RE...json`.
    #[serde(deserialize_with = "null_as_empty")]
    pub uri: String,
    /// `processing`, `completed`, `absent`, `failed`, ...
    #[serde(deserialize_with = "null_as_empty")]
    pub status: String,
}

impl RecordingResource {
    /// The path of the audio itself (WAV), to pass to `download_recording`.
    pub fn media_path(&self) -> String {
        let path = self.uri.strip_suffix(".json").unwrap_or(&self.uri);
        format!("{path}.wav")
    }
}

/// A message, as returned by the Messages endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct MessageResource {
    #[serde(deserialize_with = "null_as_empty")]
    pub sid: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub status: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub to: String,
    #[serde(deserialize_with = "null_as_empty")]
    pub from: String,
    pub error_code: Option<u32>,
}

/// `{"recordings": [...]}` plus the next page's path, if any.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RecordingPage {
    pub recordings: Vec<RecordingResource>,
    pub next_page_uri: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Accepts `"12"`, `12`, `null` or `"-1"` (the last two as `None`).
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_twilio_shaped_resources_leniently() {
        let call: CallResource = serde_json::from_str(
            r#"{"sid":"CA1","status":"completed","to":"+972","from":null,"direction":"outbound-api","duration":"15","price":null}"#,
        )
        .unwrap();
        assert_eq!((call.from.as_str(), call.duration), ("", Some(15)));
        let rec: RecordingResource = serde_json::from_str(
            r#"{"sid":"RE1","call_sid":"CA1","duration":"-1","status":"processing","uri":"/2010-04-01/Accounts/AC1/Recordings/RE1.json"}"#,
        )
        .unwrap();
        assert_eq!(rec.duration, None);
        assert_eq!(
            rec.media_path(),
            "/2010-04-01/Accounts/AC1/Recordings/RE1.wav"
        );
        let msg: MessageResource =
            serde_json::from_str(r#"{"sid":"SM1","status":"failed","error_code":63016}"#).unwrap();
        assert_eq!(msg.error_code, Some(63016));
    }

    #[test]
    fn create_call_form_fields() {
        let call = CreateCall {
            to: "+972501234567".into(),
            from: "+97231234567".into(),
            url: "https://h.test/voice".into(),
            status_callback: Some("https://h.test/status".into()),
            status_callback_events: vec!["initiated".into(), "completed".into()],
            record: true,
            record_dual: false,
            recording_status_callback: Some("https://h.test/rec".into()),
        };
        let form = call.form();
        let events: Vec<_> = form
            .iter()
            .filter(|(k, _)| *k == "StatusCallbackEvent")
            .collect();
        assert_eq!(events.len(), 2);
        assert!(form.contains(&("Record", "true".into())));
        assert!(form.contains(&("StatusCallbackMethod", "POST".into())));
        let bare = CreateCall::default().form();
        assert_eq!(bare.len(), 3, "{bare:?}");
    }
}
