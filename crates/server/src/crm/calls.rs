//! `GET /api/calls`, `GET /api/calls/{id}` (and its `PATCH`, in [`super::call_review`]), `GET /api/calls/{id}/recording`,
//! `GET /api/calls/{id}/turns/{turn}/audio` (V3, V10, C4).
//!
//! The list filters by status, direction, customer and date; the detail adds the live
//! conversation's turns with their timings. A recording is streamed from the service's own
//! copy (`<data_dir>/recordings/<CallSid>-*.wav`, written by the recording job) through this
//! authenticated endpoint — never a redirect to Twilio's URL — and is 404 until downloaded.
//! A caller's answer that no speech-to-text heard is kept as audio and served the same way.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page::{Page, Paged};
use super::patch::clean;
use crate::auth::Tenant;
use crate::crm::state::CrmState;
use crate::domain::{CallDirection, CallStatus};
use crate::error::{ApiResult, AppError};
// The API's `Call` is the store's one call model.
use crate::store::calls::CallRow as CallView;
use crate::store::crm_calls::{self, CallFilter};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/calls", get(list))
        .route(
            "/api/calls/{id}",
            get(detail).patch(super::call_review::review),
        )
        .route("/api/calls/{id}/recording", get(recording))
        .route("/api/calls/{id}/turns/{turn}/audio", get(turn_audio))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub status: Option<String>,
    pub direction: Option<String>,
    /// From this time: epoch milliseconds, `YYYY-MM-DD` (from 00:00 in Israel) or RFC 3339.
    pub from: Option<String>,
    /// Up to this time (exclusive; a bare date includes that whole day).
    pub to: Option<String>,
    pub customer_id: Option<i64>,
    /// Words of the caller's or lead's name, the reason or the summary, or phone digits.
    pub q: Option<String>,
    /// `handled`, `callback`, `spam`, or `none` for calls not yet marked.
    pub disposition: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

