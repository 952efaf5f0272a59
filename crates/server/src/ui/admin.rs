//! `/app/admin`, for operators of the whole service: businesses and their numbers, users,
//! and system health (the `/readyz` details, the job queue with dead jobs and retry when
//! the queue's table exists, and error counts from the metrics).

use std::collections::HashMap;

use askama::Template;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use tower::ServiceExt;

use super::data::admin;
use super::page::{Layout, PageResult, ok};
use super::time;
use super::view;
use super::viewer::AdminViewer;
use crate::store::users::Role;
use crate::ui::state::WebState;

pub struct BusinessView {
    pub id: i64,
    pub name: String,
    pub numbers: Vec<String>,
    pub users: i64,
    pub calls: i64,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    l: Layout,
    businesses: Vec<BusinessView>,
    added: bool,
}

#[derive(serde::Deserialize, Default)]
pub struct AddedQuery {
    added: Option<String>,
}

pub async fn dashboard(
    State(state): State<WebState>,
    a: AdminViewer,
    axum::extract::Query(q): axum::extract::Query<AddedQuery>,
) -> PageResult {
    let db = &state.db;
    let mut numbers: HashMap<i64, Vec<String>> = HashMap::new();
    for (n, bid) in admin::numbers(db).await? {
        numbers.entry(bid).or_default().push(view::phone(&n));
    }
    let (users, calls) = admin::counts(db).await?;
    let users: HashMap<i64, i64> = users.into_iter().collect();
    let calls: HashMap<i64, i64> = calls.into_iter().collect();
    let businesses = admin::businesses(db)
        .await?
        .into_iter()
        .map(|b| BusinessView {
            numbers: numbers.remove(&b.id).unwrap_or_default(),
            users: users.get(&b.id).copied().unwrap_or(0),
            calls: calls.get(&b.id).copied().unwrap_or(0),
            created: time::date(b.created_at),
            id: b.id,
            name: b.name,
        })
        .collect();
    Ok(ok(&AdminPage {
        l: Layout::new("ניהול", "admin", Some(a.0.nav.clone())),
        businesses,
        added: q.added.is_some(),
    }))
}

pub struct UserRowView {
    pub id: i64,
    pub email: String,
    pub role: &'static str,
    pub business: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    l: Layout,
    users: Vec<UserRowView>,
}

pub async fn users(State(state): State<WebState>, a: AdminViewer) -> PageResult {
    let names: HashMap<i64, String> = admin::businesses(&state.db)
        .await?
        .into_iter()
        .map(|b| (b.id, b.name))
        .collect();
    let users = admin::users(&state.db)
        .await?
        .into_iter()
        .map(|u| UserRowView {
            id: u.id,
            email: u.email,
            role: Role::parse(&u.role)
                .map(super::page::NavUser::role_label)
                .unwrap_or("?"),
            business: u
                .business_id
                .map(|id| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")))
                .unwrap_or_else(|| "—".into()),
            created: time::date(u.created_at),
        })
        .collect();
    Ok(ok(&UsersPage {
        l: Layout::new("משתמשים", "admin-users", Some(a.0.nav.clone())),
        users,
    }))
}

pub struct DeadJobView {
    pub id: i64,
    pub kind: String,
    pub attempts: i64,
    pub error: String,
    pub when: String,
}

/// One business's WhatsApp-Web session on the bridge, in Hebrew.
pub struct PairingRow {
    pub business: String,
    pub number: String,
    pub state: String,
    pub label: &'static str,
    pub advice: &'static str,
}

impl From<&crate::whatsapp::pairing::Session> for PairingRow {
    fn from(s: &crate::whatsapp::pairing::Session) -> Self {
        let (label, advice) = crate::whatsapp::pairing::hebrew(Some(s));
        PairingRow {
            business: s.business.clone(),
            number: s.number.clone().unwrap_or_default(),
            state: s.state.clone(),
            label,
            advice,
        }
    }
}

#[derive(Template)]
#[template(path = "admin_health.html")]
struct HealthPage {
    l: Layout,
    pairing_enabled: bool,
    pairing: Vec<PairingRow>,
    pairing_error: String,
    ready: bool,
    components: Vec<super::health::Component>,
    checks: Vec<(String, String)>,
    readyz: String,
    jobs_available: bool,
    job_counts: Vec<(String, i64)>,
    dead: Vec<DeadJobView>,
    errors: Vec<(String, String)>,
}

/// `/readyz` answered in-process, so the page shows exactly what probes see.
async fn readyz(state: &WebState) -> serde_json::Value {
    let request = Request::get("/readyz")
        .body(Body::empty())
        .expect("static request");
    let Ok(response) = crate::ops::routes::router()
        .with_state(state.ops.clone())
        .oneshot(request)
        .await;
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
}

pub async fn health(State(state): State<WebState>, a: AdminViewer) -> PageResult {
    let ready = readyz(&state).await;
    let checks = ready
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let jobs_available = state.ui.tables.jobs(&state.db).await;
    let (job_counts, dead) = if jobs_available {
        let dead = admin::dead_jobs(&state.db)
            .await?
            .into_iter()
            .map(|j| DeadJobView {
                id: j.id,
                kind: j.kind,
                attempts: j.attempts,
                error: view::excerpt(j.last_error.as_deref().unwrap_or(""), 200),
                when: time::datetime(j.updated_at),
            })
            .collect();
        (admin::job_counts(&state.db).await?, dead)
    } else {
        (vec![], vec![])
    };
    let pairing_enabled = crate::whatsapp::pairing::enabled(&state.wa);
    let (pairing, pairing_error) = if pairing_enabled {
        match crate::whatsapp::pairing::all(&state.wa).await {
            Ok(list) => {
                let names: std::collections::HashMap<String, String> =
                    crate::store::businesses::list(&state.db)
                        .await?
                        .into_iter()
                        .map(|b| (b.id.to_string(), b.name))
                        .collect();
                let rows = list
                    .iter()
                    .map(|s| {
                        let mut row = PairingRow::from(s);
                        if let Some(name) = names.get(&s.business) {
                            row.business = format!("{name} (#{})", s.business);
                        }
                        row
                    })
                    .collect();
                (rows, String::new())
            }
            Err(e) => {
                tracing::warn!(error = %e, "WHATSAPP_BRIDGE_UNREACHABLE: sessions unknown");
                (vec![], "שרת החיבור לוואטסאפ אינו עונה.".to_string())
            }
        }
    } else {
        (vec![], String::new())
    };
    state.metrics.run_upkeep();
    Ok(ok(&HealthPage {
        pairing_enabled,
        pairing,
        pairing_error,
        l: Layout::new("בריאות המערכת", "admin-health", Some(a.0.nav.clone())),
        ready: ready.get("status").and_then(|s| s.as_str()) == Some("ready"),
        components: super::health::components(&ready),
        checks,
        readyz: serde_json::to_string_pretty(&ready).unwrap_or_default(),
        jobs_available,
        job_counts,
        dead,
        errors: admin::error_counts(&state.metrics.render()),
    }))
}
