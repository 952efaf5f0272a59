//! Provider wiring: the outside services a configuration turns on, built once at start-up.
//!
//! Which speech-to-text, text-to-speech and agent every call shares, the OpenAI-compatible
//! recogniser the post-call work uses, and Twilio's REST client. The features receive the
//! built clients in their state and never read provider settings to build their own.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;

/// The providers every call shares, chosen once from the configuration.
///
/// Speech-to-text: an OpenAI-compatible server when `OPENAI_STT_BASE_URL` or a key is set
/// (at `OPENAI_STT_BASE_URL`, else `OPENAI_BASE_URL`; listening while the caller speaks
/// through a Realtime transcription session when [`Settings::stt_streaming`] says so), else
/// Google when credentials are, else none (answers are kept as audio for the offline job). The agent:
/// the LLM when OpenAI is configured, else the scripted intake. Text-to-speech: `MOKDAN_TTS`
/// (`espeak`, `google`, `openai`), by default OpenAI when its key is set, else Google when
/// configured, else the local espeak-ng voice, which starts speaking fastest. The models and
/// voices are configuration (`OPENAI_CHAT_MODEL`, `OPENAI_TTS_MODEL`, `OPENAI_TTS_VOICE`,
/// `GOOGLE_TTS_VOICE`); unset, the voice crate's defaults.
pub fn voice(settings: &Settings) -> anyhow::Result<voice::session::Providers> {
    use voice::google::{GoogleAuth, GoogleStt, GoogleTts};
    use voice::openai::{OpenAiAgent, OpenAiConfig, OpenAiStt, OpenAiTts};

    let openai = settings.openai_api_key.as_ref().map(|k| {
        let mut cfg = OpenAiConfig::new(k.expose()).with_base_url(&settings.openai_base_url);
        if let Some(model) = &settings.openai_chat_model {
            cfg.chat_model = model.clone();
        }
        if let Some(model) = &settings.openai_tts_model {
            cfg.tts_model = model.clone();
        }
        if let Some(voice) = &settings.openai_tts_voice {
            cfg.tts_voice = voice.clone();
        }
        cfg
    });
    let google = google_credentials(settings)?.map(GoogleAuth::new);
    let stt: Option<Arc<dyn voice::SpeechToText>> = match (openai_stt(settings), &google) {
        (Some(cfg), _) => {
            let stt = OpenAiStt::new(cfg);
            Some(Arc::new(match settings.stt_streaming() {
                Some(rt) => stt.with_streaming(voice::realtime::RealtimeStt::new(rt)),
                None => stt,
            }))
        }
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
        (Some(TtsChoice::Google) | None, _, Some(auth)) => {
            let mut tts = GoogleTts::new(auth.clone());
            if let Some(voice) = &settings.google_tts_voice {
                tts = tts.with_voice(voice);
            }
            Arc::new(tts)
        }
        (Some(TtsChoice::Espeak) | None, _, _) => {
            Arc::new(voice::tts::espeak::EspeakTts::default())
        }
    };
    Ok(voice::session::Providers { stt, tts, agent })
}

