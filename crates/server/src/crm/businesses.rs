//! `/api/businesses`: the tenants, managed by operators; an owner reads and edits its own
//! business's settings (never its voice or WhatsApp numbers), an agent reads them.
//!
//! Numbers are E.164 (Israeli local forms accepted) and belong to one business: a voice or
//! WhatsApp number that another business already has, as either, answers 409 (inbound calls
//! and messages are routed by it, so a shared number would hand one tenant another's
//! callers). The database holds the same rule (migration 0012). Every change lands in the
//! audit log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::patch::{self, clean, max_len};
use crate::auth::{Caller, Operator};
use crate::calls::policy::{CallError, Policy};
use crate::crm::state::CrmState;
use crate::domain::Phone;
use crate::error::{ApiResult, AppError};
use crate::store::users::Role;
use crate::store::{self, audit, businesses};

pub fn router() -> Router<CrmState> {
    Router::new()
        .route("/api/businesses", get(list).post(create))
        .route(
            "/api/businesses/{id}",
            get(read).patch(update).delete(remove),
        )
}

/// A business as the API shows it.
#[derive(Debug, Serialize)]
pub struct BusinessOut {
    pub id: i64,
    pub name: String,
    pub numbers: Vec<String>,
    pub greeting: Option<String>,
    pub agent_prompt: Option<String>,
    pub business_hours: Option<serde_json::Value>,
    pub transfer_number: Option<String>,
    pub whatsapp_number: Option<String>,
    /// Meta's phone number id of the WhatsApp number (sends through Meta go out from it).
    pub meta_phone_number_id: Option<String>,
    pub auto_reply: bool,
    pub recording_retention_days: i64,
    /// The scripted agent's questions, in order; `null`: its default questions.
    pub intake_questions: Option<Vec<String>>,
    pub created_at: i64,
    pub updated_at: i64,
}

async fn view(state: &CrmState, id: i64) -> ApiResult<BusinessOut> {
    let b = businesses::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let numbers = businesses::numbers(&state.db, id).await?;
    let questions = b.questions();
    Ok(BusinessOut {
        id: b.id,
        name: b.name,
        numbers,
        greeting: b.greeting,
        agent_prompt: b.agent_prompt,
        business_hours: b
            .business_hours
            .as_deref()
            .map(|t| serde_json::from_str(t).unwrap_or(serde_json::Value::String(t.into()))),
        transfer_number: b.transfer_number,
        whatsapp_number: b.whatsapp_number,
        meta_phone_number_id: b.meta_phone_number_id,
        auto_reply: b.auto_reply != 0,
        recording_retention_days: b.recording_retention_days,
        intake_questions: Some(questions).filter(|q| !q.is_empty()),
        created_at: b.created_at,
        updated_at: b.updated_at,
    })
}

/// The fields of a create or a patch (on create, absent means the default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessBody {
    pub name: Option<String>,
    pub numbers: Option<Vec<String>>,
    #[serde(default, deserialize_with = "patch::some")]
    pub greeting: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::some")]
    pub agent_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::some")]
    pub business_hours: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "patch::some")]
    pub transfer_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::some")]
    pub whatsapp_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch::some")]
    pub meta_phone_number_id: Option<Option<String>>,
    pub auto_reply: Option<bool>,
    pub recording_retention_days: Option<i64>,
    #[serde(default, deserialize_with = "patch::some")]
    pub intake_questions: Option<Option<Vec<String>>>,
}

fn phone_field(field: &str, raw: Option<String>) -> ApiResult<Option<String>> {
    match clean(raw) {
        None => Ok(None),
        Some(p) => Phone::parse(&p)
            .map(|p| Some(p.to_string()))
            .map_err(|e| AppError::BadRequest(format!("{field}: {e}"))),
    }
}

