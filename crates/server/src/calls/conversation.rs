//! The conversation behind a media socket: which agent, with what it knows, and what it keeps.
//!
//! The socket does not care who speaks; it takes any session from `crates/voice`. This
//! module builds that session for a call from its business (greeting, questions, prompt),
//! and stores each turn with its timings (V7; kept in the outbox while the database is down);
//! `actions` carries out what the agent decided.

use std::sync::Arc;

use voice::provider::AgentContext;
use voice::session::{SessionConfig, SessionHandle, TurnRecord};

use crate::app::AppState;
use crate::outbox::Pending;
use crate::store::{businesses, calls, now_ms};

/// Starts the conversation for an answered call.
pub async fn start(state: &AppState, call_sid: &str) -> SessionHandle {
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
    // Speech-to-speech when the Realtime engine is configured, else the cascade: the
    // socket takes either, through the same session contract.
    match state.settings.realtime() {
        Some(cfg) => voice::realtime::spawn(Arc::new(cfg), state.voice.clone(), ctx),
        None => voice::session::spawn(SessionConfig::default(), state.voice.clone(), ctx),
    }
}

/// What the agent knows of the business it answers for.
fn context(business: Option<&businesses::Business>, caller: Option<String>) -> AgentContext {
    AgentContext {
        business_name: business.map(|b| b.name.clone()).unwrap_or_default(),
        greeting: business
            .and_then(|b| b.greeting.clone())
            .unwrap_or_default(),
        questions: business.map(|b| b.questions()).unwrap_or_default(),
        system_prompt: business.and_then(|b| b.agent_prompt.clone()),
        history: Vec::new(),
        caller_number: caller,
        transfer_number: None,
        business_hours: business.and_then(|b| b.business_hours.clone()),
        outbound: None,
    }
}

/// Renders every business's greeting (and the fixed phrases) before the first call, so
/// the greeting starts the moment a stream opens.
pub async fn prewarm_all(state: AppState) {
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
    let ids: Vec<(i64,)> = match sqlx::query_as("SELECT id FROM businesses ORDER BY id LIMIT 1000")
        .fetch_all(&state.db.pool)
        .await
    {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list businesses to prewarm greetings");
            return;
        }
    };
    for (id,) in ids {
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

/// Stores a finished turn; the caller's audio is kept when no speech-to-text heard it.
pub async fn store_turn(state: &AppState, call_sid: &str, index: i64, turn: &TurnRecord) {
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

/// The providers every call shares, chosen once from the configuration.
///
/// Speech-to-text: an OpenAI-compatible server when `OPENAI_STT_BASE_URL` or a key is set
/// (at `OPENAI_STT_BASE_URL`, else `OPENAI_BASE_URL`), else Google when credentials are,
/// else none (answers are kept as audio for the offline job). The agent:
/// the LLM when OpenAI is configured, else the scripted intake. Text-to-speech: `MOKDAN_TTS`
/// (`espeak`, `google`, `openai`), by default OpenAI when its key is set, else Google when
/// configured, else the local espeak-ng voice, which starts speaking fastest.
pub fn providers(settings: &crate::config::Settings) -> anyhow::Result<voice::session::Providers> {
    use voice::google::{GoogleAuth, GoogleCredentials, GoogleStt, GoogleTts};
    use voice::openai::{OpenAiAgent, OpenAiConfig, OpenAiStt, OpenAiTts};

    let openai = settings
        .openai_api_key
        .as_ref()
        .map(|k| OpenAiConfig::new(k.expose()).with_base_url(&settings.openai_base_url));
    let google = match &settings.google_credentials {
        None => None,
        Some(secret) => {
            let raw = secret.expose();
            let (creds, var) = if raw.trim_start().starts_with('{') {
                (GoogleCredentials::from_json(raw), "GCP_CREDENTIALS_JSON")
            } else {
                (
                    GoogleCredentials::from_file(raw),
                    "GOOGLE_APPLICATION_CREDENTIALS",
                )
            };
            let creds =
                creds.map_err(|e| anyhow::anyhow!("{var}: unusable Google credentials: {e}"))?;
            Some(GoogleAuth::new(creds))
        }
    };
    let stt: Option<Arc<dyn voice::SpeechToText>> = match (openai_stt(settings), &google) {
        (Some(cfg), _) => Some(Arc::new(OpenAiStt::new(cfg))),
        (None, Some(auth)) => Some(Arc::new(
            GoogleStt::new(auth.clone()).with_base_url(&settings.google_stt_base_url),
        )),
        (None, None) => None,
    };
    let agent: Arc<dyn voice::Agent> = match &openai {
        Some(cfg) => Arc::new(OpenAiAgent::new(cfg.clone())),
        None => Arc::new(voice::agent::scripted::ScriptedAgent),
    };
    use crate::config::TtsChoice;
    let tts: Arc<dyn voice::TextToSpeech> = match (settings.tts, &openai, &google) {
        // A configured OpenAI key speaks with OpenAI's voice unless `MOKDAN_TTS` says otherwise.
        (Some(TtsChoice::OpenAi) | None, Some(cfg), _) => Arc::new(OpenAiTts::new(cfg.clone())),
        (Some(TtsChoice::OpenAi), None, _) => {
            anyhow::bail!("MOKDAN_TTS: `openai` needs OPENAI_API_KEY")
        }
        (Some(TtsChoice::Google), _, None) => {
            anyhow::bail!("MOKDAN_TTS: `google` needs Google credentials")
        }
        (Some(TtsChoice::Google) | None, _, Some(auth)) => Arc::new(GoogleTts::new(auth.clone())),
        (Some(TtsChoice::Espeak) | None, _, _) => {
            Arc::new(voice::tts::espeak::EspeakTts::default())
        }
    };
    Ok(voice::session::Providers { stt, tts, agent })
}

/// The OpenAI-compatible speech-to-text, when configured: its own server
/// (`OPENAI_STT_BASE_URL`, no key needed) or OpenAI's, with `OPENAI_STT_MODEL`.
pub fn openai_stt(settings: &crate::config::Settings) -> Option<voice::openai::OpenAiConfig> {
    if !settings.openai_stt_configured() {
        return None;
    }
    let key = settings
        .openai_api_key
        .as_ref()
        .map(|k| k.expose().to_string())
        .unwrap_or_default();
    let mut cfg = voice::openai::OpenAiConfig::new(key).with_base_url(settings.openai_stt_base());
    if let Some(model) = &settings.openai_stt_model {
        cfg.stt_model = model.clone();
    }
    Some(cfg)
}
