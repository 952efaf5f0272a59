//! `Messages`: send a (WhatsApp) message and report its delivery like Twilio does.
//!
//! mokdan tracks delivery statuses and must only move them forward, so after each
//! create the sim POSTs signed status callbacks in Twilio's order: queued, sent,
//! delivered, and read for WhatsApp recipients.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::{json_response, other_account, resource_not_found};
use super::{Authed, json, twilio_error};
use crate::error::ProtocolError;
use crate::sid::new_sid;
use crate::state::{MessageInfo, Shared};
use crate::webhook;

/// The pause between two status callbacks of one message.
const STEP: Duration = Duration::from_millis(50);

pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    req: Authed,
) -> Response {
    let p = format!("/2010-04-01/Accounts/{account}/Messages.json");
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    let Some(to) = req.get("To") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    let from = req
        .get("From")
        .or_else(|| req.get("MessagingServiceSid"))
        .map(str::to_owned);
    let Some(from) = from else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' phone number is required.",
        );
    };
    let body = req.get("Body").unwrap_or("").to_owned();
    if body.is_empty() && req.get("MediaUrl").is_none() && req.get("ContentSid").is_none() {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21619,
            "A text message body or media URL must be specified.",
        );
    }
    let msg = MessageInfo {
        sid: new_sid("SM"),
        from,
        to: to.to_owned(),
        body,
        status: "queued".into(),
        status_callback: req.get("StatusCallback").map(str::to_owned),
        date_created: SystemTime::now(),
        callbacks: Vec::new(),
    };
    shared.add_message(msg.clone());
    tokio::spawn(deliver(shared.clone(), msg.clone()));
    json_response(StatusCode::CREATED, json::message(&account, &msg))
}

pub(super) async fn fetch(
    State(shared): State<Arc<Shared>>,
    Path((account, file)): Path<(String, String)>,
    _req: Authed,
) -> Response {
    let p = format!("/2010-04-01/Accounts/{account}/Messages/{file}");
    if let Some(r) = other_account(&shared, &account, &p) {
        return r;
    }
    let sid = file.strip_suffix(".json").unwrap_or(&file);
    match shared.messages().into_iter().find(|m| m.sid == sid) {
        Some(m) => json_response(StatusCode::OK, json::message(&account, &m)),
        None => resource_not_found(&p),
    }
}

/// Moves the message through its statuses, posting each to its StatusCallback.
async fn deliver(shared: Arc<Shared>, msg: MessageInfo) {
    let whatsapp = msg.to.starts_with("whatsapp:");
    let mut statuses = vec!["queued", "sent", "delivered"];
    if whatsapp {
        statuses.push("read");
    }
    for status in statuses {
        tokio::time::sleep(STEP).await;
        shared.update_message(&msg.sid, |m| m.status = status.to_owned());
        let Some(url) = &msg.status_callback else {
            continue;
        };
        let mut params: Vec<(String, String)> = [
            ("AccountSid", shared.cfg.account_sid.as_str()),
            ("ApiVersion", "2010-04-01"),
            ("From", msg.from.as_str()),
            ("To", msg.to.as_str()),
            ("MessageSid", msg.sid.as_str()),
            ("SmsSid", msg.sid.as_str()),
            ("MessageStatus", status),
            ("SmsStatus", status),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if whatsapp {
            params.push(("ChannelPrefix".into(), "whatsapp".into()));
            params.push((
                "ChannelToAddress".into(),
                msg.to.trim_start_matches("whatsapp:").to_owned(),
            ));
        }
        let out = webhook::send(&shared.http, &shared.cfg.auth_token, "POST", url, &params).await;
        let code = out.reply.as_ref().map_or(0, |r| r.status);
        shared.update_message(&msg.sid, |m| m.callbacks.push((status.to_owned(), code)));
        if let Some(ProtocolError { code, message }) = out.error {
            shared.error(ProtocolError {
                code,
                message: format!("message {} status callback: {message}", msg.sid),
            });
        }
    }
}
