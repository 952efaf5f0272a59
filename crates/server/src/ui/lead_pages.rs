//! Pages of leads for daily work (#20, C2): the deleted leads, each with "restore", and
//! "my tasks today" (open tasks due by the end of today in Israel, overdue first, and the
//! leads whose follow-up is due), plus what a lead's own page adds: its tasks, follow-up and
//! assignee, and the team to choose from. The writes go through the API's routes.

use askama::Template;
use axum::extract::State;

use super::lead_list::{Opt, user_name};
use super::page::{Layout, PageResult, ok};
use super::time;
use super::view::{self, LeadView};
use super::viewer::BizViewer;
use crate::store::customers::Customer;
use crate::store::{Db, lead_care, lead_tasks, now_ms, users};
use crate::ui::state::WebState;

#[derive(Template)]
#[template(path = "leads_deleted.html")]
struct DeletedPage {
    l: Layout,
    leads: Vec<(LeadView, String)>,
}

pub async fn deleted(State(state): State<WebState>, b: BizViewer) -> PageResult {
    let now = now_ms();
    let leads = lead_care::deleted(&state.db, b.business_id, 200)
        .await?
        .iter()
        .map(|c| {
            let when = c
                .deleted_at
                .map(|t| time::relative(t, now))
                .unwrap_or_default();
            (view::lead(c, now), when)
        })
        .collect();
    Ok(ok(&DeletedPage {
        l: Layout::new("לידים שנמחקו", "leads", Some(b.v.nav.clone())),
        leads,
    }))
}

/// A task as a line: what, when it is due (and whether that passed), who does it.
pub struct TaskLine {
    pub id: i64,
    pub title: String,
    pub due: String,
    pub overdue: bool,
    pub done: bool,
    pub assignee: String,
    pub lead_id: i64,
    pub lead_name: String,
}

fn line(t: &lead_tasks::Task, team: &[users::User], now: i64) -> TaskLine {
    TaskLine {
        id: t.id,
        title: t.title.clone(),
        due: t.due_at.map(|d| time::relative(d, now)).unwrap_or_default(),
        overdue: t.done_at.is_none() && t.due_at.is_some_and(|d| d < now),
        done: t.done_at.is_some(),
        assignee: t
            .assignee_user_id
            .and_then(|id| team.iter().find(|u| u.id == id))
            .map(user_name)
            .unwrap_or_default(),
        lead_id: t.customer_id,
        lead_name: String::new(),
    }
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    l: Layout,
    tasks: Vec<TaskLine>,
    follow_ups: Vec<(LeadView, String)>,
}

pub async fn my_tasks(State(state): State<WebState>, b: BizViewer) -> PageResult {
    let db = &state.db;
    let now = now_ms();
    let until = crate::crm::lead_care::end_of_today(now);
    let me = b.v.caller.user_id;
    let team = users::list(db, Some(b.business_id)).await?;
    let tasks = lead_tasks::due_for(db, b.business_id, me, until)
        .await?
        .into_iter()
        .map(|t| {
            let mut l = line(&t.task, &team, now);
            l.lead_name = t
                .lead_name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| view::phone(&t.lead_phone));
            l
        })
        .collect();
    let follow_ups = lead_tasks::follow_ups_for(db, b.business_id, me, until)
        .await?
        .iter()
        .map(|c| {
            let when = c
                .follow_up_at
                .map(|t| time::relative(t, now))
                .unwrap_or_default();
            (view::lead(c, now), when)
        })
        .collect();
    Ok(ok(&TasksPage {
        l: Layout::new("המשימות שלי להיום", "tasks", Some(b.v.nav.clone())),
        tasks,
        follow_ups,
    }))
}

/// What a lead's page shows of its daily care.
pub struct LeadCare {
    pub tasks: Vec<TaskLine>,
    /// The team, the lead's assignee selected.
    pub team: Vec<Opt>,
    /// `YYYY-MM-DDTHH:MM` in Israel, for the follow-up field.
    pub follow_up_value: String,
    pub follow_up: String,
}

pub async fn lead_care(db: &Db, business_id: i64, c: &Customer) -> Result<LeadCare, sqlx::Error> {
    let now = now_ms();
    let team = users::list(db, Some(business_id)).await?;
    let tasks = lead_tasks::of_lead(db, business_id, c.id)
        .await?
        .iter()
        .map(|t| line(t, &team, now))
        .collect();
    let current = c.owner_user_id.map(|id| id.to_string()).unwrap_or_default();
    Ok(LeadCare {
        tasks,
        team: team
            .iter()
            .map(|u| Opt::new(&u.id.to_string(), &user_name(u), &current))
            .collect(),
        follow_up_value: c
            .follow_up_at
            .map(|t| time::iso(t).chars().take(16).collect())
            .unwrap_or_default(),
        follow_up: c
            .follow_up_at
            .map(|t| time::relative(t, now))
            .unwrap_or_default(),
    })
}
