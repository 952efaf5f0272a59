//! Typed settings, read once from the environment and validated before anything starts.
//!
//! The seeds' outages began with a half-configured service that ran anyway (O2). So every
//! variable is parsed here, once, into types; production refuses to start without what it
//! needs, and each refusal names the variable in one line. Secrets sit in [`Secret`], whose
//! `Debug` redacts them, so printing the settings can never leak a token (S2).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A value that must never reach a log line or an API answer.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The raw value, for the few places that must use it (signing, auth headers).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `development` relaxes checks that production must keep (unsigned webhooks, defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Which outbound WhatsApp path the service uses (W5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhatsappProvider {
    Twilio,
    Baileys,
    Meta,
}

/// Which voice speaks to callers (`MOKDAN_TTS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtsChoice {
    Espeak,
    Google,
    OpenAi,
}

/// A configuration problem: the variable at fault and what is wrong with it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn err(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// Everything the service reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub env: Environment,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; credentials inside are a secret.
    pub database_url: Secret,
    /// Absolute base for every URL put in TwiML, without a trailing slash.
    pub public_base_url: Option<String>,
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<Secret>,
    pub twilio_api_base: String,
    pub openai_api_key: Option<Secret>,
    pub openai_base_url: String,
    /// A separate OpenAI-compatible server for speech-to-text only (`OPENAI_STT_BASE_URL`),
    /// e.g. a local faster-whisper server while the LLM stays at `OPENAI_BASE_URL`. Setting
    /// it selects OpenAI-compatible speech-to-text even without `OPENAI_API_KEY`.
    pub openai_stt_base_url: Option<String>,
    /// The `model` sent with each transcription (`OPENAI_STT_MODEL`, default `whisper-1`).
    pub openai_stt_model: Option<String>,
    /// The cascade's agent model (`OPENAI_CHAT_MODEL`, default `gpt-4o-mini`).
    pub openai_chat_model: Option<String>,
    /// The cascade's speech model (`OPENAI_TTS_MODEL`, default `gpt-4o-mini-tts`).
    pub openai_tts_model: Option<String>,
    /// The cascade's OpenAI voice (`OPENAI_TTS_VOICE`, default `alloy`).
    pub openai_tts_voice: Option<String>,
    /// `OPENAI_REALTIME_MODEL`: with `OPENAI_API_KEY`, every live call is speech-to-speech
    /// over the Realtime API (else the cascade).
    pub openai_realtime_model: Option<String>,
    /// `OPENAI_REALTIME_URL` (default OpenAI's `wss://api.openai.com/v1/realtime`).
    pub openai_realtime_url: String,
    /// `OPENAI_REALTIME_VOICE`; unset: the service's default voice.
    pub openai_realtime_voice: Option<String>,
    /// `MOKDAN_TURN_DETECTION`: `semantic_vad` (default) or `server_vad`.
    pub turn_detection: voice::realtime::TurnDetection,
    /// `MOKDAN_STT_STREAMING`: `auto` (default: the cascade listens while the caller speaks
    /// through a Realtime transcription session when OpenAI's gpt-…-transcribe model is the
    /// speech-to-text) or `off` (whole-file uploads only).
    pub stt_streaming: bool,
    pub google_credentials: Option<Secret>,
    /// Google Speech-to-Text's base URL (`GOOGLE_STT_BASE_URL`, default
    /// `https://speech.googleapis.com`), for a regional endpoint or a local stand-in.
    pub google_stt_base_url: String,
    /// Google Calendar API v3's base URL (`GOOGLE_CALENDAR_API_BASE`, default
    /// `https://www.googleapis.com/calendar/v3`), for a local stand-in (#19).
    pub google_calendar_api_base: String,
    /// Google's he-IL voice name (`GOOGLE_TTS_VOICE`, default `he-IL-Wavenet-A`).
    pub google_tts_voice: Option<String>,
    /// The voice (`MOKDAN_TTS`); unset means Google when configured, else espeak-ng.
    pub tts: Option<TtsChoice>,
    pub whatsapp_provider: Option<WhatsappProvider>,
    pub baileys_bridge_url: Option<String>,
    /// Shared secret between mokdan and the Baileys bridge, both directions.
    pub baileys_shared_secret: Option<Secret>,
    /// Default Twilio WhatsApp sender (`+972…`) when the business has no number of its own.
    pub twilio_whatsapp_from: Option<String>,
    /// Meta Cloud API: bearer token, app secret (webhook signatures), verify token.
    pub meta_access_token: Option<Secret>,
    pub meta_app_secret: Option<Secret>,
    pub meta_verify_token: Option<Secret>,
    pub meta_phone_number_id: Option<String>,
    /// Graph API base, with its version, without a trailing slash.
    pub meta_api_base: String,
    pub jwt_secret: Secret,
    /// Seconds the watchdog waits for the stream's `start` (V8).
    pub watchdog_start_timeout: Duration,
    /// Seconds without a media frame after `start` before the watchdog fires (V8).
    pub watchdog_media_timeout: Duration,
    /// How often an open media socket is pinged to keep it alive (`MOKDAN_MEDIA_PING_SECS`,
    /// default 10).
    pub media_ping_interval: Duration,
    /// Background jobs run at once on this node (`MOKDAN_JOB_WORKERS`; 0 runs none here).
    pub job_workers: usize,
    /// A claimed job's lease (`MOKDAN_JOB_LEASE_SECS`, default 60): when a node dies
    /// mid-job, another worker takes the job over once the lease runs out.
    pub job_lease: Duration,
    /// Days recordings and turn audio are kept (`MOKDAN_RECORDING_RETENTION_DAYS`, O4).
    pub recording_retention_days: u64,
    /// Days finished jobs are kept (`MOKDAN_JOB_RETENTION_DAYS`).
    pub job_retention_days: u64,
    /// Days `dead` jobs are kept for the operator to inspect or retry
    /// (`MOKDAN_DEAD_JOB_RETENTION_DAYS`); older ones are purged.
    pub dead_job_retention_days: u64,
    /// Seconds a client has to send a request's headers, also the longest a kept-alive
    /// connection may idle (`MOKDAN_HTTP_HEADER_TIMEOUT_SECS`): slow clients are dropped.
    pub http_header_timeout: Duration,
    /// Seconds a request's whole body may take after its headers
    /// (`MOKDAN_HTTP_BODY_TIMEOUT_SECS`): a client dripping a body is answered 408.
    pub http_body_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` is believed (`MOKDAN_TRUSTED_PROXIES`, CIDRs or
    /// addresses, comma-separated; default loopback only). The client is the right-most
    /// forwarded address that is not one of them.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Sign-ins a minute from one address (`MOKDAN_LOGIN_LIMIT_PER_IP`, default 10): an
    /// office whose staff share one address behind its router may need more.
    pub login_limit_per_ip: usize,
    /// The bearer token `/metrics` wants (`MOKDAN_METRICS_TOKEN`). Without one, metrics are
    /// open in development and closed in production.
    pub metrics_token: Option<Secret>,
    /// `MOKDAN_SQLITE_IN_PRODUCTION=1`: SQLite in production is intended (a single small
    /// node), so the start does not warn about it.
    pub sqlite_in_production: bool,
    /// `SMTP_URL`: where notification e-mail goes (`smtp://host:port`,
    /// `smtps://user:pass@host`, `smtp://…?tls=required` for STARTTLS). None: e-mail
    /// notifications wait, visible to the operator, until it is set.
    pub smtp_url: Option<Secret>,
    /// `SMTP_FROM`: the sender of notification e-mail.
    pub smtp_from: String,
    /// `NOTIFY_WHATSAPP_TEMPLATE`: the approved template for WhatsApp notifications (Meta's
    /// template name, or a Twilio Content SID `HX…`). Meta needs one; Twilio and the bridge
    /// send plain text without it.
    pub notify_whatsapp_template: Option<String>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    /// Reads settings from a map, so tests can try every refusal without touching the process.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

        let env = match get("MOKDAN_ENV") {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(err(
                    "MOKDAN_ENV",
                    format!("must be `development` or `production`, not `{other}`"),
                ));
            }
        };
        let listen = match (get("PORT"), get("MOKDAN_LISTEN")) {
            (Some(port), _) => {
                let port: u16 = port
                    .parse()
                    .map_err(|_| err("PORT", format!("`{port}` is not a port number")))?;
                SocketAddr::from(([0, 0, 0, 0], port))
            }
            (None, Some(addr)) => addr.parse().map_err(|_| {
                err(
                    "MOKDAN_LISTEN",
                    format!("`{addr}` is not an address like 127.0.0.1:8080"),
                )
            })?,
            (None, None) => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = PathBuf::from(get("MOKDAN_DATA_DIR").unwrap_or("./mokdan-data"));
        let database_url = match get("DATABASE_URL") {
            Some(url) => {
                let scheme = url.split("://").next().unwrap_or_default();
                if !matches!(scheme, "sqlite" | "postgres" | "postgresql") || !url.contains("://") {
                    return Err(err(
                        "DATABASE_URL",
                        "must start with sqlite:// or postgres://",
                    ));
                }
                url.to_string()
            }
            None => format!("sqlite://{}/mokdan.db", data_dir.display()),
        };
        let public_base_url = match get("PUBLIC_BASE_URL") {
            Some(url) => Some(normalise_base_url(url)?),
            None => None,
        };
        let twilio_auth_token = get("TWILIO_AUTH_TOKEN").map(Secret::new);
        let jwt_secret = get("JWT_SECRET").map(Secret::new);
        let google_credentials = get("GCP_CREDENTIALS_JSON")
            .or(get("GOOGLE_APPLICATION_CREDENTIALS"))
            .map(Secret::new);
        let tts = match get("MOKDAN_TTS") {
            None => None,
            Some("espeak") => Some(TtsChoice::Espeak),
            Some("google") => Some(TtsChoice::Google),
            Some("openai") => Some(TtsChoice::OpenAi),
            Some(other) => {
                return Err(err(
                    "MOKDAN_TTS",
                    format!("must be `espeak`, `google` or `openai`, not `{other}`"),
                ));
            }
        };
        let whatsapp_provider = match get("WHATSAPP_PROVIDER") {
            None => None,
            Some("twilio") => Some(WhatsappProvider::Twilio),
            Some("baileys") => Some(WhatsappProvider::Baileys),
            Some("meta") => Some(WhatsappProvider::Meta),
            Some(other) => {
                return Err(err(
                    "WHATSAPP_PROVIDER",
                    format!("must be `twilio`, `baileys` or `meta`, not `{other}`"),
                ));
            }
        };
        let baileys_bridge_url =
            get("BAILEYS_BRIDGE_URL").map(|s| s.trim_end_matches('/').to_string());
        if whatsapp_provider == Some(WhatsappProvider::Baileys) && baileys_bridge_url.is_none() {
            return Err(err(
                "BAILEYS_BRIDGE_URL",
                "is required when WHATSAPP_PROVIDER=baileys",
            ));
        }
        let meta_api_base = get("META_API_BASE")
            .unwrap_or("https://graph.facebook.com/v26.0")
            .trim_end_matches('/')
            .to_string();
        url::Url::parse(&meta_api_base).map_err(|_| err("META_API_BASE", "is not a valid URL"))?;
        let meta_phone_number_id = get("META_PHONE_NUMBER_ID").map(str::to_string);
        if let Some(id) = &meta_phone_number_id
            && !id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(err(
                "META_PHONE_NUMBER_ID",
                "must be the numeric phone number id",
            ));
        }
        if whatsapp_provider == Some(WhatsappProvider::Twilio) {
            for var in ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"] {
                if get(var).is_none() {
                    return Err(err(
                        var,
                        "is required when WHATSAPP_PROVIDER=twilio (messages are sent through \
                         Twilio's Messages API)",
                    ));
                }
            }
        }
        if whatsapp_provider == Some(WhatsappProvider::Meta) {
            for var in ["META_ACCESS_TOKEN", "META_PHONE_NUMBER_ID"] {
                if get(var).is_none() {
                    return Err(err(var, "is required when WHATSAPP_PROVIDER=meta"));
                }
            }
        }
        if env == Environment::Production {
            match whatsapp_provider {
                Some(WhatsappProvider::Meta) if get("META_APP_SECRET").is_none() => {
                    return Err(err(
                        "META_APP_SECRET",
                        "is required in production with WHATSAPP_PROVIDER=meta (webhook signatures)",
                    ));
                }
                Some(WhatsappProvider::Baileys) if get("BAILEYS_SHARED_SECRET").is_none() => {
                    return Err(err(
                        "BAILEYS_SHARED_SECRET",
                        "is required in production with WHATSAPP_PROVIDER=baileys",
                    ));
                }
                _ => {}
            }
        }
        let twilio_api_base = get("TWILIO_API_BASE")
            .unwrap_or("https://api.twilio.com")
            .trim_end_matches('/')
            .to_string();
        url::Url::parse(&twilio_api_base)
            .map_err(|_| err("TWILIO_API_BASE", "is not a valid URL"))?;
        let openai_base_url = get("OPENAI_BASE_URL")
            .unwrap_or("https://api.openai.com/v1")
            .trim_end_matches('/')
            .to_string();
        url::Url::parse(&openai_base_url)
            .map_err(|_| err("OPENAI_BASE_URL", "is not a valid URL"))?;
        let google_stt_base_url = get("GOOGLE_STT_BASE_URL")
            .unwrap_or(voice::google::DEFAULT_STT_BASE_URL)
            .trim_end_matches('/')
            .to_string();
        url::Url::parse(&google_stt_base_url)
            .map_err(|_| err("GOOGLE_STT_BASE_URL", "is not a valid URL"))?;
        let google_calendar_api_base = get("GOOGLE_CALENDAR_API_BASE")
            .unwrap_or("https://www.googleapis.com/calendar/v3")
            .trim_end_matches('/')
            .to_string();
        url::Url::parse(&google_calendar_api_base)
            .map_err(|_| err("GOOGLE_CALENDAR_API_BASE", "is not a valid URL"))?;
        let openai_stt_base_url = match get("OPENAI_STT_BASE_URL") {
            None => None,
            Some(url) => {
                url::Url::parse(url)
                    .map_err(|_| err("OPENAI_STT_BASE_URL", "is not a valid URL"))?;
                Some(url.trim_end_matches('/').to_string())
            }
        };
        let openai_realtime_url = get("OPENAI_REALTIME_URL")
            .unwrap_or(voice::realtime::DEFAULT_URL)
            .to_string();
        match url::Url::parse(&openai_realtime_url) {
            Ok(u) if matches!(u.scheme(), "ws" | "wss") => {}
            _ => {
                return Err(err("OPENAI_REALTIME_URL", "is not a ws:// or wss:// URL"));
            }
        }
        let openai_realtime_model = get("OPENAI_REALTIME_MODEL").map(str::to_string);
        if openai_realtime_model.is_some() && get("OPENAI_API_KEY").is_none() {
            return Err(err("OPENAI_REALTIME_MODEL", "needs OPENAI_API_KEY"));
        }
        let turn_detection = match get("MOKDAN_TURN_DETECTION") {
            None | Some("semantic_vad") => voice::realtime::TurnDetection::SemanticVad,
            Some("server_vad") => voice::realtime::TurnDetection::ServerVad,
            Some(other) => {
                return Err(err(
                    "MOKDAN_TURN_DETECTION",
                    format!("must be `semantic_vad` or `server_vad`, not `{other}`"),
                ));
            }
        };

        let stt_streaming = match get("MOKDAN_STT_STREAMING") {
            None | Some("auto") => true,
            Some("off") => false,
            Some(other) => {
                return Err(err(
                    "MOKDAN_STT_STREAMING",
                    format!("must be `auto` or `off`, not `{other}`"),
                ));
            }
        };

        let secs = |var: &'static str, default: u64| -> Result<Duration, ConfigError> {
            match get(var) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0 && *s < 3600.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| err(var, format!("`{v}` is not a number of seconds"))),
            }
        };

        let count =
            |var: &'static str, default: u64, max: u64| -> Result<u64, ConfigError> {
                match get(var) {
                    None => Ok(default),
                    Some(v) => v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(|| {
                        err(var, format!("`{v}` is not a whole number up to {max}"))
                    }),
                }
            };

        if env == Environment::Production {
            if twilio_auth_token.is_none() {
                return Err(err(
                    "TWILIO_AUTH_TOKEN",
                    "is required in production (webhook signatures are checked with it)",
                ));
            }
            if get("TWILIO_ACCOUNT_SID").is_none() {
                return Err(err(
                    "TWILIO_ACCOUNT_SID",
                    "is required in production (without it no call can be redirected to the \
                     recording fallback, placed or have its recording fetched)",
                ));
            }
            if jwt_secret.is_none() {
                return Err(err("JWT_SECRET", "is required in production"));
            }
            if public_base_url.is_none() {
                return Err(err(
                    "PUBLIC_BASE_URL",
                    "is required in production (every URL in TwiML is built from it)",
                ));
            }
        }
        if let Some(secret) = &jwt_secret
            && env == Environment::Production
            && secret.expose().len() < 16
        {
            return Err(err("JWT_SECRET", "must be at least 16 characters"));
        }

        let sqlite_in_production = match get("MOKDAN_SQLITE_IN_PRODUCTION") {
            None | Some("0") | Some("false") | Some("no") => false,
            Some("1") | Some("true") | Some("yes") => true,
            Some(other) => {
                return Err(err(
                    "MOKDAN_SQLITE_IN_PRODUCTION",
                    format!("must be 1 or 0, not `{other}`"),
                ));
            }
        };

        let smtp_url = get("SMTP_URL").map(Secret::new);
        if let Some(url) = &smtp_url {
            match url::Url::parse(url.expose()) {
                Ok(u) if matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some() => {}
                // The URL may carry a password: never echo it.
                _ => {
                    return Err(err(
                        "SMTP_URL",
                        "must be smtp://host[:port] or smtps://[user:pass@]host[:port]",
                    ));
                }
            }
        }
        let smtp_from = get("SMTP_FROM")
            .unwrap_or("mokdan <noreply@localhost>")
            .to_string();
        if smtp_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(err(
                "SMTP_FROM",
                format!("`{smtp_from}` is not an address like `mokdan <noreply@example.com>`"),
            ));
        }

        Ok(Settings {
            env,
            listen,
            data_dir,
            database_url: Secret::new(database_url),
            public_base_url,
            twilio_account_sid: get("TWILIO_ACCOUNT_SID").map(str::to_string),
            twilio_auth_token,
            twilio_api_base,
            openai_api_key: get("OPENAI_API_KEY").map(Secret::new),
            openai_base_url,
            openai_stt_base_url,
            openai_stt_model: get("OPENAI_STT_MODEL").map(str::to_string),
            openai_chat_model: get("OPENAI_CHAT_MODEL").map(str::to_string),
            openai_tts_model: get("OPENAI_TTS_MODEL").map(str::to_string),
            openai_tts_voice: get("OPENAI_TTS_VOICE").map(str::to_string),
            openai_realtime_model,
            openai_realtime_url,
            openai_realtime_voice: get("OPENAI_REALTIME_VOICE").map(str::to_string),
            turn_detection,
            stt_streaming,
            google_credentials,
            google_stt_base_url,
            google_calendar_api_base,
            google_tts_voice: get("GOOGLE_TTS_VOICE").map(str::to_string),
            tts,
            whatsapp_provider,
            baileys_bridge_url,
            baileys_shared_secret: get("BAILEYS_SHARED_SECRET").map(Secret::new),
            twilio_whatsapp_from: get("TWILIO_WHATSAPP_FROM").map(str::to_string),
            meta_access_token: get("META_ACCESS_TOKEN").map(Secret::new),
            meta_app_secret: get("META_APP_SECRET").map(Secret::new),
            meta_verify_token: get("META_VERIFY_TOKEN").map(Secret::new),
            meta_phone_number_id,
            meta_api_base,
            // In development a missing secret gets a fresh random one per process.
            jwt_secret: jwt_secret.unwrap_or_else(|| Secret::new(random_hex(32))),
            watchdog_start_timeout: secs("MOKDAN_WATCHDOG_START_SECS", 8)?,
            watchdog_media_timeout: secs("MOKDAN_WATCHDOG_MEDIA_SECS", 6)?,
            media_ping_interval: secs("MOKDAN_MEDIA_PING_SECS", 10)?,
            job_workers: count("MOKDAN_JOB_WORKERS", 4, 256)? as usize,
            job_lease: secs("MOKDAN_JOB_LEASE_SECS", 60)?,
            recording_retention_days: count("MOKDAN_RECORDING_RETENTION_DAYS", 30, 36_500)?,
            job_retention_days: count("MOKDAN_JOB_RETENTION_DAYS", 7, 36_500)?,
            dead_job_retention_days: count("MOKDAN_DEAD_JOB_RETENTION_DAYS", 30, 36_500)?,
            http_header_timeout: secs("MOKDAN_HTTP_HEADER_TIMEOUT_SECS", 30)?,
            http_body_timeout: secs("MOKDAN_HTTP_BODY_TIMEOUT_SECS", 60)?,
            trusted_proxies: trusted_proxies(get("MOKDAN_TRUSTED_PROXIES"))?,
            login_limit_per_ip: count(
                "MOKDAN_LOGIN_LIMIT_PER_IP",
                crate::auth::LOGIN_LIMIT_PER_IP as u64,
                10_000,
            )?
            .max(1) as usize,
            metrics_token: get("MOKDAN_METRICS_TOKEN").map(Secret::new),
            sqlite_in_production,
            smtp_url,
            smtp_from,
            notify_whatsapp_template: get("NOTIFY_WHATSAPP_TEMPLATE").map(str::to_string),
        })
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }

    /// Whether speech-to-text goes to an OpenAI-compatible server: a key for OpenAI, or a
    /// server of its own at `OPENAI_STT_BASE_URL` (local servers often need no key).
    pub fn openai_stt_configured(&self) -> bool {
        self.openai_api_key.is_some() || self.openai_stt_base_url.is_some()
    }

    /// The Realtime engine's settings, when live calls are speech-to-speech.
    pub fn realtime(&self) -> Option<voice::realtime::RealtimeConfig> {
        let model = self.openai_realtime_model.as_ref()?;
        let key = self.openai_api_key.as_ref()?;
        let mut cfg = voice::realtime::RealtimeConfig::new(model.clone(), key.expose());
        cfg.url = self.openai_realtime_url.clone();
        cfg.voice = self.openai_realtime_voice.clone();
        cfg.turn_detection = self.turn_detection;
        Some(cfg)
    }

    /// The cascade's streaming recogniser, when it listens while the caller speaks: OpenAI's
    /// speech-to-text (a key, no separate `OPENAI_STT_BASE_URL`) with a model that OpenAI
    /// transcribes in Realtime sessions (`OPENAI_STT_MODEL=gpt-4o-transcribe` and kin), at
    /// `OPENAI_REALTIME_URL` (for a compatible server at `OPENAI_BASE_URL`, only when a
    /// Realtime URL is given too), unless `MOKDAN_STT_STREAMING=off`.
    pub fn stt_streaming(&self) -> Option<voice::realtime::TranscriptionConfig> {
        let key = self.openai_api_key.as_ref()?;
        let model = self.openai_stt_model.as_ref()?;
        let streams = model.starts_with("gpt-") && model.contains("transcribe");
        // A compatible server at OPENAI_BASE_URL hears the caller there, unless a Realtime
        // URL of its own is given: its key and audio never go to OpenAI by default.
        let realtime_here = self.openai_base_url == voice::openai::DEFAULT_BASE_URL
            || self.openai_realtime_url != voice::realtime::DEFAULT_URL;
        if !self.stt_streaming || self.openai_stt_base_url.is_some() || !streams || !realtime_here {
            return None;
        }
        Some(voice::realtime::TranscriptionConfig {
            url: self.openai_realtime_url.clone(),
            api_key: key.expose().to_string(),
            model: model.clone(),
            connect_timeout: voice::realtime::CONNECT_TIMEOUT,
        })
    }

    /// Where transcriptions go: `OPENAI_STT_BASE_URL`, else `OPENAI_BASE_URL`.
    pub fn openai_stt_base(&self) -> &str {
        self.openai_stt_base_url
            .as_deref()
            .unwrap_or(&self.openai_base_url)
    }

    /// What is unusual but may be meant, said loudly at start (O2): SQLite in production,
    /// unless `MOKDAN_SQLITE_IN_PRODUCTION=1` says it is intended.
    pub fn startup_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.is_production() && !self.is_postgres() && !self.sqlite_in_production {
            warnings.push(
                "SQLITE_IN_PRODUCTION: DATABASE_URL is SQLite in production: one node only, \
                 no failover, and writes wait on one file lock. Use PostgreSQL, or set \
                 MOKDAN_SQLITE_IN_PRODUCTION=1 if this is intended."
                    .to_string(),
            );
        }
        warnings
    }

    /// Whether the database is PostgreSQL (otherwise the embedded SQLite file).
    pub fn is_postgres(&self) -> bool {
        self.database_url.expose().starts_with("postgres")
    }
}

