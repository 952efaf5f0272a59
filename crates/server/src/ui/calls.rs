//! Calls: the list, one call with its turn-by-turn transcript and latencies, and the live
//! view of calls in progress, pushed by server-sent events as the store changes.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;

use super::data::calls::{self, Call, Turn};
use super::page::{Layout, PageError, PageResult, ok};
use super::time;
use super::view::{self, CallView, fallback_label};
use super::viewer::BizViewer;
use crate::domain::Disposition;
use crate::store::now_ms;
use crate::ui::state::WebState;

pub struct TurnView {
    pub n: i64,
    pub caller: String,
    pub agent: String,
    pub heard: String,
    pub barged_in: bool,
    pub stt: String,
    pub llm: String,
    pub tts: String,
    pub reply: String,
    pub slow: bool,
    /// The caller's answer kept as audio (no speech-to-text heard it), to listen to.
    pub audio: Option<String>,
    /// What the agent did in this turn (the functions the model called, with results).
    pub tools: Vec<super::turn_tools::ToolView>,
}

fn ms(v: Option<i64>) -> String {
    v.map(|v| format!("{v} ms")).unwrap_or_else(|| "—".into())
}

fn turn_view(call_id: i64, t: &Turn) -> TurnView {
    TurnView {
        n: t.turn_index + 1,
        caller: t.caller_text.clone().unwrap_or_default(),
        agent: t.agent_text.clone().unwrap_or_default(),
        heard: t.heard_text.clone().unwrap_or_default(),
        barged_in: t.barged_in != 0,
        stt: ms(t.stt_ms),
        llm: ms(t.llm_first_token_ms),
        tts: ms(t.tts_first_audio_ms),
        reply: ms(t.first_frame_out_ms),
        // The mission's budget: a reply within 2–3 s of the caller's turn.
        slow: t.first_frame_out_ms.is_some_and(|v| v > 3000),
        audio: (t.has_audio != 0)
            .then(|| format!("/api/calls/{call_id}/turns/{}/audio", t.turn_index)),
        tools: super::turn_tools::views(t.tool_calls.as_deref()),
    }
}

#[derive(Template)]
#[template(path = "call.html")]
struct CallPage {
    l: Layout,
    c: CallView,
    call_sid: String,
    when_full: String,
    caller_name: String,
    caller_reason: String,
    callback_time: String,
    urgency: String,
    summary: String,
    transcript: String,
    audio: bool,
    fallback_reason: String,
    stream: String,
    customer_id: Option<i64>,
    /// The lead's name when the caller's number is a known lead, else the caller's.
    lead_name: String,
    /// What came of the call, in a few Hebrew words.
    outcome: String,
    turns: Vec<TurnView>,
    other_e164: String,
    business_id: i64,
    /// The disposition choices, the current one selected.
    dispositions: Vec<super::view::Choice>,
    /// Staff corrected the summary by hand.
    summary_edited: bool,
    /// Why calling back is not possible now (the button is shown disabled with it).
    call_blocked: Option<&'static str>,
    /// Appointments the receptionist booked on this call.
    booked: Vec<super::appointment_lines::ApptLine>,
}

/// What came of a call, as the owner reads it at a glance. It never claims the details
/// were written down when the caller's answers were only kept as audio (`voice_only`).
fn outcome(call: &Call, voice_only: bool) -> String {
    if call.fallback_reason.is_some() {
        "המתקשר/ת הועבר/ה להשאיר הודעה מוקלטת".into()
    } else if call
        .callback_time
        .as_deref()
        .is_some_and(|t| !t.trim().is_empty())
    {
        "ביקש/ה שיחה חוזרת".into()
    } else if voice_only {
        "התשובות נשמרו כהקלטה, להאזנה".into()
    } else if call.call_summary.is_some() {
        "הפרטים נרשמו".into()
    } else if call.status.has_ended() {
        "השיחה הסתיימה".into()
    } else {
        "השיחה בעיצומה".into()
    }
}

