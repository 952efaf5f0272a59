//! The automatic Hebrew reply to an inbound message (W2), written by the business's agent.
//!
//! The same `Agent` that speaks on calls writes here, in text mode: its streamed text
//! deltas are joined into one message. The conversation so far (the thread's recent
//! messages) is its history, so the scripted intake agent walks through its questions
//! over WhatsApp just as it does on the phone. If the agent fails or says nothing, the
//! customer still gets a polite acknowledgement built from the business's name. It runs as
//! the `whatsapp_reply` job (enqueued with the inbound message, see `whatsapp::jobs`)
//! and records the reply with the idempotency key `auto:<inbound id>` together with its
//! send job, so one inbound message can never cause two replies.

use std::time::Duration;

use futures::StreamExt;
use voice::provider::{AgentAction, AgentContext, AgentEvent, Role};

use crate::store::{businesses, whatsapp as store};
use crate::whatsapp::state::WaState;

/// How long the agent may take to write a reply.
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages of the thread the agent sees.
const HISTORY: i64 = 30;

/// Everything the reply needs, taken from the inbound message.
#[derive(Clone, Debug)]
pub struct ReplyTask {
    pub business_id: i64,
    pub business_name: String,
    pub customer_id: i64,
    pub inbound_id: i64,
    pub provider: &'static str,
    /// The business's number the customer wrote to: the reply goes out from it.
    pub business_number: Option<String>,
    pub customer_number: String,
    pub text: String,
    pub reply_to: Option<String>,
    /// Our public base URL, for Twilio's status callbacks.
    pub base: Option<String>,
}

/// Writes the reply and records it `queued` with its send job; nothing when the
/// conversation is over or the reply was already recorded.
pub async fn run(state: &WaState, task: ReplyTask) -> Result<(), sqlx::Error> {
    let key = format!("auto:{}", task.inbound_id);
    if store::id_by_key(&state.db, task.business_id, &key)
        .await?
        .is_some()
    {
        // A rerun after the reply was recorded: its send job went with it.
        return Ok(());
    }
    let Some(text) = compose(state, &task).await else {
        return Ok(());
    };
    let status_callback = match (task.provider, &task.base) {
        ("twilio", Some(base)) => Some(format!("{base}/webhook/whatsapp/status")),
        _ => None,
    };
    let new = store::NewOutbound {
        customer_id: task.customer_id,
        provider: task.provider,
        from_number: task.business_number.clone(),
        to_number: task.customer_number.clone(),
        body: Some(text),
        template: None,
        status_callback,
        idempotency_key: Some(key),
        reply_to: task.reply_to.clone(),
    };
    let job = &crate::whatsapp::jobs::SEND_JOB;
    let (msg, inserted) = store::queue_outbound(&state.db, task.business_id, &new, job).await?;
    if inserted {
        crate::jobs::wake();
        tracing::info!(
            id = msg.id,
            inbound = task.inbound_id,
            "WHATSAPP_AUTO_REPLY"
        );
    }
    Ok(())
}

/// The reply text, or `None` when the conversation is over and nothing should be sent.
pub async fn compose(state: &WaState, task: &ReplyTask) -> Option<String> {
    let business = businesses::get(&state.db, task.business_id)
        .await
        .ok()
        .flatten();
    let history: Vec<(Role, String)> = store::history(
        &state.db,
        task.business_id,
        task.customer_id,
        task.inbound_id,
        HISTORY,
    )
    .await
    .unwrap_or_default()
    .into_iter()
    .filter_map(|m| {
        let role = if m.direction == "in" {
            Role::Caller
        } else {
            Role::Agent
        };
        m.body.map(|b| (role, b))
    })
    .collect();
    let last_agent_line = history
        .iter()
        .rev()
        .find(|(r, _)| *r == Role::Agent)
        .map(|(_, l)| l.clone());
    let prompt = business.as_ref().and_then(|b| b.agent_prompt.clone());
    let ctx = AgentContext {
        business_name: task.business_name.clone(),
        greeting: business
            .as_ref()
            .and_then(|b| b.greeting.clone())
            .unwrap_or_default(),
        questions: Vec::new(),
        system_prompt: Some(format!(
            "{}This conversation is on WhatsApp, in writing: answer in Hebrew, briefly, \
             as a text message.",
            prompt.map(|p| format!("{p}\n\n")).unwrap_or_default()
        )),
        history,
        caller_number: Some(task.customer_number.clone()),
        // A WhatsApp conversation cannot be transferred.
        transfer_number: None,
        business_hours: business.as_ref().and_then(|b| b.business_hours.clone()),
        outbound: None,
        // The appointment book, when the business offers services (#19): the customer
        // books, moves and cancels in writing as a caller does on the phone.
        tool_host: crate::appointments::host::for_whatsapp(
            &state.db,
            state.google.clone(),
            task.business_id,
            &task.customer_number,
        )
        .await,
    };
    let agent = state.voice.agent.clone();
    // The scripted agent opens a conversation with its greeting and first question.
    if agent.name() == "scripted" && last_agent_line.is_none() {
        return Some(agent.greeting(&ctx));
    }
    let said = if task.text.trim().is_empty() {
        "[media]"
    } else {
        task.text.as_str()
    };
    let written = voice::provider::with_timeout(AGENT_TIMEOUT, async {
        let mut stream = agent.reply(&ctx, said).await?;
        let mut text = String::new();
        let mut actions = Vec::new();
        while let Some(event) = stream.next().await {
            match event? {
                AgentEvent::Text(delta) => text.push_str(&delta),
                AgentEvent::Action(a) => actions.push(a),
                AgentEvent::Tool(_) => {}
            }
        }
        Ok((text.trim().to_string(), actions))
    })
    .await;
    match written {
        Ok((text, actions)) if !text.is_empty() => {
            for action in &actions {
                act(state, task, action).await;
            }
            let ended = actions.contains(&AgentAction::EndCall);
            if ended && last_agent_line.as_deref() == Some(text.as_str()) {
                // The script is done and already said so: do not repeat it to every message.
                return None;
            }
            Some(text)
        }
        Ok(_) => Some(acknowledgement(&task.business_name)),
        Err(e) => {
            tracing::warn!(agent = agent.name(), error = %e, "agent failed: acknowledging instead");
            Some(acknowledgement(&task.business_name))
        }
    }
}

/// What the agent decided, applied to the customer.
async fn act(state: &WaState, task: &ReplyTask, action: &AgentAction) {
    if let AgentAction::SaveDetails {
        name: Some(name), ..
    } = action
        && let Err(e) =
            store::name_customer(&state.db, task.business_id, task.customer_id, name).await
    {
        tracing::warn!(error = %e, "cannot save the customer's name");
    }
}

/// A polite Hebrew acknowledgement, for when no agent can write.
pub fn acknowledgement(business_name: &str) -> String {
    let name = business_name.trim();
    if name.is_empty() {
        "שלום, תודה על פנייתכם! קיבלנו את ההודעה ונחזור אליכם בהקדם.".to_string()
    } else {
        format!("שלום, תודה שפניתם ל{name}! קיבלנו את ההודעה ונחזור אליכם בהקדם.")
    }
}
