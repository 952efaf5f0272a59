//! The conversation behind a media socket: which agent, with what it knows, and what it keeps.
//!
//! The socket does not care who speaks; it takes any session from `crates/voice`. This
//! module builds that session for a call from its business (greeting, questions, prompt),
//! and stores each turn with its timings (V7; kept in the outbox while the database is down);
//! `actions` carries out what the agent decided.

use std::sync::Arc;

use voice::provider::AgentContext;
use voice::session::{SessionConfig, SessionHandle, TurnRecord};

use crate::calls::state::CallsState;
use crate::outbox::Pending;
use crate::store::{businesses, calls, now_ms};

/// Starts the conversation for an answered call.
pub async fn start(state: &CallsState, call_sid: &str) -> SessionHandle {
    let row = calls::by_sid(&state.db, call_sid).await.ok().flatten();
    let business = match row.as_ref().and_then(|r| r.business_id) {
        Some(id) => businesses::get(&state.db, id).await.ok().flatten(),
        None => None,
    };
    let outbound = row.as_ref().is_some_and(|r| r.direction.is_outbound());
    // The other party: who called us, or whom the business called (V4).
    let other = row.as_ref().and_then(|r| {
        if outbound {
            r.to_number.clone()
        } else {
            r.from_number.clone()
        }
    });
    let mut ctx = context(business.as_ref(), other);
    if outbound {
        let purpose = calls::purpose(&state.db, call_sid).await.ok().flatten();
        ctx.outbound = Some(voice::provider::Outbound { purpose });
    }
    ctx.transfer_number = crate::calls::actions::transfer_target(state, business.as_ref());
    // The appointment book as tools with results, when the business offers services (#19).
    if let Some(b) = business.as_ref() {
        let call_id = row.as_ref().map(|r| r.id);
        ctx.tool_host = crate::appointments::host::for_call_with(
            &state.db,
            state.google.clone(),
            b.id,
            call_id,
            ctx.caller_number.as_deref(),
        )
        .await;
    }
    // Speech-to-speech when the Realtime engine is configured, else the cascade: the
    // socket takes either, through the same session contract.
    match state.settings.realtime() {
        Some(cfg) => voice::realtime::spawn(Arc::new(cfg), state.voice.clone(), ctx),
        None => voice::session::spawn(SessionConfig::default(), state.voice.clone(), ctx),
    }
}

/// The sentence a recorded call's greeting ends with, when the business asks for it (V11).
pub const RECORDING_NOTICE: &str = "לידיעתך, השיחה מוקלטת.";

/// The greeting as callers hear it: the business's (or the default), and the recording
/// notice when the call is recorded and the business wants callers told.
pub fn spoken_greeting(greeting: &str, announce: bool) -> String {
    if announce && !greeting.contains(RECORDING_NOTICE) {
        format!("{} {RECORDING_NOTICE}", greeting.trim_end())
    } else {
        greeting.to_string()
    }
}

/// What the agent knows of the business it answers for.
fn context(business: Option<&businesses::Business>, caller: Option<String>) -> AgentContext {
    AgentContext {
        business_name: business.map(|b| b.name.clone()).unwrap_or_default(),
        greeting: business
            .map(|b| {
                let own = b.greeting.clone().filter(|g| !g.trim().is_empty());
                let announce = b.record_calls != 0 && b.announce_recording != 0;
                match own {
                    Some(g) => spoken_greeting(&g, announce),
                    // Left empty the agent speaks its default; with the notice it is
                    // spelled out here so the notice can follow it.
                    None if announce => {
                        spoken_greeting(&voice::provider::default_greeting(&b.name), true)
                    }
                    None => String::new(),
                }
            })
            .unwrap_or_default(),
        questions: business.map(|b| b.questions()).unwrap_or_default(),
        system_prompt: business.and_then(|b| b.agent_prompt.clone()),
        history: Vec::new(),
        caller_number: caller,
        transfer_number: None,
        business_hours: business.and_then(|b| b.business_hours.clone()),
        outbound: None,
        tool_host: None,
    }
}

/// Renders every business's greeting (and the fixed phrases) before the first call, so
/// the greeting starts the moment a stream opens.
pub async fn prewarm_all(state: CallsState) {
    // A Realtime key the service refuses is found now, and shown by `/readyz`, not
    // discovered by the first caller (who would get the apology and the fallback).
    if state.settings.realtime().is_some() {
        let probe = state.providers.realtime_probe.clone();
        tokio::spawn(async move {
            match probe.state().await {
                "ok" => tracing::info!("Realtime service takes the key"),
                "unauthorized" => tracing::error!(
                    "Realtime service refused OPENAI_API_KEY: live calls will go to the recording fallback"
                ),
                other => tracing::warn!(state = other, "Realtime service did not answer the probe"),
            }
        });
    }
    let ids = match businesses::ids(&state.db, 1000).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list businesses to prewarm greetings");
            return;
        }
    };
    for id in ids {
        if state.shutdown.is_cancelled() {
            return;
        }
        if let Ok(Some(b)) = businesses::get(&state.db, id).await {
            let ctx = context(Some(&b), None);
            voice::session::prewarm(&state.voice, &ctx, std::time::Duration::from_secs(30)).await;
        }
    }
}

