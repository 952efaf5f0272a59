//! Settings, for the business's owner only (agents get the "no permission" page): the
//! greeting with a "listen" button that plays the Hebrew audio the service will speak, the
//! agent's prompt and intake questions, hours, transfer number, WhatsApp auto-reply, and the
//! business's users.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::data::settings::{self, BusinessSettings};
use super::page::{Layout, PageError, PageResult, ok, render};
use super::time;
use super::view;
use super::viewer::OwnerViewer;
use crate::domain::Phone;
use crate::store::businesses;
use crate::store::users::Role;
use crate::ui::state::WebState;

pub struct UserView {
    pub email: String,
    pub role: &'static str,
    pub created: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    l: Layout,
    business: String,
    greeting: String,
    greeting_audio: String,
    default_greeting: String,
    agent_prompt: String,
    /// One question per line.
    questions: String,
    default_questions: String,
    hours: String,
    transfer: String,
    auto_reply: bool,
    record_calls: bool,
    announce_recording: bool,
    recording_notice: &'static str,
    users: Vec<UserView>,
    saved: bool,
    error: String,
}

#[derive(Deserialize, Default)]
pub struct SavedQuery {
    saved: Option<String>,
}

async fn page_for(
    state: &WebState,
    o: &OwnerViewer,
    s: BusinessSettings,
    saved: bool,
    error: String,
) -> Result<SettingsPage, PageError> {
    let b = &o.0;
    let default_greeting = voice::provider::default_greeting(&s.name);
    let spoken = s
        .greeting
        .clone()
        .filter(|g| !g.trim().is_empty())
        .unwrap_or_else(|| default_greeting.clone());
    let spoken = crate::calls::conversation::spoken_greeting(
        &spoken,
        s.record_calls != 0 && s.announce_recording != 0,
    );
    let users = settings::users(&state.db, b.business_id)
        .await?
        .into_iter()
        .map(|u| UserView {
            email: u.email,
            role: Role::parse(&u.role)
                .map(super::page::NavUser::role_label)
                .unwrap_or("?"),
            created: time::date(u.created_at),
        })
        .collect();
    Ok(SettingsPage {
        l: Layout::new("הגדרות", "settings", Some(b.v.nav.clone())),
        business: s.name.clone(),
        greeting_audio: state.prompts.url("", Some(b.business_id), &spoken),
        greeting: s.greeting.unwrap_or_default(),
        default_greeting,
        agent_prompt: s.agent_prompt.unwrap_or_default(),
        questions: businesses::parse_questions(s.intake_questions.as_deref()).join("\n"),
        default_questions: voice::agent::scripted::DEFAULT_QUESTIONS.join("\n"),
        hours: s.business_hours.unwrap_or_default(),
        transfer: s
            .transfer_number
            .as_deref()
            .map(view::phone)
            .unwrap_or_default(),
        auto_reply: s.auto_reply != 0,
        record_calls: s.record_calls != 0,
        announce_recording: s.announce_recording != 0,
        recording_notice: crate::calls::conversation::RECORDING_NOTICE,
        users,
        saved,
        error,
    })
}

pub async fn page(
    State(state): State<WebState>,
    o: OwnerViewer,
    Query(q): Query<SavedQuery>,
) -> PageResult {
    let s = settings::get(&state.db, o.0.business_id)
        .await?
        .ok_or_else(|| PageError::NotFound(Some(o.0.v.nav.clone())))?;
    let p = page_for(&state, &o, s, q.saved.is_some(), String::new()).await?;
    Ok(ok(&p))
}