/// The OpenAI-compatible speech-to-text, when configured: its own server
/// (`OPENAI_STT_BASE_URL`, no key needed) or OpenAI's, with `OPENAI_STT_MODEL`.
pub fn openai_stt(settings: &Settings) -> Option<voice::openai::OpenAiConfig> {
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

/// The REST client, when both the account SID and the auth token are set.
pub fn twilio(settings: &Settings) -> Option<telephony::rest::TwilioClient> {
    let sid = settings.twilio_account_sid.clone()?;
    let token = settings.twilio_auth_token.as_ref()?;
    Some(telephony::rest::TwilioClient::new(
        telephony::rest::RestConfig {
            base_url: settings.twilio_api_base.clone(),
            account_sid: sid,
            auth_token: token.expose().to_string(),
            timeout: Duration::from_secs(10),
        },
    ))
}

/// The service account of `GCP_CREDENTIALS_JSON` (the key file's JSON) or
/// `GOOGLE_APPLICATION_CREDENTIALS` (its path), parsed; speech and the calendar share it.
pub fn google_credentials(
    settings: &Settings,
) -> anyhow::Result<Option<voice::google::GoogleCredentials>> {
    use voice::google::GoogleCredentials;
    let Some(secret) = &settings.google_credentials else {
        return Ok(None);
    };
    let raw = secret.expose();
    let (creds, var) = if raw.trim_start().starts_with('{') {
        (GoogleCredentials::from_json(raw), "GCP_CREDENTIALS_JSON")
    } else {
        (
            GoogleCredentials::from_file(raw),
            "GOOGLE_APPLICATION_CREDENTIALS",
        )
    };
    creds
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{var}: unusable Google credentials: {e}"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_map(&map).unwrap()
    }

    #[test]
    fn openai_models_and_voice_are_configuration() {
        let p = voice(&settings(&[("OPENAI_API_KEY", "sk-x")])).unwrap();
        assert_eq!(p.agent.model(), Some("gpt-4o-mini"));
        assert_eq!(p.tts.voice_id(), "openai:gpt-4o-mini-tts:alloy");
        let p = voice(&settings(&[
            ("OPENAI_API_KEY", "sk-x"),
            ("OPENAI_CHAT_MODEL", "gpt-4.1-mini"),
            ("OPENAI_TTS_MODEL", "tts-1-hd"),
            ("OPENAI_TTS_VOICE", "nova"),
        ]))
        .unwrap();
        assert_eq!(p.agent.model(), Some("gpt-4.1-mini"));
        assert_eq!(p.tts.voice_id(), "openai:tts-1-hd:nova");
    }

    #[test]
    fn the_cascade_listens_while_the_caller_speaks_only_with_a_realtime_transcriber() {
        let streams = |vars: &[(&str, &str)]| {
            let p = voice(&settings(vars)).unwrap();
            p.stt.expect("speech-to-text").streaming().is_some()
        };
        let key = ("OPENAI_API_KEY", "sk-x");
        let model = ("OPENAI_STT_MODEL", "gpt-4o-transcribe");
        assert!(streams(&[key, model]));
        assert!(streams(&[
            key,
            ("OPENAI_STT_MODEL", "gpt-4o-mini-transcribe")
        ]));
        assert!(!streams(&[key]), "whisper-1 by default: uploads");
        assert!(!streams(&[key, model, ("MOKDAN_STT_STREAMING", "off")]));
        assert!(
            !streams(&[key, model, ("OPENAI_STT_BASE_URL", "http://127.0.0.1:9/v1")]),
            "a speech-to-text server of its own is not sent to the Realtime URL"
        );
        let local = ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1");
        assert!(
            !streams(&[key, model, local]),
            "a compatible server's key and audio do not go to OpenAI's Realtime URL"
        );
        assert!(streams(&[
            key,
            model,
            local,
            ("OPENAI_REALTIME_URL", "ws://127.0.0.1:9/rt")
        ]));
        let s = settings(&[key, model, ("OPENAI_REALTIME_URL", "ws://127.0.0.1:9/rt")]);
        let rt = s.stt_streaming().unwrap();
        assert_eq!(
            (rt.url.as_str(), rt.model.as_str()),
            ("ws://127.0.0.1:9/rt", "gpt-4o-transcribe")
        );
        let mut bad = std::collections::HashMap::new();
        bad.insert("MOKDAN_STT_STREAMING".to_string(), "yes".to_string());
        let e = Settings::from_map(&bad).unwrap_err().to_string();
        assert!(e.contains("MOKDAN_STT_STREAMING"), "{e}");
    }

    #[test]
    fn google_voice_is_configuration() {
        let key = include_str!("../../voice/tests/fixtures/google_test_key.pem");
        let creds = serde_json::json!({
            "type": "service_account",
            "client_email": "mokdan@example.iam.gserviceaccount.com",
            "private_key": key,
            "token_uri": "http://127.0.0.1:9/token",
        })
        .to_string();
        let p = voice(&settings(&[("GCP_CREDENTIALS_JSON", &creds)])).unwrap();
        assert_eq!(p.tts.voice_id(), "google:he-IL-Wavenet-A");
        let p = voice(&settings(&[
            ("GCP_CREDENTIALS_JSON", &creds),
            ("GOOGLE_TTS_VOICE", "he-IL-Chirp3-HD-Achernar"),
        ]))
        .unwrap();
        assert_eq!(p.tts.voice_id(), "google:he-IL-Chirp3-HD-Achernar");
    }
}