/// `MOKDAN_TRUSTED_PROXIES`: CIDRs (`10.0.0.0/8`) or single addresses, comma-separated.
/// Unset means loopback (a TLS proxy on this machine); set, it is the whole list.
fn trusted_proxies(value: Option<&str>) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    let Some(value) = value else {
        return Ok(["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<ipnet::IpNet>()
                .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    err(
                        "MOKDAN_TRUSTED_PROXIES",
                        format!("`{c}` is not an address or a CIDR like 10.0.0.0/8"),
                    )
                })
        })
        .collect()
}

/// `PUBLIC_BASE_URL` must be absolute http(s); a trailing slash is dropped so joins stay clean.
fn normalise_base_url(url: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|_| {
        err(
            "PUBLIC_BASE_URL",
            format!("`{url}` is not an absolute URL like https://example.com"),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(err(
            "PUBLIC_BASE_URL",
            format!("`{url}` must be an http:// or https:// URL"),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Random bytes as lowercase hex, for generated secrets and tokens.
pub fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn media_ping_interval_is_ten_seconds_unless_set() {
        let s = Settings::from_map(&HashMap::new()).unwrap();
        assert_eq!(s.media_ping_interval, Duration::from_secs(10));
        let s = Settings::from_map(&map(&[("MOKDAN_MEDIA_PING_SECS", "0.5")])).unwrap();
        assert_eq!(s.media_ping_interval, Duration::from_millis(500));
        assert!(Settings::from_map(&map(&[("MOKDAN_MEDIA_PING_SECS", "0")])).is_err());
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = Settings::from_map(&HashMap::new()).unwrap();
        assert_eq!(s.env, Environment::Development);
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url.expose(), "sqlite://./mokdan-data/mokdan.db");
        assert!(!s.is_postgres());
    }

    #[test]
    fn port_overrides_listen_and_binds_all_interfaces() {
        let s =
            Settings::from_map(&map(&[("PORT", "9000"), ("MOKDAN_LISTEN", "1.2.3.4:5")])).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:9000");
    }

    #[test]
    fn production_refuses_each_missing_variable_by_name() {
        let full = [
            ("MOKDAN_ENV", "production"),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_ACCOUNT_SID", "AC0123"),
            ("JWT_SECRET", "0123456789abcdef0123"),
            ("PUBLIC_BASE_URL", "https://x.example"),
        ];
        assert!(Settings::from_map(&map(&full)).is_ok());
        for missing in [
            "TWILIO_AUTH_TOKEN",
            "TWILIO_ACCOUNT_SID",
            "JWT_SECRET",
            "PUBLIC_BASE_URL",
        ] {
            let partial: Vec<_> = full
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let e = Settings::from_map(&map(&partial)).unwrap_err();
            assert_eq!(e.var, missing);
            assert!(e.to_string().starts_with(missing));
        }
    }

    #[test]
    fn the_realtime_engine_needs_a_model_and_a_key() {
        let s = Settings::from_map(&map(&[("OPENAI_API_KEY", "sk-x")])).unwrap();
        assert!(
            s.realtime().is_none(),
            "the cascade without a Realtime model"
        );
        let s = Settings::from_map(&map(&[
            ("OPENAI_API_KEY", "sk-x"),
            ("OPENAI_REALTIME_MODEL", "gpt-realtime"),
            ("OPENAI_REALTIME_VOICE", "marin"),
            ("MOKDAN_TURN_DETECTION", "server_vad"),
        ]))
        .unwrap();
        let rt = s.realtime().expect("realtime");
        assert_eq!(rt.url, "wss://api.openai.com/v1/realtime");
        assert_eq!(rt.model, "gpt-realtime");
        assert_eq!(rt.voice.as_deref(), Some("marin"));
        assert_eq!(rt.turn_detection.as_str(), "server_vad");
        assert!(!format!("{s:?}").contains("sk-x"), "the key stays secret");
        for (vars, var) in [
            (
                &[("OPENAI_REALTIME_MODEL", "gpt-realtime")][..],
                "OPENAI_REALTIME_MODEL",
            ),
            (
                &[("MOKDAN_TURN_DETECTION", "silence")][..],
                "MOKDAN_TURN_DETECTION",
            ),
            (
                &[("OPENAI_REALTIME_URL", "https://x.example")][..],
                "OPENAI_REALTIME_URL",
            ),
        ] {
            assert_eq!(Settings::from_map(&map(vars)).unwrap_err().var, var);
        }
    }

    #[test]
    fn trailing_slash_is_normalised_away() {
        let s =
            Settings::from_map(&map(&[("PUBLIC_BASE_URL", "https://a.example/base/")])).unwrap();
        assert_eq!(s.public_base_url.as_deref(), Some("https://a.example/base"));
    }

    #[test]
    fn speech_to_text_can_have_a_server_of_its_own() {
        let s = Settings::from_map(&HashMap::new()).unwrap();
        assert!(!s.openai_stt_configured());
        assert_eq!(s.openai_stt_base(), "https://api.openai.com/v1");
        let s = Settings::from_map(&map(&[("OPENAI_API_KEY", "k")])).unwrap();
        assert!(s.openai_stt_configured());
        let s = Settings::from_map(&map(&[
            ("OPENAI_BASE_URL", "http://127.0.0.1:1/v1"),
            ("OPENAI_STT_BASE_URL", "http://127.0.0.1:2/v1/"),
            ("OPENAI_STT_MODEL", "tiny.en"),
        ]))
        .unwrap();
        assert!(
            s.openai_stt_configured(),
            "no key needed for a local server"
        );
        assert!(s.openai_api_key.is_none(), "the LLM is not selected by it");
        assert_eq!(s.openai_stt_base(), "http://127.0.0.1:2/v1");
        assert_eq!(s.openai_stt_model.as_deref(), Some("tiny.en"));
        let e = Settings::from_map(&map(&[("OPENAI_STT_BASE_URL", "nowhere")])).unwrap_err();
        assert_eq!(e.var, "OPENAI_STT_BASE_URL");
    }

    #[test]
    fn smtp_is_checked_without_echoing_its_password() {
        let s = Settings::from_map(&HashMap::new()).unwrap();
        assert!(s.smtp_url.is_none());
        assert_eq!(s.smtp_from, "mokdan <noreply@localhost>");
        let s = Settings::from_map(&map(&[("SMTP_URL", "smtps://u:zqLEAKMARKpw@mail.example")]))
            .unwrap();
        assert!(!format!("{s:?}").contains("zqLEAKMARKpw"));
        for bad in [
            "http://u:zqLEAKMARKpw@mail.example",
            "smtp://",
            "mail.example",
        ] {
            let e = Settings::from_map(&map(&[("SMTP_URL", bad)])).unwrap_err();
            assert_eq!(e.var, "SMTP_URL");
            assert!(!e.problem.contains("zqLEAKMARK"), "{}", e.problem);
        }
        let e = Settings::from_map(&map(&[("SMTP_FROM", "not an address")])).unwrap_err();
        assert_eq!(e.var, "SMTP_FROM");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (k, v) in [
            ("PORT", "eighty"),
            ("MOKDAN_LISTEN", "nowhere"),
            ("MOKDAN_ENV", "staging"),
            ("DATABASE_URL", "mysql://x"),
            ("PUBLIC_BASE_URL", "example.com"),
            ("WHATSAPP_PROVIDER", "telegram"),
            ("MOKDAN_TTS", "festival"),
            ("MOKDAN_WATCHDOG_START_SECS", "-1"),
            ("MOKDAN_TRUSTED_PROXIES", "10.0.0.0/8, nginx.internal"),
        ] {
            let e = Settings::from_map(&map(&[(k, v)])).unwrap_err();
            assert_eq!(e.var, k, "{k}={v}");
        }
    }

    #[test]
    fn whatsapp_providers_need_their_settings() {
        let e = Settings::from_map(&map(&[("WHATSAPP_PROVIDER", "meta")])).unwrap_err();
        assert_eq!(e.var, "META_ACCESS_TOKEN");
        let meta = [
            ("WHATSAPP_PROVIDER", "meta"),
            ("META_ACCESS_TOKEN", "EAAG-secret"),
            ("META_PHONE_NUMBER_ID", "1065"),
            ("META_APP_SECRET", "app-secret-value"),
            ("BAILEYS_SHARED_SECRET", "bridge-secret-value"),
        ];
        let s = Settings::from_map(&map(&meta)).unwrap();
        assert_eq!(s.meta_api_base, "https://graph.facebook.com/v26.0");
        let dbg = format!("{s:?}");
        for leaked in ["EAAG-secret", "app-secret-value", "bridge-secret-value"] {
            assert!(!dbg.contains(leaked), "{leaked} leaked");
        }
        let e = Settings::from_map(&map(&[("META_PHONE_NUMBER_ID", "abc")])).unwrap_err();
        assert_eq!(e.var, "META_PHONE_NUMBER_ID");
        let prod = [
            ("MOKDAN_ENV", "production"),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_ACCOUNT_SID", "AC0123"),
            ("JWT_SECRET", "0123456789abcdef0123"),
            ("PUBLIC_BASE_URL", "https://x.example"),
            ("WHATSAPP_PROVIDER", "baileys"),
            ("BAILEYS_BRIDGE_URL", "http://127.0.0.1:3001"),
        ];
        let e = Settings::from_map(&map(&prod)).unwrap_err();
        assert_eq!(e.var, "BAILEYS_SHARED_SECRET");
    }

    #[test]
    fn whatsapp_through_twilio_needs_the_twilio_account() {
        // In development too: without the account no message could ever be sent.
        let e = Settings::from_map(&map(&[("WHATSAPP_PROVIDER", "twilio")])).unwrap_err();
        assert_eq!(e.var, "TWILIO_ACCOUNT_SID");
        assert!(e.to_string().contains("WHATSAPP_PROVIDER=twilio"), "{e}");
        let e = Settings::from_map(&map(&[
            ("WHATSAPP_PROVIDER", "twilio"),
            ("TWILIO_ACCOUNT_SID", "AC0123"),
        ]))
        .unwrap_err();
        assert_eq!(e.var, "TWILIO_AUTH_TOKEN");
        assert!(
            Settings::from_map(&map(&[
                ("WHATSAPP_PROVIDER", "twilio"),
                ("TWILIO_ACCOUNT_SID", "AC0123"),
                ("TWILIO_AUTH_TOKEN", "tok"),
            ]))
            .is_ok()
        );
    }

    #[test]
    fn sqlite_in_production_is_warned_about_unless_intended() {
        let prod = [
            ("MOKDAN_ENV", "production"),
            ("TWILIO_AUTH_TOKEN", "tok"),
            ("TWILIO_ACCOUNT_SID", "AC0123"),
            ("JWT_SECRET", "0123456789abcdef0123"),
            ("PUBLIC_BASE_URL", "https://x.example"),
        ];
        let warnings = Settings::from_map(&map(&prod)).unwrap().startup_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("SQLITE_IN_PRODUCTION"));
        assert!(warnings[0].contains("MOKDAN_SQLITE_IN_PRODUCTION=1"));
        let mut intended = prod.to_vec();
        intended.push(("MOKDAN_SQLITE_IN_PRODUCTION", "1"));
        let s = Settings::from_map(&map(&intended)).unwrap();
        assert!(s.startup_warnings().is_empty());
        let mut pg = prod.to_vec();
        pg.push(("DATABASE_URL", "postgres://db/mokdan"));
        let s = Settings::from_map(&map(&pg)).unwrap();
        assert!(s.startup_warnings().is_empty());
        // Development is where SQLite belongs.
        assert!(
            Settings::from_map(&HashMap::new())
                .unwrap()
                .startup_warnings()
                .is_empty()
        );
        let e = Settings::from_map(&map(&[("MOKDAN_SQLITE_IN_PRODUCTION", "maybe")])).unwrap_err();
        assert_eq!(e.var, "MOKDAN_SQLITE_IN_PRODUCTION");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = Settings::from_map(&map(&[
            ("TWILIO_AUTH_TOKEN", "supersecret-token"),
            ("OPENAI_API_KEY", "sk-verysecret"),
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
        ]))
        .unwrap();
        let dbg = format!("{s:?}");
        for leaked in [
            "supersecret-token",
            "sk-verysecret",
            "hunter2",
            s.jwt_secret.expose(),
        ] {
            assert!(!dbg.contains(leaked), "{leaked} leaked");
        }
    }
}
