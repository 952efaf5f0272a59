//! "Try a call": the owner or an agent rings their own business from the browser.
//!
//! The in-process sim plays Twilio and a caller who says one Hebrew sentence; the call runs
//! through the real webhooks and media socket of this server, so it lands in the call log
//! like any other. The owner writes what the caller says, line by line (a sentence to try
//! the agent on); the page shows the conversation as chat bubbles from the call's stored
//! turns and the whole conversation as audio, with the sim's protocol timeline folded away.
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
/// The most caller lines a test call takes, and the longest line.
const MAX_LINES: usize = 6;
const MAX_LINE_CHARS: usize = 200;

/// What the caller will say: one line each turn; empty text means the default sentence.
fn caller_lines(text: &str) -> Result<Vec<String>, &'static str> {
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if lines.is_empty() {
        return Ok(vec![CALLER_SAYS.to_string()]);
    }
    if lines.len() > MAX_LINES {
        return Err("אפשר עד 6 שורות של המתקשר/ת בשיחת ניסיון.");
    }
    if lines.iter().any(|l| l.chars().count() > MAX_LINE_CHARS) {
        return Err("כל שורה של המתקשר/ת יכולה להכיל עד 200 תווים.");
    }
    Ok(lines)
}

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
    lines: Vec<String>,
    started: Instant,
    outcome: Outcome,
}

#[derive(Default)]
pub struct Runs {
    runs: Mutex<HashMap<String, Run>>,
}

