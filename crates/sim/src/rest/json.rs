//! The JSON shapes of Twilio's resources and errors.
//!
//! Clients (ours and Twilio's official ones) read these fields by name, so they follow
//! Twilio's documented representations: snake_case keys, RFC 2822 dates, durations as
//! strings, `uri`s relative to the API host.

use std::time::SystemTime;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::{CallInfo, MessageInfo, StoredRecording};
use crate::time_fmt::rfc2822;

/// `{"code":20003,"message":"Authenticate","more_info":"…/20003","status":401}`.
pub(crate) fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn date(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc2822(t)))
}

pub(crate) fn call(account: &str, c: &CallInfo) -> Value {
    let base = format!("/2010-04-01/Accounts/{account}/Calls/{}", c.sid);
    json!({
        "sid": c.sid,
        "account_sid": account,
        "api_version": "2010-04-01",
        "date_created": date(Some(c.date_created)),
        "date_updated": date(Some(SystemTime::now())),
        "parent_call_sid": null,
        "to": c.to,
        "to_formatted": c.to,
        "from": c.from,
        "from_formatted": c.from,
        "phone_number_sid": null,
        "status": c.status,
        "start_time": date(c.start_time),
        "end_time": date(c.end_time),
        "duration": c.duration_secs.map(|d| d.to_string()),
        "price": null,
        "price_unit": "USD",
        "direction": c.direction,
        "answered_by": null,
        "forwarded_from": null,
        "group_sid": null,
        "caller_name": null,
        "queue_time": "0",
        "trunk_sid": null,
        "uri": format!("{base}.json"),
        "subresource_uris": {
            "recordings": format!("{base}/Recordings.json"),
            "notifications": format!("{base}/Notifications.json"),
            "events": format!("{base}/Events.json"),
        },
    })
}

pub(crate) fn recording(account: &str, api_base: &str, r: &StoredRecording) -> Value {
    let uri = format!("/2010-04-01/Accounts/{account}/Recordings/{}", r.info.sid);
    json!({
        "sid": r.info.sid,
        "account_sid": account,
        "api_version": "2010-04-01",
        "call_sid": r.info.call_sid,
        "conference_sid": null,
        "channels": r.info.channels,
        "date_created": date(Some(r.created)),
        "date_updated": date(Some(r.created)),
        "start_time": date(Some(r.created)),
        "duration": crate::call::whole_secs(r.info.duration).to_string(),
        "price": null,
        "price_unit": "USD",
        "status": "completed",
        "source": r.info.source,
        "error_code": null,
        "encryption_details": null,
        "track": "both",
        "uri": format!("{uri}.json"),
        "media_url": format!("{api_base}{uri}"),
        "subresource_uris": {
            "transcriptions": format!("{uri}/Transcriptions.json"),
        },
    })
}

pub(crate) fn message(account: &str, m: &MessageInfo) -> Value {
    let uri = format!("/2010-04-01/Accounts/{account}/Messages/{}", m.sid);
    json!({
        "sid": m.sid,
        "account_sid": account,
        "api_version": "2010-04-01",
        "body": m.body,
        "date_created": date(Some(m.date_created)),
        "date_sent": null,
        "date_updated": date(Some(SystemTime::now())),
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": m.from,
        "to": m.to,
        "messaging_service_sid": null,
        "num_media": "0",
        "num_segments": "1",
        "price": null,
        "price_unit": "USD",
        "status": m.status,
        "uri": format!("{uri}.json"),
        "subresource_uris": { "media": format!("{uri}/Media.json") },
    })
}

/// Twilio's list envelope around `items` under `key`.
pub(crate) fn page(key: &str, uri: &str, items: Vec<Value>) -> Value {
    let n = items.len();
    json!({
        key: items,
        "page": 0,
        "page_size": 50,
        "start": 0,
        "end": n.saturating_sub(1),
        "uri": uri,
        "first_page_uri": uri,
        "next_page_uri": null,
        "previous_page_uri": null,
    })
}
