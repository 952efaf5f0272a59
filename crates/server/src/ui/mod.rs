//! The web app (C5): a Hebrew, right-to-left CRM at `/app/biz` (owners and agents) and
//! `/app/admin` (operators), rendered on the server by the binary itself.
//!
//! Why server-rendered: the people using it look at it on a phone between customers, so
//! pages must be small, fast, and readable without JavaScript; and `cargo run` must be the
//! whole build (no Node step). Templates are askama files compiled into the binary; CSS, a
//! little hand-written JS and a vendored htmx 2 are embedded with `include_bytes!` and served
//! at `/app/static/…`. Pages read the store directly, always scoped by the viewer's
//! `business_id` (C4). Writes that belong to the CRM API (CSV import, WhatsApp send, call
//! back, job retry, login) are made by the page's JS against `/api/…`; the few forms the app
//! owns (lead create/edit, settings, notification preferences, try-a-call, logout) post back to `/app/…`.
//!
//! Every `/app` response carries the security headers of [`headers`]. Unknown sub-paths
//! answer the app's own Hebrew "not found" page inside the full layout, with status 404.

pub mod account;
pub mod admin;
pub mod admin_biz;
pub mod appointment_lines;
pub mod appointment_setup;
pub mod assets;
pub mod biz;
pub mod calendar;
pub mod calendar_view;
pub mod call_list;
pub mod calls;
pub mod data;
pub mod headers;
pub mod health;
pub mod lead_check;
pub mod lead_export;
pub mod lead_list;
pub mod lead_pages;
pub mod leads;
pub mod login;
pub mod notifications;
pub mod page;
pub mod settings;
pub mod setup;
pub mod state;
pub mod team;
pub mod time;
pub mod trycall;
pub mod turn_tools;
pub mod view;
pub mod viewer;
pub mod wa_pairing;
pub mod webhooks;
pub mod whatsapp;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

use crate::ui::state::WebState;

/// Per-process state of the web app: which optional tables exist, and the short-lived
/// results of "try a call" runs.
#[derive(Default)]
pub struct UiState {
    pub tables: data::optional::Tables,
    pub runs: trycall::Runs,
}

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/app", get(biz::home))
        .route("/app/", get(biz::home))
        .route("/app/static/{file}", get(assets::serve))
        .route("/app/login", get(login::page))
        .route("/app/logout", get(login::logout_page).post(login::logout))
        .route("/app/biz", get(biz::dashboard))
        .route("/app/biz/leads", get(lead_list::list))
        .route("/app/biz/leads/deleted", get(lead_pages::deleted))
        .route("/app/biz/tasks", get(lead_pages::my_tasks))
        .route(
            "/app/biz/leads/new",
            get(leads::new_form).post(leads::create),
        )
        .route("/app/biz/leads/import", get(leads::import_page))
        .route("/app/biz/leads/export.csv", get(lead_export::export))
        .route("/app/biz/leads/{id}", get(leads::detail))
        .route(
            "/app/biz/leads/{id}/edit",
            get(leads::edit_form).post(leads::update),
        )
        .route("/app/biz/calendar", get(calendar::page))
        .route("/app/biz/calls", get(call_list::list))
        .route("/app/biz/calls/live", get(calls::live))
        .route("/app/biz/calls/live/events", get(calls::live_events))
        .route("/app/biz/calls/{id}", get(calls::detail))
        .route("/app/biz/whatsapp", get(whatsapp::inbox))
        .route("/app/biz/whatsapp/{customer_id}", get(whatsapp::thread))
        .route(
            "/app/biz/whatsapp/{customer_id}/messages",
            get(whatsapp::messages_fragment),
        )
        .route(
            "/app/biz/settings",
            get(settings::page).post(settings::save),
        )
        .route("/app/biz/settings/listen", get(settings::listen))
        .route(
            "/app/biz/settings/notifications",
            get(notifications::page).post(notifications::save_form),
        )
        .route("/app/biz/settings/whatsapp", get(wa_pairing::page))
        .route(
            "/app/biz/settings/whatsapp/connect",
            post(wa_pairing::connect),
        )
        .route(
            "/app/biz/settings/whatsapp/disconnect",
            post(wa_pairing::disconnect),
        )
        .route("/app/biz/settings/webhooks", get(webhooks::page))
        .route(
            "/app/biz/settings/appointments",
            get(appointment_setup::page),
        )
        .route("/app/biz/team", get(team::page))
        .route("/app/biz/team/invite", post(team::invite))
        .route("/app/biz/team/support", post(team::support))
        .route("/app/biz/team/{id}/role", post(team::set_role))
        .route("/app/biz/team/{id}/disable", post(team::disable))
        .route("/app/biz/team/{id}/enable", post(team::enable))
        .route("/app/biz/team/{id}/reset", post(team::reset))
        .route(
            "/app/invite/{token}",
            get(team::invite_page).post(team::accept_invite),
        )
        .route(
            "/app/reset/{token}",
            get(team::reset_page).post(team::accept_reset),
        )
        .route("/app/account", get(account::page).post(account::save))
        .route("/app/biz/try", get(trycall::page).post(trycall::start))
        .route("/app/biz/try/{id}", get(trycall::run_page))
        .route("/app/biz/try/{id}/audio.wav", get(trycall::audio))
        .route("/app/admin", get(admin::dashboard))
        .route("/app/admin/users", get(admin::users))
        .route(
            "/app/admin/businesses/new",
            get(admin_biz::new_form).post(admin_biz::create),
        )
        .route("/app/admin/support/end", post(admin_biz::end_support))
        .route("/app/admin/support/{id}", post(admin_biz::start_support))
        .route("/app/admin/health", get(admin::health))
        .route(
            "/app/{*rest}",
            get(page::not_found_route).post(page::not_found_route),
        )
        .route_layer(middleware::from_fn(headers::same_origin_posts))
        .layer(middleware::from_fn(headers::security_headers))
}