async fn list(
    State(state): State<CrmState>,
    t: Tenant,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Paged<CallView>>> {
    let page = Page::new(p.page, p.per_page)?;
    let from_ms = clean(p.from)
        .map(|s| parse_time(&s, false).ok_or_else(|| bad_time("from")))
        .transpose()?;
    let to_ms = clean(p.to)
        .map(|s| parse_time(&s, true).ok_or_else(|| bad_time("to")))
        .transpose()?;
    let filter = CallFilter {
        status: clean(p.status).map(CallStatus::from),
        direction: clean(p.direction).map(CallDirection::from),
        from_ms,
        to_ms,
        customer_id: p.customer_id,
        search: clean(p.q),
        disposition: clean(p.disposition)
            .map(|d| match d.as_str() {
                "none" => Ok(d),
                other => crate::domain::Disposition::parse(other)
                    .map(|d| d.as_str().to_string())
                    .ok_or_else(|| {
                        AppError::BadRequest(
                            "disposition: one of handled, callback, spam, none".into(),
                        )
                    }),
            })
            .transpose()?,
        fallback_only: false,
        limit: page.limit(),
        offset: page.offset(),
    };
    let (rows, total) = crm_calls::list(&state.db, t.business_id, &filter).await?;
    Ok(Json(page.of(rows, total)))
}

fn bad_time(field: &str) -> AppError {
    AppError::BadRequest(format!(
        "{field}: expected YYYY-MM-DD, an RFC 3339 time or epoch milliseconds"
    ))
}

/// Epoch milliseconds of `s`; a bare date as an end bound means the end of that day.
///
/// Days are Israel's (Asia/Jerusalem): `2024-03-02` starts at 00:00 in Israel, and a time
/// without an offset is read on Israel's clock too.
pub fn parse_time(s: &str, end_of_day: bool) -> Option<i64> {
    use jiff::Timestamp;
    use jiff::civil::{Date, DateTime};
    let s = s.trim();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse().ok().filter(|v: &i64| *v < 100_000_000_000_000);
    }
    let israel = crate::ui::time::israel();
    if s.len() == 10 {
        let day = s.parse::<Date>().ok()?;
        let day = if end_of_day {
            day.tomorrow().ok()?
        } else {
            day
        };
        let start = day.to_zoned_datetime(israel.clone()).ok()?;
        return Some(start.timestamp().as_millisecond());
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t.as_millisecond());
    }
    let local = s.parse::<DateTime>().ok()?;
    Some(
        local
            .to_zoned_datetime(israel.clone())
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

async fn detail(
    State(state): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let call = crm_calls::get(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let turns = crm_calls::turns(&state.db, t.business_id, id).await?;
    let recording_available =
        crate::calls::post_call::fetch::recording_file(&state.settings.data_dir, &call.call_sid)
            .await
            .is_some();
    let mut out = serde_json::to_value(&call).map_err(|e| AppError::Internal(e.into()))?;
    out["transcript"] = json!(call.transcription);
    out["summary"] = json!(call.call_summary);
    out["recording_available"] = json!(recording_available);
    out["timings"] = json!({
        "created_at": call.created_at,
        "stream_started_at": call.stream_started_at,
        "stream_ended_at": call.stream_ended_at,
        "answer_ms": call.stream_started_at.map(|s| s - call.created_at),
        "duration_secs": call.duration_secs,
        "turns": turns.len(),
    });
    out["turns"] = json!(turns);
    Ok(Json(out))
}

/// `GET /api/calls/{id}/recording`: the newest recording the recording job has fetched.
async fn recording(
    State(state): State<CrmState>,
    t: Tenant,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let call = crm_calls::get(&state.db, t.business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let path =
        crate::calls::post_call::fetch::recording_file(&state.settings.data_dir, &call.call_sid)
            .await
            .ok_or(AppError::NotFound)?;
    wav_file(&path, &format!("{}.wav", call.call_sid)).await
}

/// A turn's caller audio, kept when no speech-to-text heard it (V10): only a file under
/// the data dir's `turns` folder, for a call of the caller's business.
async fn turn_audio(
    State(state): State<CrmState>,
    t: Tenant,
    Path((id, turn)): Path<(i64, i64)>,
) -> ApiResult<Response> {
    let path = crm_calls::turn_audio_path(&state.db, t.business_id, id, turn)
        .await?
        .ok_or(AppError::NotFound)?;
    let path = PathBuf::from(path);
    let dir = state.settings.data_dir.join("turns");
    if !path.starts_with(&dir)
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(AppError::NotFound);
    }
    wav_file(&path, &format!("turn-{turn}.wav")).await
}

/// Streams a WAV file from the data dir as `name` (ours: SIDs and numbers), never cached
/// by the browser.
async fn wav_file(path: &std::path::Path, name: &str) -> ApiResult<Response> {
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| AppError::NotFound)?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let stream = futures::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("audio/wav"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, no-store"),
    );
    if let Some(len) = len
        && let Ok(v) = header::HeaderValue::from_str(&len.to_string())
    {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Ok(v) = header::HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        // Israel's midnight: UTC+2 in winter, UTC+3 in summer.
        assert_eq!(
            parse_time("1970-01-02", false),
            Some(86_400_000 - 7_200_000)
        );
        assert_eq!(parse_time("1970-01-01", true), Some(86_400_000 - 7_200_000));
        assert_eq!(parse_time("2024-03-01", false), Some(1_709_244_000_000));
        assert_eq!(parse_time("2024-07-01", false), Some(1_719_781_200_000));
        assert_eq!(parse_time("2024-07-01", true), Some(1_719_867_600_000));
        assert_eq!(
            parse_time("2024-03-01T02:00:00+02:00", false),
            Some(1_709_251_200_000)
        );
        assert_eq!(
            parse_time("2024-03-01T00:00:00.5Z", false),
            Some(1_709_251_200_500)
        );
        assert_eq!(
            parse_time("2024-03-01T02:00", false),
            Some(1_709_251_200_000),
            "a time without an offset is Israel's"
        );
        assert_eq!(parse_time("1709251200000", false), Some(1_709_251_200_000));
        for bad in [
            "yesterday",
            "2024-13-01",
            "2024-03-01T",
            "2024/03/01",
            "2024-02-30",
        ] {
            assert_eq!(parse_time(bad, false), None, "{bad}");
        }
    }

    #[test]
    fn a_day_that_changes_the_clock_is_cut_at_local_midnight() {
        // Friday 29 March 2024 began in standard time (UTC+2) and ended in daylight time.
        assert_eq!(parse_time("2024-03-29", false), Some(1_711_663_200_000));
        assert_eq!(parse_time("2024-03-29", true), Some(1_711_746_000_000));
        // Sunday 27 October 2024 began in daylight time and is 25 hours long.
        assert_eq!(
            parse_time("2024-10-27", true).unwrap() - parse_time("2024-10-27", false).unwrap(),
            25 * 3_600_000
        );
    }
}