fn parse_numbers(raw: &[String]) -> ApiResult<Vec<Phone>> {
    let mut out: Vec<Phone> = Vec::new();
    for r in raw {
        let p = Phone::parse(r).map_err(|e| AppError::BadRequest(format!("numbers: {e}")))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    if out.len() > 20 {
        return Err(AppError::BadRequest("numbers: at most 20".into()));
    }
    Ok(out)
}

/// Applies a body onto settings, validating each field it sets.
fn apply(mut s: businesses::Settings, b: BusinessBody) -> ApiResult<businesses::Settings> {
    if let Some(name) = b.name {
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(AppError::BadRequest("name must not be empty".into()));
        }
        max_len("name", Some(&name), 200)?;
        s.name = name;
    }
    if let Some(g) = b.greeting {
        let g = clean(g);
        max_len("greeting", g.as_deref(), 2000)?;
        s.greeting = g;
    }
    if let Some(p) = b.agent_prompt {
        let p = clean(p);
        max_len("agent_prompt", p.as_deref(), 20_000)?;
        s.agent_prompt = p;
    }
    if let Some(h) = b.business_hours {
        s.business_hours = match h {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => None,
            Some(serde_json::Value::String(text)) => {
                let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
                    AppError::BadRequest("business_hours: must be JSON (an object)".into())
                })?;
                Some(v.to_string())
            }
            Some(v) => Some(v.to_string()),
        };
        max_len("business_hours", s.business_hours.as_deref(), 10_000)?;
    }
    if let Some(t) = b.transfer_number {
        s.transfer_number = phone_field("transfer_number", t)?;
    }
    if let Some(w) = b.whatsapp_number {
        s.whatsapp_number = phone_field("whatsapp_number", w)?;
    }
    if let Some(id) = b.meta_phone_number_id {
        let id = clean(id);
        if id
            .as_deref()
            .is_some_and(|i| i.len() > 32 || !i.bytes().all(|c| c.is_ascii_digit()))
        {
            return Err(AppError::BadRequest(
                "meta_phone_number_id: Meta's numeric phone number id".into(),
            ));
        }
        s.meta_phone_number_id = id;
    }
    if let Some(a) = b.auto_reply {
        s.auto_reply = a;
    }
    if let Some(days) = b.recording_retention_days {
        if !(1..=3650).contains(&days) {
            return Err(AppError::BadRequest(
                "recording_retention_days: between 1 and 3650".into(),
            ));
        }
        s.recording_retention_days = days;
    }
    if let Some(q) = b.intake_questions {
        s.intake_questions = match q {
            None => None,
            Some(q) => {
                let q = crate::domain::intake_questions(&q)
                    .map_err(|e| AppError::BadRequest(format!("intake_questions: {e}")))?;
                Some(serde_json::to_string(&q).map_err(|e| AppError::Internal(e.into()))?)
            }
        };
    }
    Ok(s)
}

/// A write refused on a unique number: named by its field when the constraint says which
/// (a claim refused by the database's trigger, in a race with another write, does not).
fn number_conflict(e: sqlx::Error) -> AppError {
    if let Some(field) = store::unique_field(&e) {
        AppError::clash(
            field,
            format!("{field}: already belongs to another business"),
        )
    } else if store::is_unique_violation(&e) {
        AppError::Conflict(
            "a number or Meta phone number id already belongs to another business".into(),
        )
    } else {
        e.into()
    }
}

/// 409 when a number business `id` (`None`: the one being created) would get is already
/// another business's, as a voice number or as its WhatsApp number.
async fn check_claims(
    state: &CrmState,
    id: Option<i64>,
    numbers: Option<&[Phone]>,
    whatsapp: Option<&str>,
) -> ApiResult<()> {
    let whatsapp = whatsapp.and_then(|w| Phone::parse(w).ok());
    let claims = numbers
        .unwrap_or_default()
        .iter()
        .map(|n| ("numbers", n))
        .chain(whatsapp.iter().map(|w| ("whatsapp_number", w)));
    for (field, number) in claims {
        if businesses::claimed_elsewhere(&state.db, id, number)
            .await?
            .is_some()
        {
            return Err(AppError::clash(
                field,
                format!("{field}: {number} already belongs to another business"),
            ));
        }
    }
    Ok(())
}

/// 409 when another business already sends from this Meta phone number id.
async fn check_meta_id(state: &CrmState, id: Option<i64>, meta_id: Option<&str>) -> ApiResult<()> {
    if let Some(meta_id) = meta_id
        && businesses::meta_id_claimed_elsewhere(&state.db, id, meta_id)
            .await?
            .is_some()
    {
        return Err(AppError::clash(
            "meta_phone_number_id",
            format!("meta_phone_number_id: {meta_id} already belongs to another business"),
        ));
    }
    Ok(())
}

async fn list(State(state): State<CrmState>, _: Operator) -> ApiResult<Json<Vec<BusinessOut>>> {
    let mut out = Vec::new();
    for b in businesses::list(&state.db).await? {
        out.push(view(&state, b.id).await?);
    }
    Ok(Json(out))
}

/// A transfer number being set must pass the business's calling policy (#16.2): the agent
/// dials it on the service's account. One already set (the policy may have changed since)
/// is left as it is.
fn transfer_allowed(
    policy: &Policy,
    current: Option<&str>,
    next: Option<&str>,
) -> Result<(), CallError> {
    match next {
        Some(n) if Some(n) != current => {
            let phone = Phone::parse(n)
                .map_err(|e| AppError::BadRequest(format!("transfer_number: {e}")))?;
            Ok(crate::calls::policy::check_destination(policy, &phone)?)
        }
        _ => Ok(()),
    }
}