impl Runs {
    fn insert(&self, id: &str, business_id: i64, lines: Vec<String>) -> bool {
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
                lines,
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
    fn get(&self, id: &str, business_id: i64) -> Option<(Outcome, Duration, Vec<String>)> {
        self.runs
            .lock()
            .expect("runs")
            .get(id)
            .filter(|r| r.business_id == business_id && r.started.elapsed() < KEEP)
            .map(|r| (r.outcome.clone(), r.started.elapsed(), r.lines.clone()))
    }
}

#[derive(Template)]
#[template(path = "try.html")]
struct TryPage {
    l: Layout,
    number: String,
    caller: String,
    /// The caller's lines as typed (or the default), one per line.
    lines: String,
    error: String,
    /// Why no call can be tried now (the button is disabled with it).
    blocked: Option<&'static str>,
}

async fn business_number(state: &WebState, business_id: i64) -> Result<Option<String>, PageError> {
    Ok(businesses::numbers(&state.db, business_id)
        .await?
        .into_iter()
        .next())
}

pub async fn page(State(state): State<WebState>, b: BizViewer) -> PageResult {
    let number = business_number(&state, b.business_id).await?;
    Ok(ok(&try_page(
        &b,
        number.as_deref(),
        CALLER_SAYS.into(),
        String::new(),
    )))
}

fn try_page(b: &BizViewer, number: Option<&str>, lines: String, error: String) -> TryPage {
    TryPage {
        l: Layout::new("ניסיון שיחה", "try", Some(b.v.nav.clone())),
        blocked: number
            .is_none()
            .then_some("לעסק אין עדיין מספר טלפון, ולכן אי אפשר לחייג אליו."),
        number: number.map(super::view::phone).unwrap_or_default(),
        caller: super::view::phone(CALLER),
        lines,
        error,
    }
}

#[derive(serde::Deserialize, Default)]
struct TryForm {
    #[serde(default)]
    lines: String,
}

pub async fn start(
    State(state): State<WebState>,
    b: BizViewer,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let Some(number) = business_number(&state, b.business_id).await? else {
        return Ok(Redirect::to("/app/biz/try").into_response());
    };
    // No body (a plain "try again" button) is the default sentence.
    let form: TryForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let lines = match caller_lines(&form.lines) {
        Ok(lines) => lines,
        Err(why) => {
            let page = try_page(&b, Some(&number), form.lines.clone(), why.into());
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let id = crate::config::random_hex(12);
    if !state.ui.runs.insert(&id, b.business_id, lines.clone()) {
        let page = try_page(
            &b,
            Some(&number),
            lines.join("\n"),
            "יותר מדי שיחות ניסיון כרגע. נסו שוב בעוד כמה דקות.".into(),
        );
        return Ok(render(StatusCode::TOO_MANY_REQUESTS, &page));
    }
    let base = public_base(&state.settings, &headers);
    tracing::info!(business_id = b.business_id, run = %id, "UI_TRY_CALL started");
    let task_state = state.clone();
    let run_id = id.clone();
    tokio::spawn(async move {
        let outcome = tokio::select! {
            o = simulate(&task_state, &base, &number, &lines) => o,
            _ = task_state.shutdown.cancelled() => Outcome::Failed("השרת נעצר".into()),
        };
        task_state.ui.runs.finish(&run_id, outcome);
    });
    Ok(Redirect::to(&format!("/app/biz/try/{id}")).into_response())
}

/// Plays one call against this server through the sim.
async fn simulate(state: &WebState, base: &str, number: &str, lines: &[String]) -> Outcome {
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
    let mut script = CallerScript::new().wait_for_agent(Duration::from_secs(20));
    for line in lines {
        script = script.say(line).wait_for_agent(Duration::from_secs(20));
    }
    let script = script
        .hang_up()
        .max_duration(Duration::from_secs(30 + 20 * lines.len() as u64));
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
    /// The conversation as chat bubbles, in order.
    bubbles: Vec<Bubble>,
    /// The caller's lines, to edit and try again.
    lines: String,
    /// The summary the call produced, once the post-call work made it.
    summary: String,
    /// The lead the call created or updated: its id and name.
    lead: Option<(i64, String)>,
    /// The summary is still being made: the page refreshes itself until it is there.
    waiting: bool,
}

/// One line of the conversation as the page shows it.
pub struct Bubble {
    /// The caller's (`true`) or the agent's.
    pub caller: bool,
    pub text: String,
    /// A note under the text: what the caller meant to say when speech-to-text heard
    /// something else, or that nothing transcribed it.
    pub note: String,
}

/// The bubbles of a finished test call: its stored turns, with each caller turn beside the
/// line the simulated caller was given.
fn bubbles(turns: &[crate::store::turns::Turn], lines: &[String]) -> Vec<Bubble> {
    let mut out = Vec::new();
    let mut said = lines.iter();
    for t in turns {
        let heard = t.caller_text.as_deref().map(str::trim).unwrap_or("");
        if !heard.is_empty() || t.has_audio != 0 {
            let line = said.next().cloned().unwrap_or_default();
            let (text, note) = if heard.is_empty() {
                (
                    line,
                    "לא תומלל: אין זיהוי דיבור, התשובה נשמרה כהקלטה".to_string(),
                )
            } else if !line.is_empty() && heard != line {
                (heard.to_string(), format!("נאמר: „{line}”"))
            } else {
                (heard.to_string(), String::new())
            };
            out.push(Bubble {
                caller: true,
                text,
                note,
            });
        }
        let agent = t.agent_text.as_deref().map(str::trim).unwrap_or("");
        if !agent.is_empty() {
            out.push(Bubble {
                caller: false,
                text: agent.to_string(),
                note: if t.barged_in != 0 {
                    "נקטע".into()
                } else {
                    String::new()
                },
            });
        }
    }
    out
}

pub async fn run_page(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
) -> PageResult {
    let (outcome, elapsed, lines) = state
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
        bubbles: Vec::new(),
        lines: lines.join("\n"),
        summary: String::new(),
        lead: None,
        waiting: false,
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
            if let Some(call_id) = page.call_id {
                let turns =
                    crate::store::crm_calls::turns(&state.db, b.business_id, call_id).await?;
                page.bubbles = bubbles(&turns, &lines);
                if let Some(call) =
                    crate::store::crm_calls::get(&state.db, b.business_id, call_id).await?
                {
                    page.summary = call.call_summary.clone().unwrap_or_default();
                    page.lead = match call.customer_id {
                        Some(id) => crate::store::customers::get(&state.db, b.business_id, id)
                            .await?
                            .map(|c| (id, c.name.unwrap_or_else(|| super::view::phone(&c.phone)))),
                        None => None,
                    };
                    // The post-call work takes seconds; past two minutes, stop waiting.
                    page.waiting = page.summary.is_empty() && elapsed < Duration::from_secs(120);
                }
            }
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
        Some((Outcome::Done { wav, .. }, _, _)) => (
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_lines_default_trim_and_limit() {
        assert_eq!(
            caller_lines("  \n ").unwrap(),
            vec![CALLER_SAYS.to_string()]
        );
        assert_eq!(
            caller_lines(" שלום \n\n שמי דנה ").unwrap(),
            vec!["שלום".to_string(), "שמי דנה".to_string()]
        );
        assert!(caller_lines(&"שורה\n".repeat(7)).is_err());
        assert!(caller_lines(&"א".repeat(201)).is_err());
    }
}
