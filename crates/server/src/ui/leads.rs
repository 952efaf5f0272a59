//! Leads: the list with search, status filter and pages; a lead's page with its timeline
//! (calls with their audio, transcript and summary; WhatsApp messages; notes); the create and
//! edit forms; CSV import and export through the CRM API.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::data::leads::{self, LeadFields, STATUSES};
use super::data::{calls, whatsapp};
use super::lead_check::{FieldErrors, validate};
use super::page::{Layout, PageError, PageResult, ok, render};
use super::time;
use super::view::{self, Choice, LeadView};
use super::viewer::BizViewer;
use crate::store::{customers, now_ms};
use crate::ui::state::WebState;

fn status_options(current: &str) -> Vec<Choice> {
    STATUSES
        .iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

#[derive(Deserialize, Default, Clone)]
pub struct LeadForm {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) phone: String,
    #[serde(default)]
    pub(super) email: String,
    #[serde(default)]
    pub(super) status: String,
    #[serde(default)]
    pub(super) tags: String,
    #[serde(default)]
    pub(super) notes: String,
}

#[derive(Template)]
#[template(path = "lead_form.html")]
struct LeadFormPage {
    l: Layout,
    action: String,
    heading: String,
    f: LeadForm,
    statuses: Vec<Choice>,
    error: String,
    existing: Option<i64>,
    cancel: String,
    errors: FieldErrors,
}

fn form_page(
    b: &BizViewer,
    id: Option<i64>,
    f: LeadForm,
    error: String,
    existing: Option<i64>,
) -> LeadFormPage {
    with_errors(b, id, f, error, existing, FieldErrors::default())
}

