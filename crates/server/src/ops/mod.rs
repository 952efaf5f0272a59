//! Operations: liveness, readiness, version, metrics and the landing page (O1).

pub mod probe;
pub mod routes;
pub mod state;

use crate::config::Settings;

/// Which providers are configured, shown by `/readyz`.
#[derive(Clone, Debug)]
pub struct Providers {
    pub openai: bool,
    /// Speech-to-text through an OpenAI-compatible server (a key or `OPENAI_STT_BASE_URL`).
    pub openai_stt: bool,
    pub google: bool,
    pub twilio_rest: bool,
    /// The local Hebrew voice (espeak-ng) found on PATH.
    pub espeak: bool,
    pub whatsapp: Option<&'static str>,
    /// Whether the OpenAI-compatible server answers (asked at most every 30 s).
    pub openai_probe: std::sync::Arc<probe::OpenAiProbe>,
    /// Whether the Realtime service takes the key (when live calls are speech-to-speech).
    pub realtime_probe: std::sync::Arc<probe::RealtimeProbe>,
}

impl Providers {
    pub fn detect(s: &Settings) -> Self {
        Providers {
            openai: s.openai_api_key.is_some(),
            openai_probe: probe::OpenAiProbe::new(&s.openai_base_url, s.openai_api_key.as_ref()),
            realtime_probe: probe::RealtimeProbe::new(s.realtime()),
            openai_stt: s.openai_stt_configured(),
            google: s.google_credentials.is_some(),
            twilio_rest: s.twilio_account_sid.is_some() && s.twilio_auth_token.is_some(),
            espeak: on_path("espeak-ng"),
            whatsapp: s.whatsapp_provider.map(|p| match p {
                crate::config::WhatsappProvider::Twilio => "twilio",
                crate::config::WhatsappProvider::Baileys => "baileys",
                crate::config::WhatsappProvider::Meta => "meta",
            }),
        }
    }

    /// Which engine hears the caller live, as the call's providers choose it.
    pub fn stt_engine(&self) -> &'static str {
        if self.openai_stt {
            "openai"
        } else if self.google {
            "google"
        } else {
            "none"
        }
    }

    /// Which engine speaks to callers, given the name of the one the call's providers
    /// chose (`MOKDAN_TTS`, else OpenAI when its key is set, else Google when configured, else
    /// espeak-ng): `none` when that
    /// is the local voice and espeak-ng is not installed.
    pub fn tts_engine(&self, chosen: &'static str) -> &'static str {
        match chosen {
            "espeak" if self.espeak => "espeak-ng",
            "espeak" => "none",
            other => other,
        }
    }
}

/// Whether an executable of that name is on PATH.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false)
}
