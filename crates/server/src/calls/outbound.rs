//! `POST /api/calls`: place an outbound call through Twilio for the caller's business (V4, V11).
//!
//! The call is created with `Url` pointing at `/webhook/outbound_call`, status callbacks for
//! every event, and Twilio's own recording on, so the whole call is fetched afterwards for
//! offline transcription. The row is written as soon as Twilio returns the CallSid, with the
//! call's purpose, which the agent's opening says (the person called hears who calls and why).
//!
//! Before Twilio is asked, the destination must pass the business's calling policy (403)
//! and the call must fit the business's and the credential's quotas (429), see
//! [`super::policy`]; the operator reads and sets the policy at
//! `/api/businesses/{id}/call-policy`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::policy::{self, CallError, Policy};
use crate::auth::{Authenticated, Caller, Operator, Via};
use crate::calls::state::CallsState;
use crate::domain::{CallDirection, CallStatus, Phone};
use crate::error::{ApiResult, AppError};
use crate::http::twilio::public_base;
use crate::store::{businesses, calls};

pub fn router() -> Router<CallsState> {
    Router::new().route("/api/calls", post(place_call)).route(
        "/api/businesses/{id}/call-policy",
        get(read_policy).put(write_policy),
    )
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

/// What the quotas count a call against: the user, or the API token, that placed it.
pub fn credential_key(auth: &Authenticated) -> String {
    match auth.via {
        Via::ApiToken { token_id } => format!("token:{token_id}"),
        Via::Session { .. } | Via::Jwt { .. } => format!("user:{}", auth.caller.user_id),
    }
}

async fn place_call(
    State(state): State<CallsState>,
    auth: Authenticated,
    headers: HeaderMap,
    Json(body): Json<PlaceCall>,
) -> Result<(StatusCode, Json<serde_json::Value>), CallError> {
    let caller = &auth.caller;
    let business_id = business_for(caller, body.business_id)?;
    let to = Phone::parse(&body.to).map_err(|e| AppError::BadRequest(format!("to: {e}")))?;
    let purpose = purpose(body.purpose.as_deref())?;
    let record_calls = businesses::get(&state.db, business_id)
        .await?
        .ok_or(AppError::NotFound)?
        .record_calls
        != 0;
    let rules = policy::load(&state.db, business_id).await?;
    if let Err(refused) = policy::check_destination(&rules, &to) {
        tracing::warn!(
            business_id,
            "OUTBOUND_CALL refused: destination not allowed"
        );
        return Err(refused.into());
    }
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
    if let Err(refused) = policy::admit(
        &state.db,
        business_id,
        &rules,
        policy::Placed::By(&credential_key(&auth)),
    )
    .await?
    {
        tracing::warn!(business_id, "OUTBOUND_CALL refused: quota used up");
        return Err(refused.into());
    }
    let base = public_base(&state.settings, &headers);
    let request = telephony::rest::CreateCall {
        to: to.to_string(),
        from: from.clone(),
        url: format!("{base}/webhook/outbound_call"),
        status_callback: Some(format!("{base}/webhook/call_status")),
        status_callback_events: ["initiated", "ringing", "answered", "completed"]
            .map(String::from)
            .to_vec(),
        // The whole call, both sides apart, unless the business turned recording off (V11).
        record: record_calls,
        record_dual: true,
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
        direction: CallDirection::OutboundApi,
        status: CallStatus::Queued,
    };
    calls::insert(&state.db, &new).await?;
    calls::set_placed(&state.db, &created.sid, business_id, purpose.as_deref()).await?;
    tracing::info!(call_sid = %created.sid, business_id, "OUTBOUND_CALL placed");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "call_sid": created.sid, "status": created.status })),
    ))
}

/// The policy as the API shows it: the business's own, with the defaults filled in.
fn policy_view(business_id: i64, p: &Policy) -> serde_json::Value {
    serde_json::json!({
        "business_id": business_id,
        "countries": p.countries,
        "allow_premium": p.allow_premium,
        "per_hour": p.per_hour,
        "per_day": p.per_day,
        "per_credential_hour": p.per_credential_hour,
        "per_credential_day": p.per_credential_day,
    })
}

/// `GET /api/businesses/{id}/call-policy`: the operator, or the business's own users.
async fn read_policy(
    State(state): State<CallsState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<serde_json::Value>> {
    if !caller.is_operator() && caller.business_id != Some(id) {
        return Err(AppError::NotFound);
    }
    businesses::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(policy_view(id, &policy::load(&state.db, id).await?)))
}

/// What the operator may change; fields left out keep their value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    /// `["972", "44"]` or `"972,44"`.
    pub countries: Option<serde_json::Value>,
    pub allow_premium: Option<bool>,
    pub per_hour: Option<i64>,
    pub per_day: Option<i64>,
    pub per_credential_hour: Option<i64>,
    pub per_credential_day: Option<i64>,
}

/// `PUT /api/businesses/{id}/call-policy`: operators only (an owner cannot widen where
/// their own business calls).
async fn write_policy(
    State(state): State<CallsState>,
    Operator(caller): Operator,
    Path(id): Path<i64>,
    Json(body): Json<PolicyPatch>,
) -> ApiResult<Json<serde_json::Value>> {
    businesses::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let before = policy::load(&state.db, id).await?;
    let mut p = before.clone();
    if let Some(c) = body.countries {
        let raw = match c {
            serde_json::Value::String(s) => s,
            serde_json::Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => Ok(s.clone()),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    _ => Err(AppError::BadRequest(
                        "countries: calling codes like \"972\"".into(),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            _ => {
                return Err(AppError::BadRequest(
                    "countries: a list of calling codes like [\"972\", \"44\"]".into(),
                ));
            }
        };
        p.countries = policy::parse_countries(&raw)
            .map_err(|e| AppError::BadRequest(format!("countries: {e}")))?;
    }
    if let Some(a) = body.allow_premium {
        p.allow_premium = a;
    }
    for (field, value, slot) in [
        ("per_hour", body.per_hour, &mut p.per_hour),
        ("per_day", body.per_day, &mut p.per_day),
        (
            "per_credential_hour",
            body.per_credential_hour,
            &mut p.per_credential_hour,
        ),
        (
            "per_credential_day",
            body.per_credential_day,
            &mut p.per_credential_day,
        ),
    ] {
        if let Some(v) = value {
            if !(0..=100_000).contains(&v) {
                return Err(AppError::BadRequest(format!(
                    "{field}: between 0 and 100000"
                )));
            }
            *slot = v;
        }
    }
    policy::save(&state.db, id, &p).await?;
    let (before_view, after_view) = (policy_view(id, &before), policy_view(id, &p));
    crate::store::audit::record(
        &state.db,
        crate::store::audit::Entry {
            business_id: Some(id),
            actor_user_id: crate::crm::actor(&caller),
            actor_token_id: crate::crm::actor_token(&caller),
            entity: "call_policy",
            entity_id: id,
            action: "update",
            changes: crate::store::audit::diff(&before_view, &after_view),
        },
    )
    .await?;
    tracing::info!(business_id = id, "CALL_POLICY updated");
    Ok(Json(after_view))
}
