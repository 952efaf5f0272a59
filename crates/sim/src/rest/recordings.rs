//! `Recordings`: list them, fetch their JSON or their audio, start a call recording.
//!
//! mokdan downloads every recording after the call to transcribe it; the media is
//! served behind the same Basic auth as the rest of the API, as a WAV (Twilio's
//! default media format when no extension is given).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Authed;
use super::auth::{json_response, other_account, resource_not_found};
use super::json;
use crate::sid::new_sid;
use crate::state::{Control, Shared};

pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    req: Authed,
) -> Response {
    let p = format!("/2010-04-01/Accounts/{account}/Recordings.json");
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    let filter = req.get("CallSid").map(str::to_owned);
    let items = shared.with_recordings(|recs| {
        recs.iter()
            .filter(|r| filter.as_deref().is_none_or(|c| r.info.call_sid == c))
            .map(|r| json::recording(&account, &shared.api_base, r))
            .collect()
    });
    json_response(StatusCode::OK, json::page("recordings", &p, items))
}

pub(super) async fn list_for_call(
    State(shared): State<Arc<Shared>>,
    Path((account, call)): Path<(String, String)>,
    _req: Authed,
) -> Response {
    let p = format!("/2010-04-01/Accounts/{account}/Calls/{call}/Recordings.json");
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    if shared.call(&call).is_none() {
        return resource_not_found(&p);
    }
    let items = shared.with_recordings(|recs| {
        recs.iter()
            .filter(|r| r.info.call_sid == call)
            .map(|r| json::recording(&account, &shared.api_base, r))
            .collect()
    });
    json_response(StatusCode::OK, json::page("recordings", &p, items))
}

/// Starts recording the whole live call; the recording appears when the call ends.
pub(super) async fn start_for_call(
    State(shared): State<Arc<Shared>>,
    Path((account, call)): Path<(String, String)>,
    req: Authed,
) -> Response {
    let p = format!("/2010-04-01/Accounts/{account}/Calls/{call}/Recordings.json");
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    let sid = new_sid("RE");
    let dual = req.get("RecordingChannels") == Some("dual");
    let control = Control::StartRecording {
        sid: sid.clone(),
        status_callback: req.get("RecordingStatusCallback").map(str::to_owned),
        dual,
        source: "StartCallRecordingAPI",
    };
    if shared.control_call(&call, control).is_none() {
        return resource_not_found(&p);
    }
    let uri = format!("/2010-04-01/Accounts/{account}/Recordings/{sid}");
    json_response(
        StatusCode::CREATED,
        serde_json::json!({
            "sid": sid,
            "account_sid": account,
            "call_sid": call,
            "status": "in-progress",
            "source": "StartCallRecordingAPI",
            "channels": if dual { 2 } else { 1 },
            "duration": null,
            "uri": format!("{uri}.json"),
        }),
    )
}

pub(super) async fn fetch(
    State(shared): State<Arc<Shared>>,
    Path((account, file)): Path<(String, String)>,
    _req: Authed,
) -> Response {
    let p = format!("/2010-04-01/Accounts/{account}/Recordings/{file}");
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    let (sid, ext) = match file.rsplit_once('.') {
        Some((sid, ext)) => (sid.to_owned(), ext.to_ascii_lowercase()),
        None => (file.clone(), String::new()),
    };
    if ext != "json" {
        slow_media(&shared).await;
    }
    let found = shared.with_recordings(|recs| {
        recs.iter()
            .find(|r| r.info.sid == sid)
            .map(|r| match ext.as_str() {
                "json" => Some(json_response(
                    StatusCode::OK,
                    json::recording(&account, &shared.api_base, r),
                )),
                "" | "wav" => Some(
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "audio/x-wav")],
                        r.wav.clone(),
                    )
                        .into_response(),
                ),
                _ => None,
            })
    });
    match found {
        Some(Some(resp)) => resp,
        _ => resource_not_found(&p),
    }
}

/// Holds a media download while the test keeps Twilio slow; a delay set to zero mid-wait
/// lets the held downloads go at once.
async fn slow_media(shared: &Shared) {
    use std::sync::atomic::Ordering;
    let started = std::time::Instant::now();
    loop {
        let delay = shared.recording_delay_ms.load(Ordering::SeqCst);
        if started.elapsed().as_millis() as u64 >= delay {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
