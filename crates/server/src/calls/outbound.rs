//! `POST /api/calls`: place an outbound call through Twilio for the caller's business (V4, V11).
//!
//! The call is created with `Url` pointing at `/webhook/outbound_call`, status callbacks for
//! every event, and Twilio's own recording on, so the whole call is fetched afterwards for
//! offline transcription. The row is written as soon as Twilio returns the CallSid, with the
//! call's purpose, which the agent's opening says (the person called hears who calls and why).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::Caller;
use crate::calls::webhook::public_base;
use crate::domain::Phone;
use crate::error::{ApiResult, AppError};
use crate::store::{businesses, calls};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/calls", post(place_call))
}

#[derive(Debug, Deserialize)]
pub struct PlaceCall {
    pub to: String,
    /// The business placing the call: required for an operator; an owner or agent may
    /// leave it out or name their own (another business's id is 404, C4).
    pub business_id: Option<i64>,
    /// Why the business calls (up to [`MAX_PURPOSE`] characters): the agent opens the call
    /// with it ("שלום, מדברים מ… אנחנו מתקשרים בעניין: …").
    pub purpose: Option<String>,
}

/// Longest purpose of an outbound call, in characters (it is spoken at the call's start).
pub const MAX_PURPOSE: usize = 200;

/// The purpose as the agent may say it: trimmed, one line, bounded; `None` when empty.
fn purpose(raw: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(p) = raw.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if p.chars().count() > MAX_PURPOSE {
        return Err(AppError::BadRequest(format!(
            "purpose: עד {MAX_PURPOSE} תווים"
        )));
    }
    if p.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "purpose: שורה אחת של טקסט, בלי תווי בקרה".into(),
        ));
    }
    Ok(Some(p.to_string()))
}

/// The business a caller may place this call for.
fn business_for(caller: &Caller, asked: Option<i64>) -> Result<i64, AppError> {
    if caller.is_operator() {
        return asked
            .ok_or_else(|| AppError::BadRequest("business_id is required for an operator".into()));
    }
    let own = caller.business_id.ok_or(AppError::Forbidden)?;
    match asked {
        Some(other) if other != own => Err(AppError::NotFound),
        _ => Ok(own),
    }
}

async fn place_call(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<PlaceCall>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let business_id = business_for(&caller, body.business_id)?;
    let to = Phone::parse(&body.to).map_err(|e| AppError::BadRequest(format!("to: {e}")))?;
    let purpose = purpose(body.purpose.as_deref())?;
    businesses::get(&state.db, business_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let from = businesses::numbers(&state.db, business_id)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::BadRequest("the business has no phone number".into()))?;
    let twilio = state.twilio.as_ref().ok_or_else(|| {
        AppError::Unavailable(
            "Twilio REST is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)".into(),
        )
    })?;
    let base = public_base(&state.settings, &headers);
    let request = telephony::rest::CreateCall {
        to: to.to_string(),
        from: from.clone(),
        url: format!("{base}/webhook/outbound_call"),
        status_callback: Some(format!("{base}/webhook/call_status")),
        status_callback_events: ["initiated", "ringing", "answered", "completed"]
            .map(String::from)
            .to_vec(),
        record: true,
        recording_status_callback: Some(format!("{base}/webhook/recording_status")),
    };
    let created = twilio.create_call(&request).await.map_err(|e| {
        tracing::warn!(error = %e, "Twilio refused the outbound call");
        AppError::Unavailable(format!("Twilio refused the call: {e}"))
    })?;
    let new = calls::NewCall {
        call_sid: &created.sid,
        business_id: Some(business_id),
        from: Some(&from),
        to: Some(to.as_str()),
        direction: "outbound-api",
        status: "queued",
    };
    calls::insert(&state.db, &new).await?;
    calls::set_placed(&state.db, &created.sid, business_id, purpose.as_deref()).await?;
    tracing::info!(call_sid = %created.sid, business_id, "OUTBOUND_CALL placed");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "call_sid": created.sid, "status": created.status })),
    ))
}