pub async fn detail(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
) -> PageResult {
    let not_found = || PageError::NotFound(Some(b.v.nav.clone()));
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    let call: Call = calls::get(&state.db, b.business_id, id)
        .await?
        .ok_or_else(not_found)?;
    let turns = calls::turns(&state.db, &call).await?;
    let now = now_ms();
    let booked = super::appointment_lines::lines(
        crate::store::appointments_view::booked_on_call(&state.db, b.business_id, call.id).await?,
        now,
    );
    let v = view::call(&call, now);
    let other = if v.inbound {
        call.from_number.clone()
    } else {
        call.to_number.clone()
    };
    let stream = match (call.stream_started_at, call.stream_end_reason.as_deref()) {
        (None, _) => "לא התחיל".to_string(),
        (Some(t), None) => format!("התחיל ב־{}", time::clock(t)),
        (Some(t), Some(r)) => format!(
            "התחיל ב־{} · הסתיים: {}",
            time::clock(t),
            view::stream_end_label(r)
        ),
    };
    let lead_name = match call.customer_id {
        Some(id) => crate::store::customers::get(&state.db, b.business_id, id)
            .await?
            .and_then(|c| c.name),
        None => None,
    }
    .or_else(|| call.caller_name.clone())
    .unwrap_or_default();
    Ok(ok(&CallPage {
        l: Layout::new(format!("שיחה עם {}", v.who), "calls", Some(b.v.nav.clone())),
        lead_name,
        outcome: outcome(
            &call,
            turns.iter().any(|t| {
                t.has_audio != 0 && t.caller_text.as_deref().is_none_or(|c| c.trim().is_empty())
            }),
        ),
        call_sid: call.call_sid.clone(),
        when_full: time::datetime(call.created_at),
        caller_name: call.caller_name.clone().unwrap_or_default(),
        caller_reason: call.caller_reason.clone().unwrap_or_default(),
        callback_time: call.callback_time.clone().unwrap_or_default(),
        urgency: call
            .urgency
            .as_deref()
            .and_then(crate::domain::urgency_label)
            .unwrap_or_default()
            .to_string(),
        summary: call.call_summary.clone().unwrap_or_default(),
        transcript: call.transcription.clone().unwrap_or_default(),
        // The player only once the recording is downloaded: never one that answers 404.
        audio: crate::calls::post_call::fetch::recording_file(
            &state.settings.data_dir,
            &call.call_sid,
        )
        .await
        .is_some(),
        fallback_reason: call
            .fallback_reason
            .as_deref()
            .map(|r| fallback_label(r).to_string())
            .unwrap_or_default(),
        stream,
        customer_id: call.customer_id,
        turns: turns.iter().map(|t| turn_view(call.id, t)).collect(),
        other_e164: other
            .filter(|o| crate::domain::Phone::parse(o).is_ok())
            .unwrap_or_default(),
        business_id: b.business_id,
        dispositions: Disposition::ALL
            .into_iter()
            .map(|d| super::view::Choice {
                value: d.as_str(),
                label: d.label(),
                selected: call.disposition.as_deref() == Some(d.as_str()),
            })
            .collect(),
        summary_edited: call.summary_edited_at.is_some(),
        call_blocked: super::setup::call_out_blocked(
            &state.settings,
            !crate::store::businesses::numbers(&state.db, b.business_id)
                .await?
                .is_empty(),
        ),
        booked,
        c: v,
    }))
}

/// The live calls' rows, as both the page and each event carry them.
#[derive(Template)]
#[template(path = "live_rows.html")]
struct LiveRows {
    calls: Vec<LiveCall>,
}

pub struct LiveCall {
    pub c: CallView,
    pub started: String,
    pub elapsed: String,
}

async fn live_rows(state: &WebState, business_id: i64) -> Result<String, PageError> {
    let now = now_ms();
    let rows = calls::live(&state.db, business_id).await?;
    let calls = rows
        .iter()
        .map(|c| LiveCall {
            c: view::call(c, now),
            started: time::clock(c.created_at),
            elapsed: time::duration(((now - c.created_at) / 1000).max(0)),
        })
        .collect();
    LiveRows { calls }
        .render()
        .map_err(|e| PageError::Internal(e.into()))
}

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage {
    l: Layout,
    rows: String,
}

pub async fn live(State(state): State<WebState>, b: BizViewer) -> PageResult {
    let rows = live_rows(&state, b.business_id).await?;
    Ok(ok(&LivePage {
        l: Layout::new("שיחות חיות", "live", Some(b.v.nav.clone())),
        rows,
    }))
}

/// `text/event-stream`: an event `calls` with the rows' HTML each time they change, checked
/// every second. The stream ends when the server shuts down.
pub async fn live_events(State(state): State<WebState>, b: BizViewer) -> Response {
    Sse::new(live_stream(state, b.business_id))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn live_stream(state: WebState, business_id: i64) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (state, None::<String>, true),
        move |(state, last, first)| async move {
            let mut first = first;
            loop {
                if !first {
                    tokio::select! {
                        _ = state.shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                first = false;
                match live_rows(&state, business_id).await {
                    Ok(html) if last.as_deref() != Some(html.as_str()) => {
                        let event = Event::default().event("calls").data(html.clone());
                        return Some((Ok(event), (state, Some(html), false)));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = ?e, "UI_LIVE: cannot read live calls");
                    }
                }
            }
        },
    )
}
