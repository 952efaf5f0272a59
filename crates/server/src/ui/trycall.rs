//! "Try a call": the owner or an agent rings their own business from the browser.
//!
//! The in-process sim plays Twilio and a caller who says one Hebrew sentence; the call runs
//! through the real webhooks and media socket of this server, so it lands in the call log
//! like any other. The page shows the sim's timeline and the whole conversation as audio.
//! Results live in memory for 15 minutes (they are a demo, not data).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use sim::{CallSpec, CallerScript, Sim, SimConfig};

use super::page::{Layout, PageError, PageResult, ok, render};
use super::viewer::BizViewer;
use crate::http::twilio::public_base;
use crate::store::businesses;
use crate::ui::state::WebState;

/// How long a finished run is kept, and how many at most.
const KEEP: Duration = Duration::from_secs(15 * 60);
const MAX_RUNS: usize = 20;
/// The caller's number in a test call.
pub const CALLER: &str = "+972541112222";
pub const CALLER_SAYS: &str = "שלום, אני רוצה לקבוע תור";

#[derive(Clone)]
pub enum Outcome {
    Running,
    Done {
        call_sid: String,
        timeline: String,
        wav: Bytes,
        clean: bool,
    },
    Failed(String),
}

#[derive(Clone)]
struct Run {
    business_id: i64,
    started: Instant,
    outcome: Outcome,
}

#[derive(Default)]
pub struct Runs {
    runs: Mutex<HashMap<String, Run>>,
}

impl Runs {
    fn insert(&self, id: &str, business_id: i64) -> bool {
        let mut runs = self.runs.lock().expect("runs");
        runs.retain(|_, r| r.started.elapsed() < KEEP);
        let running = runs
            .values()
            .filter(|r| matches!(r.outcome, Outcome::Running))
            .count();
        if runs.len() >= MAX_RUNS || running >= 3 {
            return false;
        }
        runs.insert(
            id.to_string(),
            Run {
                business_id,
                started: Instant::now(),
                outcome: Outcome::Running,
            },
        );
        true
    }

    fn finish(&self, id: &str, outcome: Outcome) {
        if let Some(r) = self.runs.lock().expect("runs").get_mut(id) {
            r.outcome = outcome;
        }
    }

    /// A run of this business (another business's id finds nothing: C4).
    fn get(&self, id: &str, business_id: i64) -> Option<(Outcome, Duration)> {
        self.runs
            .lock()
            .expect("runs")
            .get(id)
            .filter(|r| r.business_id == business_id && r.started.elapsed() < KEEP)
            .map(|r| (r.outcome.clone(), r.started.elapsed()))
    }
}

#[derive(Template)]
#[template(path = "try.html")]
struct TryPage {
    l: Layout,
    number: String,
    caller: String,
    says: &'static str,
    error: String,
}

async fn business_number(state: &WebState, business_id: i64) -> Result<Option<String>, PageError> {
    Ok(businesses::numbers(&state.db, business_id)
        .await?
        .into_iter()
        .next())
}

pub async fn page(State(state): State<WebState>, b: BizViewer) -> PageResult {
    let number = business_number(&state, b.business_id).await?;
    Ok(ok(&TryPage {
        l: Layout::new("ניסיון שיחה", "try", Some(b.v.nav.clone())),
        error: if number.is_none() {
            "לעסק אין עדיין מספר טלפון, ולכן אי אפשר לחייג אליו.".into()
        } else {
            String::new()
        },
        number: number
            .as_deref()
            .map(super::view::phone)
            .unwrap_or_default(),
        caller: super::view::phone(CALLER),
        says: CALLER_SAYS,
    }))
}

