//! Spoken prompts: Hebrew audio made by the configured text-to-speech, served at
//! `/static/tts/…` (V2).
//!
//! Twilio's `<Say>` cannot speak Hebrew (error 13512), so every fixed prompt (greeting,
//! fallback, apology, goodbye) is audio we generate, with the same voice the live calls use.
//! A prompt is named by a hash of the voice, the business and the text, so its URL is
//! stable, says nothing of the text, changes with the configured voice, and its ETag is its
//! name; any node can regenerate it from the text kept in `tts_prompts`. Files are cached
//! under the data dir and made ahead of Twilio's fetch. When the configured voice fails,
//! espeak-ng and then small recordings bundled in the binary stand in (see [`make`]), so
//! the caller always hears something.

pub mod make;
pub mod routes;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::store::Db;
pub use make::{Maker, Source, bundled};

/// The standard prompts, in Hebrew.
pub mod text {
    pub const FALLBACK: &str =
        "שלום, כרגע איננו יכולים לענות. אנא השאירו הודעה אחרי הצליל, ונחזור אליכם בהקדם.";
    pub const UNKNOWN_NUMBER: &str = "מצטערים, המספר אינו פעיל כרגע. תודה ולהתראות.";
    pub const GOODBYE: &str = "תודה רבה, ההודעה נשמרה. להתראות.";
    pub const APOLOGY: &str = "סליחה, הייתה לנו תקלה קטנה.";
}

/// The standard prompts: any node serves them by name without asking the database.
const STANDARD: [&str; 4] = [
    text::FALLBACK,
    text::UNKNOWN_NUMBER,
    text::GOODBYE,
    text::APOLOGY,
];

/// Lookups of a name handed out by another node, 100 ms apart, before answering 404.
const TEXT_LOOKUPS: u32 = 10;

/// A prompt's audio, and where it came from.
#[derive(Debug, Clone)]
pub struct Audio {
    pub bytes: Bytes,
    pub source: Source,
}

pub struct Prompts {
    dir: PathBuf,
    db: Db,
    maker: Maker,
    /// The configured voice, part of every name.
    voice: String,
    /// name → text, for prompts this process has named.
    texts: Mutex<HashMap<String, String>>,
    /// Names whose row is known to exist in `tts_prompts`.
    stored: Mutex<HashSet<String>>,
    /// One generation at a time per name.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Prompts {
    /// Prompts spoken by `tts` (the live calls' voice), with espeak-ng as the stand-in
    /// when `espeak` says it is installed.
    pub fn new(
        data_dir: PathBuf,
        db: Db,
        tts: Arc<dyn voice::TextToSpeech>,
        espeak: bool,
    ) -> Arc<Self> {
        Arc::new(Prompts {
            dir: data_dir.join("tts"),
            db,
            voice: tts.voice_id(),
            maker: Maker { tts, espeak },
            texts: Mutex::default(),
            stored: Mutex::default(),
            locks: Mutex::default(),
        })
    }

    /// The file name of a prompt's audio: the voice, the business (`None`: a prompt for no
    /// business, such as the unknown-number apology) and the text, hashed.
    pub fn name_for(&self, business: Option<i64>, text: &str) -> String {
        name_of(&self.voice, business, text)
    }

    /// The absolute URL of `business`'s prompt; its audio is made in the background if needed.
    pub fn url(self: &Arc<Self>, base: &str, business: Option<i64>, text: &str) -> String {
        let name = self.name_for(business, text);
        let first = self
            .texts
            .lock()
            .expect("prompt map")
            .insert(name.clone(), text.to_string())
            .is_none();
        if first {
            let this = self.clone();
            let name2 = name.clone();
            tokio::spawn(async move {
                this.remember(&name2).await;
                let _ = this.audio(&name2).await;
            });
        }
        format!("{base}/static/tts/{name}")
    }

    /// Makes sure every node can find the text behind a name.
    async fn remember(&self, name: &str) {
        if self.stored.lock().expect("stored set").contains(name) {
            return;
        }
        let Some(text) = self.texts.lock().expect("prompt map").get(name).cloned() else {
            return;
        };
        let done = crate::store::prompts::remember(&self.db, name, &text).await;
        match done {
            Ok(_) => {
                self.stored
                    .lock()
                    .expect("stored set")
                    .insert(name.to_string());
            }
            Err(e) => tracing::warn!(error = %e, "cannot store prompt text"),
        }
    }

