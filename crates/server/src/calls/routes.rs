//! The voice webhooks (V1, V3, V12): each verifies the signature, records, and answers at once.
//!
//! The order of work in `incoming_call` is the seeds' lesson: write the call row first, then
//! answer; but if the write fails, answer anyway (the caller must hear something) and log.
//! Every database step on a webhook is bounded ([`quick`]): a sick database never holds
//! Twilio for the pool's timeout, and what could not be written waits in the outbox.
//! Statuses only move forward and every handler tolerates repeats, since Twilio retries.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::calls::state::CallsState;
use crate::calls::token;
use crate::calls::twiml;
use crate::domain::{CallDirection, CallStatus, Phone};
use crate::http::twilio::{TwilioRequest, Twiml};
use crate::outbox::Pending;
use crate::store::calls;

pub fn router() -> Router<CallsState> {
    Router::new()
        .route(
            "/webhook/incoming_call",
            get(incoming_call).post(incoming_call),
        )
        .route(
            "/webhook/outbound_call",
            get(outbound_call).post(outbound_call),
        )
        .route("/webhook/call_status", get(call_status).post(call_status))
        .route(
            "/webhook/stream_status",
            get(stream_status).post(stream_status),
        )
        .route(
            "/webhook/stream_ended",
            get(stream_ended).post(stream_ended),
        )
        .route(
            "/webhook/handle_recording",
            get(handle_recording).post(handle_recording),
        )
        .route(
            "/webhook/transfer_ended",
            get(transfer_ended).post(transfer_ended),
        )
        .route(
            "/webhook/recording_status",
            get(recording_status).post(recording_status),
        )
}

