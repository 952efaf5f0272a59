//! Fixed phrases (the greeting, the apology, the silence prompt, goodbyes) rendered once
//! per process and kept as ready-to-send 8 kHz mu-law, so the greeting starts the moment
//! the stream opens and a repeat caller hears it with no synthesis delay. When the
//! configured voice fails, the phrase is rendered with the local espeak-ng voice instead:
//! a caller must never hear silence because a cloud provider is down.
//!
//! Entries are [`Bytes`]: every call playing a phrase shares the one rendering and hands
//! out slices of it, so a minute-long greeting costs its memory once, not once per call.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::encode::MulawEncoder;
use crate::provider::{ProviderError, TextToSpeech, with_timeout};
use crate::tts::espeak::EspeakTts;

/// Phrases kept; the cache is emptied when it would grow past this.
const MAX_ENTRIES: usize = 512;

type Key = (&'static str, String);
static CACHE: LazyLock<Mutex<HashMap<Key, Bytes>>> = LazyLock::new(Default::default);
type Gates = HashMap<Key, Arc<tokio::sync::Mutex<()>>>;
static INFLIGHT: LazyLock<Mutex<Gates>> = LazyLock::new(Default::default);

fn lookup(key: &Key) -> Option<Bytes> {
    CACHE.lock().ok()?.get(key).cloned()
}

fn store(key: Key, audio: Bytes) {
    if let Ok(mut c) = CACHE.lock() {
        if c.len() >= MAX_ENTRIES {
            c.clear();
        }
        c.insert(key, audio);
    }
}

/// True when `text` in `tts`'s voice is already cached.
pub fn is_cached(tts: &dyn TextToSpeech, text: &str) -> bool {
    lookup(&(tts.name(), text.to_string())).is_some()
}

/// Synthesizes a whole phrase to 8 kHz mu-law frames.
pub(crate) async fn render(
    tts: &dyn TextToSpeech,
    text: &str,
    timeout: Duration,
) -> Result<Vec<u8>, ProviderError> {
    let mut stream = with_timeout(timeout, tts.synthesize(text)).await?;
    let mut enc = MulawEncoder::new();
    let mut out = Vec::new();
    while let Some(chunk) = with_timeout(timeout, async { stream.next().await.transpose() }).await?
    {
        out.extend(enc.push(&chunk)?);
    }
    out.extend(enc.finish());
    if out.is_empty() {
        return Err(ProviderError::Protocol(
            "text-to-speech returned no audio".into(),
        ));
    }
    Ok(out)
}

/// The phrase in `tts`'s voice (or espeak-ng's, if that fails), from the cache when
/// possible.
pub(crate) async fn phrase(
    tts: &dyn TextToSpeech,
    text: &str,
    timeout: Duration,
) -> Result<Bytes, ProviderError> {
    let key = (tts.name(), text.to_string());
    if let Some(hit) = lookup(&key) {
        return Ok(hit);
    }
    // One synthesis per phrase at a time: a hundred calls arriving together wait for the
    // first one's audio instead of starting a hundred engines.
    let gate = {
        let mut inflight = INFLIGHT.lock().unwrap_or_else(|p| p.into_inner());
        inflight.entry(key.clone()).or_default().clone()
    };
    let _turn = gate.lock().await;
    if let Some(hit) = lookup(&key) {
        return Ok(hit);
    }
    let result = render_or_fallback(tts, text, timeout, key.clone()).await;
    INFLIGHT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
    result
}

async fn render_or_fallback(
    tts: &dyn TextToSpeech,
    text: &str,
    timeout: Duration,
    key: Key,
) -> Result<Bytes, ProviderError> {
    let first_err = match render(tts, text, timeout).await {
        Ok(audio) => {
            let audio = Bytes::from(audio);
            store(key, audio.clone());
            return Ok(audio);
        }
        Err(e) => e,
    };
    let local = EspeakTts::new();
    if tts.name() == local.name() {
        return Err(first_err);
    }
    tracing::warn!(provider = tts.name(), error = %first_err, "text-to-speech failed; using espeak-ng for a fixed phrase");
    let key = (local.name(), text.to_string());
    if let Some(hit) = lookup(&key) {
        return Ok(hit);
    }
    let audio = Bytes::from(render(&local, text, timeout).await.map_err(|_| first_err)?);
    store(key, audio.clone());
    Ok(audio)
}