#[derive(Deserialize, Default)]
pub struct SettingsForm {
    #[serde(default)]
    greeting: String,
    #[serde(default)]
    agent_prompt: String,
    #[serde(default)]
    questions: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    transfer: String,
    auto_reply: Option<String>,
    record_calls: Option<String>,
    announce_recording: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

pub async fn save(
    State(state): State<WebState>,
    o: OwnerViewer,
    Form(f): Form<SettingsForm>,
) -> PageResult {
    let current = settings::get(&state.db, o.0.business_id)
        .await?
        .ok_or_else(|| PageError::NotFound(Some(o.0.v.nav.clone())))?;
    let transfer = match opt(&f.transfer) {
        None => Ok(None),
        Some(t) => Phone::parse(&t).map(|p| Some(p.as_str().to_string())),
    };
    // One question per line; none at all means the agent's defaults.
    let lines: Vec<String> = f
        .questions
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let questions = if lines.is_empty() {
        Ok(None)
    } else {
        crate::domain::intake_questions(&lines)
            .map(|q| serde_json::to_string(&q).ok())
            .map_err(|_| ())
    };
    let mut next = BusinessSettings {
        name: current.name.clone(),
        greeting: opt(&f.greeting),
        agent_prompt: opt(&f.agent_prompt),
        business_hours: opt(&f.hours),
        transfer_number: None,
        auto_reply: i64::from(f.auto_reply.is_some()),
        record_calls: i64::from(f.record_calls.is_some()),
        announce_recording: i64::from(f.announce_recording.is_some()),
        intake_questions: match &questions {
            Ok(q) => q.clone(),
            // Shown back as typed, so nothing is lost while it is fixed.
            Err(()) => serde_json::to_string(&lines).ok(),
        },
    };
    let too_long = [
        (&next.greeting, 1000),
        (&next.agent_prompt, 8000),
        (&next.business_hours, 2000),
    ]
    .iter()
    .any(|(v, max)| v.as_ref().is_some_and(|v| v.chars().count() > *max));
    // A new transfer number must pass the business's calling policy (#16.2).
    let refused = match &transfer {
        Ok(Some(t)) if Some(t) != current.transfer_number.as_ref() => {
            let rules = crate::calls::policy::load(&state.db, o.0.business_id).await?;
            match Phone::parse(t).map(|p| crate::calls::policy::check_destination(&rules, &p)) {
                Ok(Err(crate::calls::policy::Refusal::Destination(why))) => Some(why),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(why) = refused {
        let p = page_for(
            &state,
            &o,
            next,
            false,
            format!("מספר ההעברה אינו מותר: {why}"),
        )
        .await?;
        return Ok(render(StatusCode::FORBIDDEN, &p));
    }
    let error = match (&transfer, too_long, &questions) {
        (Err(_), _, _) => Some("מספר ההעברה אינו תקין."),
        (_, true, _) => Some("אחד השדות ארוך מדי."),
        (_, _, Err(())) => Some("אפשר לכתוב עד 10 שאלות, כל אחת עד 200 תווים."),
        _ => None,
    };
    if let Some(error) = error {
        let p = page_for(&state, &o, next, false, error.into()).await?;
        return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &p));
    }
    next.transfer_number = transfer.unwrap_or(None);
    settings::save(&state.db, o.0.business_id, &next).await?;
    tracing::info!(
        business_id = o.0.business_id,
        user_id = o.0.v.caller.user_id,
        "UI_SETTINGS_SAVED"
    );
    Ok(Redirect::to("/app/biz/settings?saved=1").into_response())
}

#[derive(Deserialize)]
pub struct ListenQuery {
    text: Option<String>,
}

/// The spoken audio of a greeting being written: a redirect to the prompt's URL, which the
/// prompt service makes on first request.
pub async fn listen(
    State(state): State<WebState>,
    o: OwnerViewer,
    Query(q): Query<ListenQuery>,
) -> Response {
    let text = match q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => t.chars().take(1000).collect::<String>(),
        None => match settings::get(&state.db, o.0.business_id).await {
            Ok(Some(s)) => s
                .greeting
                .filter(|g| !g.trim().is_empty())
                .unwrap_or_else(|| voice::provider::default_greeting(&s.name)),
            _ => return PageError::NotFound(Some(o.0.v.nav.clone())).into_response(),
        },
    };
    Redirect::to(&state.prompts.url("", Some(o.0.business_id), &text)).into_response()
}