/// A CallSid as Twilio makes them (`CA` + 32 hex); anything else is not a call of ours.
fn call_sid(req: &TwilioRequest) -> Option<&str> {
    req.get("CallSid")
        .filter(|s| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A database step on the answer path, bounded so a sick database cannot make the caller
/// wait: past the bound it counts as a failure and the write goes to the outbox (V12).
async fn quick<T>(
    f: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(std::time::Duration::from_millis(400), f)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

/// Keeps writes the database refused in the local outbox, for replay (nothing lost).
async fn keep(state: &CallsState, ops: &[Pending]) {
    state.outbox.keep(ops).await;
}

/// The business a call belongs to, for its prompts; `None` when unknown or the database
/// does not answer quickly (the caller then hears the prompt for no business).
async fn business_of(state: &CallsState, sid: Option<&str>) -> Option<i64> {
    let sid = sid?;
    match quick(calls::by_sid(&state.db, sid)).await {
        Ok(row) => row.and_then(|r| r.business_id),
        Err(e) => {
            tracing::warn!(call_sid = sid, error = %e, "cannot tell the call's business");
            None
        }
    }
}

fn db_error(route: &'static str, call_sid: &str, e: &sqlx::Error) {
    crate::telemetry::count_error("webhook_db");
    tracing::error!(route, call_sid, error = %e, "WEBHOOK_DB_ERROR: answering anyway");
}

async fn incoming_call(State(state): State<CallsState>, req: TwilioRequest) -> Twiml {
    answer(
        &state,
        &req,
        CallDirection::Inbound,
        "/webhook/incoming_call",
    )
    .await
}

async fn outbound_call(State(state): State<CallsState>, req: TwilioRequest) -> Twiml {
    answer(
        &state,
        &req,
        CallDirection::OutboundApi,
        "/webhook/outbound_call",
    )
    .await
}

/// Logs the call, then connects it to the media stream (or apologises for an unknown number).
async fn answer(
    state: &CallsState,
    req: &TwilioRequest,
    direction: CallDirection,
    route: &'static str,
) -> Twiml {
    let Some(sid) = call_sid(req) else {
        tracing::warn!(route, "webhook without a usable CallSid: apologising");
        return Twiml::new(
            route,
            None,
            &twiml::apology_and_hangup(&state.prompts, &req.base),
        );
    };
    // The business's own number is `To` on an inbound call and `From` on an outbound one.
    let ours = if direction == CallDirection::Inbound {
        req.get("To")
    } else {
        req.get("From")
    };
    let business = match ours.map(Phone::parse) {
        Some(Ok(phone)) => quick(state.numbers.business(&state.db, &phone)).await,
        _ => Ok(None),
    };
    let business_id = match &business {
        Ok(b) => b.as_ref().map(|b| b.id),
        Err(e) => {
            db_error(route, sid, e);
            None
        }
    };
    let inbound = direction == CallDirection::Inbound;
    let new = described(req, sid, business_id, direction, CallStatus::Ringing);
    if matches!(business, Ok(None)) {
        if let Err(e) = calls::insert(&state.db, &new).await {
            db_error(route, sid, &e);
        }
        tracing::warn!(
            route,
            call_sid = sid,
            number = ours.unwrap_or("-"),
            "UNKNOWN_NUMBER: no business owns it"
        );
        return Twiml::new(
            route,
            Some(sid),
            &twiml::apology_and_hangup(&state.prompts, &req.base),
        );
    }
    // On a shared registry (PostgreSQL) the row and the watchdog entry share one commit,
    // grouped with the calls beside it.
    let written = match &state.call_writer {
        Some(writer) => quick(writer.insert_armed(&new, &req.base)).await,
        None => quick(calls::insert(&state.db, &new)).await.map(drop),
    };
    match written {
        Ok(_) => {
            state.watchdog.arm_local(sid, &req.base);
        }
        Err(e) => {
            db_error(route, sid, &e);
            keep(state, &[Pending::insert(&new)]).await;
            // The database is unreachable: this node watches the call on its own.
            state.watchdog.arm_local(sid, &req.base);
        }
    }
    let token = token::issue(state.settings.jwt_secret.expose(), sid);
    // An inbound call is recorded whole unless its business turned that off (an outbound
    // call is recorded through the REST request that placed it). When the database did not
    // answer, the default holds: nothing of the call is lost.
    let record = inbound
        && match &business {
            Ok(Some(b)) => b.record_calls != 0,
            _ => true,
        };
    Twiml::new(
        route,
        Some(sid),
        &twiml::answer_call(&req.base, sid, &token, record),
    )
}

/// The call as a webhook describes it, for the insert-if-absent that every webhook does:
/// a call whose first webhook was lost is still logged by the next one (nothing lost).
fn described<'a>(
    req: &'a TwilioRequest,
    sid: &'a str,
    business_id: Option<i64>,
    direction: CallDirection,
    status: CallStatus,
) -> calls::NewCall<'a> {
    calls::NewCall {
        call_sid: sid,
        business_id,
        from: req.get("From"),
        to: req.get("To"),
        direction: req.get("Direction").map_or(direction, CallDirection::parse),
        status,
    }
}

fn parse_secs(v: Option<&str>) -> Option<i64> {
    v.and_then(|s| s.parse::<i64>().ok()).filter(|s| *s >= 0)
}

async fn call_status(State(state): State<CallsState>, req: TwilioRequest) -> Response {
    let (Some(sid), Some(status)) = (call_sid(&req), req.get("CallStatus")) else {
        tracing::warn!("call_status without CallSid or CallStatus: ignored");
        return StatusCode::NO_CONTENT.into_response();
    };
    let duration = parse_secs(req.get("CallDuration"));
    // A status for a call we never logged (its first webhook failed) still lands: nothing lost.
    let status = CallStatus::parse(status);
    let new = described(&req, sid, None, CallDirection::Inbound, status.clone());
    let result = quick(async {
        calls::insert(&state.db, &new).await?;
        calls::advance_status(&state.db, sid, &status, duration).await
    })
    .await;
    let kept = Pending::Status {
        call_sid: sid.to_string(),
        status: status.to_string(),
        duration_secs: duration,
    };
    match result {
        Ok(moved) => {
            tracing::info!(
                call_sid = sid,
                status = status.as_str(),
                moved,
                "CALL_STATUS"
            );
            // Twilio recorded the call itself (V11): fetch it even without the callback. A
            // sick database leaves that to the outbox (its replay of the status does it).
            // A streamed call waiting for its end to be summarised is summarised now.
            let after = async {
                if status == CallStatus::Completed {
                    crate::calls::post_call::call_recordings::after_completed(&state, sid).await?;
                    // A call-back request or an urgent call is told at hang-up (#22).
                    crate::notify::call_ended(&state.db, sid).await?;
                }
                if status.has_ended() {
                    crate::calls::post_call::streamed::call_completed(&state.db, sid).await?;
                }
                Ok::<_, sqlx::Error>(())
            };
            if let Err(e) = quick(after).await {
                db_error("/webhook/call_status", sid, &e);
                keep(&state, &[kept]).await;
            }
            if moved && status == "completed" {
                // Signed webhooks out (#22): one indexed query when none is registered; a
                // failure is logged and never changes Twilio's answer.
                let emitted = quick(crate::hooks::emit_call(
                    &state.db,
                    sid,
                    crate::hooks::Event::CallCompleted,
                ))
                .await;
                if let Err(e) = emitted {
                    crate::telemetry::count_error("webhook_emit");
                    tracing::warn!(call_sid = sid, error = %e, "WEBHOOK_EMIT_FAILED");
                }
            }
        }
        Err(e) => {
            db_error("/webhook/call_status", sid, &e);
            keep(&state, &[Pending::insert(&new), kept]).await;
        }
    }
    if status.is_final() {
        state.watchdog.disarm(sid);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn stream_status(req: TwilioRequest) -> Response {
    tracing::info!(
        call_sid = call_sid(&req).unwrap_or("-"),
        stream_sid = req.get("StreamSid").unwrap_or("-"),
        event = req.get("StreamEvent").unwrap_or("-"),
        error = req.get("StreamError").unwrap_or("-"),
        "STREAM_STATUS"
    );
    StatusCode::NO_CONTENT.into_response()
}

/// The `<Connect action>`: a finished conversation hangs up; a failed stream records (V8).
async fn stream_ended(State(state): State<CallsState>, req: TwilioRequest) -> Twiml {
    const ROUTE: &str = "/webhook/stream_ended";
    let Some(sid) = call_sid(&req) else {
        return Twiml::new(ROUTE, None, &twiml::hangup());
    };
    state.watchdog.disarm(sid);
    let new = described(
        &req,
        sid,
        None,
        CallDirection::Inbound,
        CallStatus::InProgress,
    );
    let row = match quick(calls::by_sid(&state.db, sid)).await {
        Ok(row) => row,
        Err(e) => {
            // Without the row we cannot know how the stream went: let the caller record, and
            // log the call and why once the database is back.
            db_error(ROUTE, sid, &e);
            let ended = Pending::StreamEnded {
                call_sid: sid.to_string(),
                reason: "database_unavailable".into(),
                fallback: true,
            };
            keep(&state, &[Pending::insert(&new), ended]).await;
            return Twiml::new(
                ROUTE,
                Some(sid),
                &twiml::fallback(&state.prompts, &req.base, None),
            );
        }
    };
    let reason = match &row {
        Some(r)
            if matches!(
                r.stream_end_reason.as_deref(),
                Some("conversation_complete" | "transferred")
            ) =>
        {
            None
        }
        Some(r) if r.stream_started_at.is_none() => Some("stream_never_started"),
        Some(r) if r.stream_end_reason.is_none() => Some("stream_broken"),
        Some(r) => r
            .stream_end_reason
            .as_deref()
            .filter(|r| !matches!(*r, "conversation_complete" | "transferred"))
            .map(|_| "stream_broken"),
        None => Some("stream_never_started"),
    };
    let Some(reason) = reason else {
        return Twiml::new(ROUTE, Some(sid), &twiml::hangup());
    };
    let business = row.as_ref().and_then(|r| r.business_id);
    let marked = quick(async {
        if row.is_none() {
            calls::insert(&state.db, &new).await?;
        }
        calls::stream_ended(&state.db, sid, reason).await?;
        calls::mark_fallback(&state.db, sid, reason).await
    })
    .await;
    match marked {
        Ok(true) => {
            tracing::warn!(
                call_sid = sid,
                reason,
                "STREAM_FALLBACK: sending the caller to recording"
            );
            Twiml::new(
                ROUTE,
                Some(sid),
                &twiml::fallback(&state.prompts, &req.base, business),
            )
        }
        // The fallback already ran once for this call: never loop.
        Ok(false) => Twiml::new(ROUTE, Some(sid), &twiml::hangup()),
        Err(e) => {
            db_error(ROUTE, sid, &e);
            let ended = Pending::StreamEnded {
                call_sid: sid.to_string(),
                reason: reason.into(),
                fallback: true,
            };
            keep(&state, &[Pending::insert(&new), ended]).await;
            Twiml::new(
                ROUTE,
                Some(sid),
                &twiml::fallback(&state.prompts, &req.base, business),
            )
        }
    }
}

/// Stores what the recording webhooks carry; true when a recording was present.
async fn store_recording(state: &CallsState, req: &TwilioRequest, route: &'static str) -> bool {
    let (Some(sid), Some(url), Some(rec_sid)) = (
        call_sid(req),
        req.get("RecordingUrl"),
        req.get("RecordingSid"),
    ) else {
        tracing::warn!(
            route,
            "recording webhook without CallSid, RecordingUrl or RecordingSid"
        );
        return false;
    };
    let duration = parse_secs(req.get("RecordingDuration"));
    let new = described(
        req,
        sid,
        None,
        CallDirection::Inbound,
        CallStatus::InProgress,
    );
    let result = quick(async {
        calls::insert(&state.db, &new).await?;
        calls::set_recording(&state.db, sid, rec_sid, url, duration).await
    })
    .await;
    let rec = Pending::Recording {
        call_sid: sid.to_string(),
        recording_sid: rec_sid.to_string(),
        recording_url: url.to_string(),
        duration_secs: duration,
    };
    match result {
        Ok(_) => {
            tracing::info!(route, call_sid = sid, recording_sid = rec_sid, duration = ?duration, "RECORDING stored");
            // The download, transcript and summary run in the background (V10), once per
            // recording; a sick database leaves the job to the outbox's replay.
            let job = quick(crate::calls::post_call::fetch::enqueue(
                &state.db, sid, rec_sid, url,
            ));
            if let Err(e) = job.await {
                db_error(route, sid, &e);
                keep(state, &[rec]).await;
            }
        }
        Err(e) => {
            db_error(route, sid, &e);
            keep(state, &[Pending::insert(&new), rec]).await;
        }
    }
    true
}

async fn handle_recording(State(state): State<CallsState>, req: TwilioRequest) -> Twiml {
    const ROUTE: &str = "/webhook/handle_recording";
    let sid = call_sid(&req).map(str::to_string);
    if store_recording(&state, &req, ROUTE).await {
        let business = business_of(&state, sid.as_deref()).await;
        Twiml::new(
            ROUTE,
            sid.as_deref(),
            &twiml::goodbye(&state.prompts, &req.base, business),
        )
    } else {
        Twiml::new(ROUTE, sid.as_deref(), &twiml::hangup())
    }
}

async fn recording_status(State(state): State<CallsState>, req: TwilioRequest) -> Response {
    if req.get("RecordingStatus").is_none_or(|s| s == "completed") {
        store_recording(&state, &req, "/webhook/recording_status").await;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The `<Dial>` of a transfer ended: after a conversation, hang up; when nobody answered
/// (busy, no answer, failed), the caller may leave a message instead (never silence).
async fn transfer_ended(State(state): State<CallsState>, req: TwilioRequest) -> Twiml {
    const ROUTE: &str = "/webhook/transfer_ended";
    let Some(sid) = call_sid(&req) else {
        return Twiml::new(ROUTE, None, &twiml::hangup());
    };
    let status = req.get("DialCallStatus").unwrap_or("");
    if matches!(status, "completed" | "answered") {
        return Twiml::new(ROUTE, Some(sid), &twiml::hangup());
    }
    tracing::warn!(
        call_sid = sid,
        status,
        "CALL_TRANSFER unanswered: recording fallback"
    );
    const REASON: &str = "transfer_unanswered";
    let business = business_of(&state, Some(sid)).await;
    // The call-back request and the fallback's mark are bounded and, when the database
    // does not answer, kept in the outbox: the caller records at once either way.
    let marked = quick(async {
        use crate::calls::actions::{ASKED_FOR_A_PERSON, CALLBACK_ASAP};
        calls::request_callback(&state.db, sid, CALLBACK_ASAP, ASKED_FOR_A_PERSON).await?;
        calls::mark_fallback(&state.db, sid, REASON).await
    })
    .await;
    match marked {
        Ok(false) => Twiml::new(ROUTE, Some(sid), &twiml::hangup()),
        Ok(true) => Twiml::new(
            ROUTE,
            Some(sid),
            &twiml::fallback(&state.prompts, &req.base, business),
        ),
        Err(e) => {
            db_error(ROUTE, sid, &e);
            let kept = [
                Pending::CallBack {
                    call_sid: sid.to_string(),
                },
                Pending::Fallback {
                    call_sid: sid.to_string(),
                    reason: REASON.to_string(),
                },
            ];
            keep(&state, &kept).await;
            Twiml::new(
                ROUTE,
                Some(sid),
                &twiml::fallback(&state.prompts, &req.base, business),
            )
        }
    }
}