/// The form shown again with what is wrong beside each field, and a summary on top.
fn invalid_form(b: &BizViewer, id: Option<i64>, f: LeadForm, errors: FieldErrors) -> Response {
    let page = with_errors(b, id, f, "יש לתקן את השדות המסומנים.".into(), None, errors);
    render(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

fn with_errors(
    b: &BizViewer,
    id: Option<i64>,
    f: LeadForm,
    error: String,
    existing: Option<i64>,
    errors: FieldErrors,
) -> LeadFormPage {
    let (action, heading, cancel) = match id {
        Some(id) => (
            format!("/app/biz/leads/{id}/edit"),
            "עריכת ליד".to_string(),
            format!("/app/biz/leads/{id}"),
        ),
        None => (
            "/app/biz/leads/new".to_string(),
            "ליד חדש".to_string(),
            "/app/biz/leads".to_string(),
        ),
    };
    LeadFormPage {
        l: Layout::new(heading.clone(), "leads", Some(b.v.nav.clone())),
        action,
        heading,
        statuses: status_options(&f.status),
        f,
        error,
        existing,
        cancel,
        errors,
    }
}

pub async fn new_form(b: BizViewer) -> PageResult {
    let f = LeadForm {
        status: "new".into(),
        ..Default::default()
    };
    Ok(ok(&form_page(&b, None, f, String::new(), None)))
}

fn opt(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

pub async fn create(
    State(state): State<WebState>,
    b: BizViewer,
    Form(f): Form<LeadForm>,
) -> PageResult {
    let (phone, status) = match validate(&f) {
        Ok(v) => v,
        Err(e) => return Ok(invalid_form(&b, None, f, e)),
    };
    let fields = LeadFields {
        name: opt(&f.name),
        phone: phone.as_str(),
        email: opt(&f.email),
        status: &status,
        tags: f.tags.trim(),
        notes: f.notes.trim(),
    };
    // The number of a deleted lead: it comes back with the form's details (#20).
    if let Some(gone) = customers::by_phone(&state.db, b.business_id, &phone)
        .await?
        .filter(|c| c.deleted_at.is_some())
        && leads::update(&state.db, b.business_id, gone.id, &fields).await?
    {
        return Ok(Redirect::to(&format!("/app/biz/leads/{}", gone.id)).into_response());
    }
    match leads::create(&state.db, b.business_id, &fields).await {
        Ok(id) => {
            if let Err(e) = crate::hooks::emit_lead(&state.db, b.business_id, id).await {
                tracing::warn!(error = %e, "WEBHOOK_EMIT_FAILED");
            }
            Ok(Redirect::to(&format!("/app/biz/leads/{id}")).into_response())
        }
        Err(e) if crate::store::is_unique_violation(&e) => {
            let existing = customers::by_phone(&state.db, b.business_id, &phone)
                .await?
                .map(|c| c.id);
            Ok(render(
                StatusCode::CONFLICT,
                &form_page(
                    &b,
                    None,
                    f,
                    clash_message(crate::store::unique_field(&e)),
                    existing,
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// What the form says when a value is already another lead's, naming the field that
/// clashed (#17); a lead's phone is the one unique value it has.
fn clash_message(field: Option<&str>) -> String {
    match field {
        Some("phone") => "מספר הטלפון הזה כבר רשום לליד אחר.",
        _ => "הפרטים האלה כבר רשומים לליד אחר.",
    }
    .into()
}

fn parse_id(raw: &str, b: &BizViewer) -> Result<i64, PageError> {
    raw.parse::<i64>()
        .map_err(|_| PageError::NotFound(Some(b.v.nav.clone())))
}

pub async fn edit_form(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_id(&id, &b)?;
    let c = customers::get(&state.db, b.business_id, id)
        .await?
        .ok_or_else(|| PageError::NotFound(Some(b.v.nav.clone())))?;
    let f = LeadForm {
        name: c.name.unwrap_or_default(),
        phone: view::phone(&c.phone),
        email: c.email.unwrap_or_default(),
        status: c.status,
        tags: c.tags,
        notes: c.notes,
    };
    Ok(ok(&form_page(&b, Some(id), f, String::new(), None)))
}

pub async fn update(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
    Form(f): Form<LeadForm>,
) -> PageResult {
    let id = parse_id(&id, &b)?;
    if customers::get(&state.db, b.business_id, id)
        .await?
        .is_none()
    {
        return Err(PageError::NotFound(Some(b.v.nav.clone())));
    }
    let (phone, status) = match validate(&f) {
        Ok(v) => v,
        Err(e) => return Ok(invalid_form(&b, Some(id), f, e)),
    };
    let fields = LeadFields {
        name: opt(&f.name),
        phone: phone.as_str(),
        email: opt(&f.email),
        status: &status,
        tags: f.tags.trim(),
        notes: f.notes.trim(),
    };
    match leads::update(&state.db, b.business_id, id, &fields).await {
        Ok(true) => Ok(Redirect::to(&format!("/app/biz/leads/{id}")).into_response()),
        Ok(false) => Err(PageError::NotFound(Some(b.v.nav.clone()))),
        Err(e) if crate::store::is_unique_violation(&e) => {
            let existing = customers::by_phone(&state.db, b.business_id, &phone)
                .await?
                .map(|c| c.id);
            Ok(render(
                StatusCode::CONFLICT,
                &form_page(
                    &b,
                    Some(id),
                    f,
                    clash_message(crate::store::unique_field(&e)),
                    existing,
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// One event in a lead's history.
pub struct Item {
    pub at: i64,
    pub when: String,
    pub when_iso: String,
    pub kind: &'static str,
    pub title: String,
    pub body: String,
    pub call_id: Option<i64>,
    pub audio: bool,
    pub transcript: String,
    pub ticks: &'static str,
    pub ticks_label: &'static str,
    pub incoming: bool,
}

#[derive(Template)]
#[template(path = "lead.html")]
struct LeadPage {
    l: Layout,
    c: LeadView,
    notes: String,
    items: Vec<Item>,
    whatsapp: bool,
    notes_table: bool,
    business_id: i64,
    phone_e164: String,
    /// The lead's appointments, latest first (#19).
    appointments: Vec<super::appointment_lines::ApptLine>,
    /// Its tasks, follow-up and assignee (#20).
    care: super::lead_pages::LeadCare,
    /// Owners may delete a lead (it can be restored).
    can_delete: bool,
}

pub async fn detail(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = parse_id(&id, &b)?;
    let db = &state.db;
    let c = customers::get(db, b.business_id, id)
        .await?
        .ok_or_else(|| PageError::NotFound(Some(b.v.nav.clone())))?;
    let now = now_ms();
    let mut items = Vec::new();
    for call in calls::of_customer(db, b.business_id, c.id, &c.phone).await? {
        let v = view::call(&call, now);
        items.push(Item {
            at: call.created_at,
            when: v.when.clone(),
            when_iso: v.when_iso.clone(),
            kind: "call",
            title: format!("שיחה {} · {} · {}", v.direction, v.status, v.duration),
            body: call
                .call_summary
                .clone()
                .or(call.caller_reason.clone())
                .unwrap_or_default(),
            call_id: Some(call.id),
            audio: call.recording_url.is_some(),
            transcript: call.transcription.clone().unwrap_or_default(),
            ticks: "",
            ticks_label: "",
            incoming: v.inbound,
        });
    }
    let wa = state.ui.tables.whatsapp(db).await;
    if wa {
        for m in whatsapp::messages(db, b.business_id, c.id, 200).await? {
            let incoming = m.direction == "in";
            let (ticks, ticks_label) = if incoming {
                ("", "")
            } else {
                whatsapp::ticks(&m.status)
            };
            items.push(Item {
                at: m.created_at,
                when: time::relative(m.created_at, now),
                when_iso: time::iso(m.created_at),
                kind: "whatsapp",
                title: if incoming {
                    "הודעת וואטסאפ נכנסת".into()
                } else {
                    "הודעת וואטסאפ יוצאת".into()
                },
                body: m
                    .body
                    .or(m.template.map(|t| format!("תבנית: {t}")))
                    .unwrap_or_default(),
                call_id: None,
                audio: false,
                transcript: String::new(),
                ticks,
                ticks_label,
                incoming,
            });
        }
    }
    let notes_table = state.ui.tables.notes(db).await;
    if notes_table {
        for n in leads::notes(db, b.business_id, c.id).await? {
            items.push(Item {
                at: n.created_at,
                when: time::relative(n.created_at, now),
                when_iso: time::iso(n.created_at),
                kind: "note",
                title: format!(
                    "הערה{}",
                    n.author.map(|a| format!(" · {a}")).unwrap_or_default()
                ),
                body: n.body,
                call_id: None,
                audio: false,
                transcript: String::new(),
                ticks: "",
                ticks_label: "",
                incoming: false,
            });
        }
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.at));
    let appointments = super::appointment_lines::lines(
        crate::store::appointments_view::of_lead(db, b.business_id, c.id, Some(&c.phone)).await?,
        now,
    );
    let care = super::lead_pages::lead_care(db, b.business_id, &c).await?;
    let lv = view::lead(&c, now);
    Ok(ok(&LeadPage {
        care,
        can_delete: b.v.is_owner(),
        l: Layout::new(lv.name.clone(), "leads", Some(b.v.nav.clone())),
        c: lv,
        notes: c.notes.clone(),
        items,
        whatsapp: wa,
        notes_table,
        business_id: b.business_id,
        phone_e164: c.phone.clone(),
        appointments,
    }))
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    l: Layout,
}

pub async fn import_page(b: BizViewer) -> PageResult {
    Ok(ok(&ImportPage {
        l: Layout::new("ייבוא לידים", "leads", Some(b.v.nav.clone())),
    }))
}
