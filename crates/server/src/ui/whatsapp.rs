//! The WhatsApp inbox: threads, one conversation (refreshed every few seconds), and a send
//! box that knows WhatsApp's 24-hour window: inside it free text goes through
//! `/api/whatsapp/send`; outside it the box says a template is needed and offers one.
//! Outgoing messages show delivery ticks from their status. Shown only when the
//! `whatsapp_messages` table exists; otherwise the page says "not available".

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Html;

use super::data::whatsapp::{self, WINDOW_MS};
use super::page::{Layout, PageError, PageResult, ok};
use super::time;
use super::view;
use super::viewer::BizViewer;
use crate::store::{customers, now_ms};
use crate::ui::state::WebState;

pub struct ThreadRow {
    pub customer_id: i64,
    pub who: String,
    pub phone: String,
    pub body: String,
    pub when: String,
    pub unanswered: bool,
}

#[derive(Template)]
#[template(path = "whatsapp.html")]
struct InboxPage {
    l: Layout,
    available: bool,
    threads: Vec<ThreadRow>,
}

pub async fn inbox(State(state): State<WebState>, b: BizViewer) -> PageResult {
    let l = Layout::new("וואטסאפ", "whatsapp", Some(b.v.nav.clone()));
    if !state.ui.tables.whatsapp(&state.db).await {
        return Ok(ok(&InboxPage {
            l,
            available: false,
            threads: vec![],
        }));
    }
    let now = now_ms();
    let threads = whatsapp::threads(&state.db, b.business_id, false, 200)
        .await?
        .into_iter()
        .map(|t| {
            let phone = t.phone.as_deref().map(view::phone).unwrap_or_default();
            ThreadRow {
                customer_id: t.customer_id,
                who: t
                    .name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| phone.clone()),
                phone,
                body: view::excerpt(t.body.as_deref().unwrap_or(""), 80),
                when: time::relative(t.created_at, now),
                unanswered: t.direction == "in",
            }
        })
        .collect();
    Ok(ok(&InboxPage {
        l,
        available: true,
        threads,
    }))
}

pub struct MessageView {
    pub incoming: bool,
    pub body: String,
    pub when: String,
    pub when_iso: String,
    pub ticks: &'static str,
    pub ticks_label: &'static str,
    pub status: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "wa_messages.html")]
struct Messages {
    messages: Vec<MessageView>,
}

async fn messages_html(
    state: &WebState,
    business_id: i64,
    customer_id: i64,
) -> Result<String, PageError> {
    let now = now_ms();
    let messages = whatsapp::messages(&state.db, business_id, customer_id, 200)
        .await?
        .into_iter()
        .map(|m| {
            let incoming = m.direction == "in";
            let (ticks, ticks_label) = if incoming {
                ("", "")
            } else {
                whatsapp::ticks(&m.status)
            };
            MessageView {
                incoming,
                body: m
                    .body
                    .or(m.template.map(|t| format!("[תבנית {t}]")))
                    .unwrap_or_default(),
                when: time::relative(m.created_at, now),
                when_iso: time::iso(m.created_at),
                ticks,
                ticks_label,
                status: m.status,
                // The bridge's refusals say in Hebrew what to do; others as the provider said.
                error: m
                    .error_code
                    .as_deref()
                    .filter(|_| m.provider == "baileys")
                    .and_then(crate::whatsapp::pairing::send_error_hebrew)
                    .map(str::to_string)
                    .or(m.error_message)
                    .unwrap_or_default(),
            }
        })
        .collect();
    Messages { messages }
        .render()
        .map_err(|e| PageError::Internal(e.into()))
}

#[derive(Template)]
#[template(path = "wa_thread.html")]
struct ThreadPage {
    l: Layout,
    customer_id: i64,
    who: String,
    phone: String,
    messages: String,
    window_open: bool,
    window_left: String,
    /// Why nothing can be sent now (the send buttons are disabled with it).
    blocked: Option<&'static str>,
}

pub async fn thread(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
) -> PageResult {
    let not_found = || PageError::NotFound(Some(b.v.nav.clone()));
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    if !state.ui.tables.whatsapp(&state.db).await {
        return Err(not_found());
    }
    let c = customers::get(&state.db, b.business_id, id)
        .await?
        .ok_or_else(not_found)?;
    let now = now_ms();
    let left = c
        .last_inbound_at
        .map(|at| at + WINDOW_MS - now)
        .unwrap_or(0);
    let phone = view::phone(&c.phone);
    Ok(ok(&ThreadPage {
        l: Layout::new("שיחת וואטסאפ", "whatsapp", Some(b.v.nav.clone())),
        customer_id: c.id,
        who: c
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| phone.clone()),
        phone,
        messages: messages_html(&state, b.business_id, c.id).await?,
        window_open: left > 0,
        window_left: format!(
            "{} שעות ו־{} דקות",
            left / 3_600_000,
            (left % 3_600_000) / 60_000
        ),
        blocked: super::setup::whatsapp_blocked(&state.settings),
    }))
}

/// The conversation's messages alone, for the page to refresh in place.
pub async fn messages_fragment(
    State(state): State<WebState>,
    b: BizViewer,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let not_found = || PageError::NotFound(Some(b.v.nav.clone()));
    let id = id.parse::<i64>().map_err(|_| not_found())?;
    if !state.ui.tables.whatsapp(&state.db).await
        || customers::get(&state.db, b.business_id, id)
            .await?
            .is_none()
    {
        return Err(not_found());
    }
    Ok(Html(messages_html(&state, b.business_id, id).await?))
}
