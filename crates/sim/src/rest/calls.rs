//! `Calls`: create an outbound call, fetch or list calls, and update a live call.
//!
//! The update is the heart of mokdan's watchdog: new TwiML (or a URL) interrupts the
//! verb the call is running, exactly as Twilio does; `Status=completed` hangs it up.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::{json_response, other_account, resource_not_found};
use super::{Authed, json, twilio_error};
use crate::launch::{Outbound, spawn_outbound};
use crate::state::{Control, Shared};

fn path(account: &str, rest: &str) -> String {
    format!("/2010-04-01/Accounts/{account}/{rest}")
}

pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    req: Authed,
) -> Response {
    if let Some(r) = other_account(&shared, &account, &path(&account, "Calls.json")) {
        return r;
    }
    let Some(to) = req.get("To") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21201,
            "No 'To' number is specified",
        );
    };
    let Some(from) = req.get("From") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21213,
            "No 'From' number is specified",
        );
    };
    let url = req.get("Url").map(str::to_owned);
    let twiml = req.get("Twiml").map(str::to_owned);
    if url.is_none() && twiml.is_none() {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21205,
            "Url parameter is required. Please provide a valid Url or Twiml",
        );
    }
    let mut events: Vec<String> = req
        .all("StatusCallbackEvent")
        .iter()
        .flat_map(|e| e.split([' ', ',']))
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    if events.is_empty() {
        events.push("completed".into());
    }
    let record = req
        .get("Record")
        .is_some_and(|r| r.eq_ignore_ascii_case("true"));
    let info = spawn_outbound(
        shared.clone(),
        Outbound {
            to: to.to_owned(),
            from: from.to_owned(),
            url,
            method: req.get("Method").unwrap_or("POST").to_owned(),
            twiml,
            status_callback: req.get("StatusCallback").map(str::to_owned),
            status_callback_method: req.get("StatusCallbackMethod").unwrap_or("POST").to_owned(),
            events,
            record: record.then(|| req.get("RecordingStatusCallback").map(str::to_owned)),
            record_dual: req
                .get("RecordingChannels")
                .is_some_and(|c| c.eq_ignore_ascii_case("dual")),
        },
    );
    json_response(StatusCode::CREATED, json::call(&account, &info))
}

pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    _req: Authed,
) -> Response {
    let p = path(&account, "Calls.json");
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    let calls = shared
        .calls()
        .iter()
        .map(|c| json::call(&account, c))
        .collect();
    json_response(StatusCode::OK, json::page("calls", &p, calls))
}

fn call_sid(file: &str) -> &str {
    file.strip_suffix(".json").unwrap_or(file)
}

pub(super) async fn fetch(
    State(shared): State<Arc<Shared>>,
    Path((account, file)): Path<(String, String)>,
    _req: Authed,
) -> Response {
    let p = path(&account, &format!("Calls/{file}"));
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    match shared.call(call_sid(&file)) {
        Some(c) => json_response(StatusCode::OK, json::call(&account, &c)),
        None => resource_not_found(&p),
    }
}

pub(super) async fn update(
    State(shared): State<Arc<Shared>>,
    Path((account, file)): Path<(String, String)>,
    req: Authed,
) -> Response {
    let p = path(&account, &format!("Calls/{file}"));
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    let control = if let Some(twiml) = req.get("Twiml") {
        Control::Twiml(twiml.to_owned())
    } else if let Some(url) = req.get("Url") {
        Control::Url {
            url: url.to_owned(),
            method: req.get("Method").unwrap_or("POST").to_owned(),
        }
    } else if matches!(req.get("Status"), Some("completed" | "canceled")) {
        Control::Hangup
    } else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            20001,
            "Calls update needs Twiml, Url or Status",
        );
    };
    match shared.control_call(call_sid(&file), control) {
        Some(info) => json_response(StatusCode::OK, json::call(&account, &info)),
        None => resource_not_found(&p),
    }
}