pub async fn start(State(state): State<WebState>, b: BizViewer, headers: HeaderMap) -> PageResult {
    let Some(number) = business_number(&state, b.business_id).await? else {
        return Ok(Redirect::to("/app/biz/try").into_response());
    };
    let id = crate::config::random_hex(12);
    if !state.ui.runs.insert(&id, b.business_id) {
        let page = TryPage {
            l: Layout::new("ניסיון שיחה", "try", Some(b.v.nav.clone())),
            number: super::view::phone(&number),
            caller: super::view::phone(CALLER),
            says: CALLER_SAYS,
            error: "יותר מדי שיחות ניסיון כרגע. נסו שוב בעוד כמה דקות.".into(),
        };
        return Ok(render(StatusCode::TOO_MANY_REQUESTS, &page));
    }
    let base = public_base(&state.settings, &headers);
    tracing::info!(business_id = b.business_id, run = %id, "UI_TRY_CALL started");
    let task_state = state.clone();
    let run_id = id.clone();
    tokio::spawn(async move {
        let outcome = tokio::select! {
            o = simulate(&task_state, &base, &number) => o,
            _ = task_state.shutdown.cancelled() => Outcome::Failed("השרת נעצר".into()),
        };
        task_state.ui.runs.finish(&run_id, outcome);
    });
    Ok(Redirect::to(&format!("/app/biz/try/{id}")).into_response())
}

/// Plays one call against this server through the sim.
async fn simulate(state: &WebState, base: &str, number: &str) -> Outcome {
    let sid = state
        .settings
        .twilio_account_sid
        .clone()
        .unwrap_or_else(|| format!("AC{}", "0".repeat(32)));
    let token = state
        .settings
        .twilio_auth_token
        .as_ref()
        .map(|t| t.expose().to_string())
        .unwrap_or_else(|| "sim-auth-token".into());
    let sim = match Sim::start(SimConfig::new(sid, token)).await {
        Ok(sim) => sim,
        Err(e) => {
            tracing::warn!(error = %e, "UI_TRY_CALL: the sim did not start");
            return Outcome::Failed("הסימולטור לא עלה".into());
        }
    };
    let script = CallerScript::new()
        .wait_for_agent(Duration::from_secs(20))
        .say(CALLER_SAYS)
        .wait_for_agent(Duration::from_secs(20))
        .hang_up()
        .max_duration(Duration::from_secs(90));
    let result = sim.call(CallSpec::new(base, number, CALLER, script)).await;
    sim.shutdown().await;
    match result {
        Ok(report) => Outcome::Done {
            call_sid: report.call_sid.clone(),
            timeline: report.print_timeline(),
            wav: Bytes::from(report.conversation_wav()),
            clean: report.is_clean(),
        },
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "UI_TRY_CALL failed");
            Outcome::Failed("השיחה לא הצליחה".into())
        }
    }
}

#[derive(Template)]
#[template(path = "try_run.html")]
struct RunPage {
    l: Layout,
    id: String,
    running: bool,
    elapsed: u64,
    failed: String,
    timeline: String,
    clean: bool,
    call_id: Option<i64>,
}

pub async fn run_page(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
) -> PageResult {
    let (outcome, elapsed) = state
        .ui
        .runs
        .get(&id, b.business_id)
        .ok_or_else(|| PageError::NotFound(Some(b.v.nav.clone())))?;
    let mut page = RunPage {
        l: Layout::new("ניסיון שיחה", "try", Some(b.v.nav.clone())),
        id,
        running: false,
        elapsed: elapsed.as_secs(),
        failed: String::new(),
        timeline: String::new(),
        clean: false,
        call_id: None,
    };
    match outcome {
        Outcome::Running => page.running = true,
        Outcome::Failed(why) => page.failed = why,
        Outcome::Done {
            call_sid,
            timeline,
            clean,
            ..
        } => {
            page.timeline = timeline;
            page.clean = clean;
            page.call_id =
                crate::store::crm_calls::id_of(&state.db, b.business_id, &call_sid).await?;
        }
    }
    Ok(ok(&page))
}

pub async fn audio(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
) -> Response {
    match state.ui.runs.get(&id, b.business_id) {
        Some((Outcome::Done { wav, .. }, _)) => (
            [
                (header::CONTENT_TYPE, "audio/wav"),
                (header::CACHE_CONTROL, "private, max-age=900"),
            ],
            wav,
        )
            .into_response(),
        _ => PageError::NotFound(Some(b.v.nav.clone())).into_response(),
    }
}