    /// The text behind a name: known here, one of the standard prompts (which every node
    /// knows), or stored by the node that handed the name out. That node stores it in the
    /// background, so Twilio's fetch may land on another node a moment before the row is
    /// committed: a name not found yet is looked up again for a short while.
    async fn text_of(&self, name: &str) -> Option<String> {
        if let Some(t) = self.texts.lock().expect("prompt map").get(name) {
            return Some(t.clone());
        }
        if let Some(t) = STANDARD.iter().find(|t| self.name_for(None, t) == name) {
            return Some(t.to_string());
        }
        for attempt in 0..TEXT_LOOKUPS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            match crate::store::prompts::text(&self.db, name).await {
                Ok(Some(t)) => return Some(t),
                Ok(None) => {}
                Err(_) => return None,
            }
        }
        None
    }

    /// The audio of a prompt (mu-law 8 kHz WAV), generating and caching it on first use.
    /// Only the configured voice's audio is cached: a stand-in is made again next time, so
    /// the prompt recovers its voice once the provider is back.
    pub async fn audio(&self, name: &str) -> Option<Audio> {
        if !valid_name(name) {
            return None;
        }
        let path = self.dir.join(name);
        let cached = |bytes: Vec<u8>| Audio {
            bytes: bytes.into(),
            source: Source::Provider,
        };
        if let Ok(bytes) = tokio::fs::read(&path).await {
            return Some(cached(bytes));
        }
        let text = self.text_of(name).await?;
        let lock = self
            .locks
            .lock()
            .expect("lock map")
            .entry(name.to_string())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if let Ok(bytes) = tokio::fs::read(&path).await {
            return Some(cached(bytes));
        }
        let (bytes, source) = self.maker.make(&text).await?;
        if source == Source::Provider
            && let Err(e) = write_atomically(&path, &bytes).await
        {
            tracing::warn!(error = %e, "cannot cache prompt audio");
        }
        Some(Audio {
            bytes: bytes.into(),
            source,
        })
    }
}

/// The name of `text` said by `voice` (a [`voice::TextToSpeech::voice_id`]) for `business`.
pub fn name_of(voice: &str, business: Option<i64>, text: &str) -> String {
    let business = business.map_or_else(|| "-".to_string(), |b| b.to_string());
    let digest = Sha256::digest(format!("{voice}|{business}|{text}").as_bytes());
    format!("p-{}.wav", &hex::encode(digest)[..20])
}

/// Names are ours (`p-<hex>.wav`): nothing else reaches the file system.
fn valid_name(name: &str) -> bool {
    name.len() == 26
        && name.starts_with("p-")
        && name.ends_with(".wav")
        && name[2..22].bytes().all(|b| b.is_ascii_hexdigit())
}

async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_safe() {
        let v = "espeak-ng:he:150";
        let a = name_of(v, Some(1), text::FALLBACK);
        assert_eq!(a, name_of(v, Some(1), text::FALLBACK));
        assert_ne!(a, name_of(v, Some(1), text::GOODBYE));
        assert_ne!(a, name_of(v, Some(2), text::FALLBACK), "per business");
        assert_ne!(a, name_of(v, None, text::FALLBACK));
        assert_ne!(
            a,
            name_of("openai:tts-1:alloy", Some(1), text::FALLBACK),
            "per voice"
        );
        assert!(valid_name(&a));
        assert!(!valid_name("../../etc/passwd"));
        assert!(!valid_name("p-zzzzzzzzzzzzzzzzzzzz.wav"));
    }

    #[test]
    fn bundled_prompts_are_twilio_playable() {
        for t in [
            text::FALLBACK,
            text::UNKNOWN_NUMBER,
            text::GOODBYE,
            text::APOLOGY,
        ] {
            let wav = audio::wav::read(bundled(t).unwrap()).unwrap();
            assert_eq!(wav.sample_rate, 8000);
            assert!(wav.samples.len() > 8000, "under a second: {t}");
        }
    }
}