async fn create(
    State(state): State<CrmState>,
    Operator(caller): Operator,
    Json(body): Json<BusinessBody>,
) -> Result<(StatusCode, Json<BusinessOut>), CallError> {
    if body.name.is_none() {
        return Err(AppError::BadRequest("name is required".into()).into());
    }
    let numbers = parse_numbers(body.numbers.as_deref().unwrap_or_default())?;
    let defaults = businesses::Settings {
        auto_reply: true,
        recording_retention_days: 30,
        ..Default::default()
    };
    let settings = apply(defaults, body)?;
    // A new business has the default calling policy.
    transfer_allowed(
        &Policy::default(),
        None,
        settings.transfer_number.as_deref(),
    )?;
    check_claims(
        &state,
        None,
        Some(&numbers),
        settings.whatsapp_number.as_deref(),
    )
    .await?;
    check_meta_id(&state, None, settings.meta_phone_number_id.as_deref()).await?;
    let id = businesses::create_with(&state.db, &settings, &numbers)
        .await
        .map_err(number_conflict)?;
    let out = view(&state, id).await?;
    audit::record(
        &state.db,
        audit::Entry {
            business_id: Some(id),
            actor_user_id: super::actor(&caller),
            actor_token_id: super::actor_token(&caller),
            entity: "business",
            entity_id: id,
            action: "create",
            changes: serde_json::to_value(&out).unwrap_or_default(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Operators see every business; anyone else only their own (another id is not found).
fn visible(caller: &Caller, id: i64) -> ApiResult<()> {
    if caller.is_operator() || caller.business_id == Some(id) {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

async fn read(
    State(state): State<CrmState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<BusinessOut>> {
    visible(&caller, id)?;
    Ok(Json(view(&state, id).await?))
}

async fn update(
    State(state): State<CrmState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<BusinessBody>,
) -> Result<Json<BusinessOut>, CallError> {
    visible(&caller, id)?;
    caller.require_owner()?;
    // The numbers route calls and messages to a business: only operators assign them. (An
    // owner's client may send the WhatsApp number back unchanged; see below.)
    let operator = caller.role == Role::Operator;
    if body.numbers.is_some() && !operator {
        return Err(AppError::Forbidden.into());
    }
    let before = view(&state, id).await?;
    let current = businesses::get(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let numbers = body.numbers.as_deref().map(parse_numbers).transpose()?;
    let new_whatsapp = body.whatsapp_number.is_some();
    let current_transfer = current.transfer_number.clone();
    let settings = apply(
        businesses::Settings {
            name: current.name,
            greeting: current.greeting,
            agent_prompt: current.agent_prompt,
            business_hours: current.business_hours,
            transfer_number: current.transfer_number,
            whatsapp_number: current.whatsapp_number,
            auto_reply: current.auto_reply != 0,
            recording_retention_days: current.recording_retention_days,
            intake_questions: current.intake_questions,
            meta_phone_number_id: current.meta_phone_number_id,
        },
        body,
    )?;
    if new_whatsapp && !operator && settings.whatsapp_number != before.whatsapp_number {
        return Err(AppError::Forbidden.into());
    }
    transfer_allowed(
        &crate::calls::policy::load(&state.db, id).await?,
        current_transfer.as_deref(),
        settings.transfer_number.as_deref(),
    )?;
    // Like the numbers, the sender is the operator's to assign (an owner's client may send
    // it back unchanged).
    if !operator && settings.meta_phone_number_id != before.meta_phone_number_id {
        return Err(AppError::Forbidden.into());
    }
    check_meta_id(&state, Some(id), settings.meta_phone_number_id.as_deref()).await?;
    let whatsapp = settings.whatsapp_number.as_deref().filter(|_| new_whatsapp);
    check_claims(&state, Some(id), numbers.as_deref(), whatsapp).await?;
    if !businesses::update(&state.db, id, &settings, numbers.as_deref())
        .await
        .map_err(number_conflict)?
    {
        return Err(AppError::NotFound.into());
    }
    let after = view(&state, id).await?;
    let changes = audit::diff(
        &serde_json::to_value(&before).unwrap_or_default(),
        &serde_json::to_value(&after).unwrap_or_default(),
    );
    audit::record(
        &state.db,
        audit::Entry {
            business_id: Some(id),
            actor_user_id: super::actor(&caller),
            actor_token_id: super::actor_token(&caller),
            entity: "business",
            entity_id: id,
            action: "update",
            changes,
        },
    )
    .await?;
    Ok(Json(after))
}

async fn remove(
    State(state): State<CrmState>,
    Operator(caller): Operator,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let before = view(&state, id).await?;
    if !businesses::delete(&state.db, id).await? {
        return Err(AppError::NotFound);
    }
    // Its users, and so their sessions, went with it.
    state.auth.sessions.clear();
    audit::record(
        &state.db,
        audit::Entry {
            business_id: Some(id),
            actor_user_id: super::actor(&caller),
            actor_token_id: super::actor_token(&caller),
            entity: "business",
            entity_id: id,
            action: "delete",
            changes: serde_json::to_value(&before).unwrap_or_default(),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