/// A database step while a call is live, bounded like the webhooks' (a sick database never
/// holds the call): past the bound it counts as failed, and the write goes to the outbox.
pub async fn quick<T>(
    f: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(std::time::Duration::from_millis(400), f)
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
}

/// Stores a finished turn with the caller's audio of it (kept as long as recordings are),
/// so the owner can hear each answer whether or not speech-to-text heard it (#22).
pub async fn store_turn(state: &CallsState, call_sid: &str, index: i64, turn: &TurnRecord) {
    let audio_path = match &turn.caller_audio {
        Some(pcm) if !pcm.is_empty() => {
            let dir = state.settings.data_dir.join("turns");
            let path = dir.join(format!("{call_sid}-{index}.wav"));
            let bytes = audio::wav::write_pcm16(8000, pcm);
            match tokio::fs::create_dir_all(&dir).await {
                Ok(()) => tokio::fs::write(&path, bytes)
                    .await
                    .ok()
                    .map(|_| path.display().to_string()),
                Err(_) => None,
            }
        }
        _ => None,
    };
    let ms = |v: Option<u32>| v.map(i64::from);
    let row = crate::store::turns::NewTurn {
        call_sid: call_sid.to_string(),
        turn_index: index,
        caller_text: turn.caller_text.clone(),
        agent_text: turn.agent_text.clone(),
        heard_text: turn.heard_text.clone(),
        barged_in: turn.barged_in,
        stt_ms: ms(turn.stt_ms),
        llm_first_token_ms: ms(turn.llm_first_token_ms),
        tts_first_audio_ms: ms(turn.tts_first_audio_ms),
        first_frame_out_ms: ms(turn.first_frame_out_ms),
        caller_audio_path: audio_path,
        created_at: now_ms(),
        tool_calls: (!turn.tools.is_empty())
            .then(|| serde_json::to_string(&turn.tools).unwrap_or_default()),
    };
    // Bounded like the webhooks' writes: a database outage neither holds the call nor
    // loses the turn, which waits in the outbox.
    if let Err(e) = quick(crate::store::turns::insert(&state.db, &row)).await {
        tracing::error!(call_sid, error = %e, "cannot store a turn: kept for replay");
        state.outbox.keep(&[Pending::Turn(row)]).await;
    }
    for (name, value) in [
        ("stt", turn.stt_ms),
        ("llm_first_token", turn.llm_first_token_ms),
        ("tts_first_audio", turn.tts_first_audio_ms),
        ("first_frame_out", turn.first_frame_out_ms),
    ] {
        if let Some(v) = value {
            metrics::histogram!("mokdan_turn_latency_seconds", "stage" => name)
                .record(f64::from(v) / 1e3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn business(greeting: Option<&str>, record: i64, announce: i64) -> businesses::Business {
        businesses::Business {
            id: 1,
            name: "מספרת רון".into(),
            greeting: greeting.map(str::to_string),
            agent_prompt: None,
            business_hours: None,
            transfer_number: None,
            whatsapp_number: None,
            auto_reply: 0,
            recording_retention_days: 30,
            intake_questions: None,
            created_at: 0,
            updated_at: 0,
            meta_phone_number_id: None,
            record_calls: record,
            announce_recording: announce,
        }
    }

    #[test]
    fn the_greeting_says_the_call_is_recorded_only_when_asked_and_recorded() {
        let own = context(Some(&business(Some("שלום!"), 1, 1)), None);
        assert_eq!(own.greeting, format!("שלום! {RECORDING_NOTICE}"));
        let default = context(Some(&business(None, 1, 1)), None);
        assert!(
            default
                .greeting
                .starts_with(&voice::provider::default_greeting("מספרת רון"))
        );
        assert!(default.greeting.ends_with(RECORDING_NOTICE));
        // Not recorded: never claimed. Not asked: the greeting as written (empty: default).
        assert_eq!(
            context(Some(&business(Some("שלום!"), 0, 1)), None).greeting,
            "שלום!"
        );
        assert_eq!(context(Some(&business(None, 1, 0)), None).greeting, "");
        assert_eq!(
            spoken_greeting(&format!("היי. {RECORDING_NOTICE}"), true)
                .matches(RECORDING_NOTICE)
                .count(),
            1
        );
    }
}
