//! Turning the caller's words into 8 kHz mu-law, the only audio a phone line carries.
//!
//! Speech comes from espeak-ng (Hebrew by default, any of its voices on request; a local
//! process, no network), any WAV is mixed
//! down and resampled. Synthesis happens before the call is placed, so a slow speech
//! engine never distorts the timing the sim is there to measure; results are cached
//! because tests say the same sentences again and again.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;

use std::time::Duration;

use crate::mouth::Prepared;
use crate::script::{CallerScript, Step};

/// Speaks Hebrew `text` with `espeak-ng -v he` and returns 8 kHz mu-law.
pub async fn speak_hebrew(text: &str) -> anyhow::Result<Vec<u8>> {
    speak("he", text).await
}

/// Speaks `text` with `espeak-ng -v <voice>` (`he`, `en`, ...) and returns 8 kHz mu-law.
pub async fn speak(voice: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    /// (voice, text) → mu-law.
    type Cache = Mutex<HashMap<(String, String), Vec<u8>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (voice.to_owned(), text.to_owned());
    if let Some(hit) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(hit.clone());
    }
    if voice.is_empty()
        || !voice
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-+_".contains(&b))
    {
        bail!("not an espeak-ng voice name: {voice:?}");
    }
    let mut child = tokio::process::Command::new("espeak-ng")
        .args(["-v", voice, "--stdout", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running espeak-ng (is it installed?)")?;
    let mut stdin = child.stdin.take().context("espeak-ng stdin")?;
    stdin.write_all(text.as_bytes()).await?;
    stdin.shutdown().await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mulaw = wav_to_mulaw(&out.stdout).context("espeak-ng output")?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, mulaw.clone());
    Ok(mulaw)
}

/// Synthesises every utterance of `script` ahead of the call.
pub(crate) async fn prepare(script: &CallerScript) -> anyhow::Result<Vec<Prepared>> {
    let mut out = Vec::with_capacity(script.steps.len());
    for step in &script.steps {
        out.push(match step {
            Step::Say {
                text,
                voice,
                cut_after,
            } => Prepared::Audio {
                mulaw: speak(voice, text).await?,
                cut_after: cut_after.map(bytes_for),
                label: format!("\"{}\"", text),
            },
            Step::Wav { bytes } => {
                let mulaw = wav_to_mulaw(bytes).context("caller WAV")?;
                let label = format!("wav ({:.1} s)", mulaw.len() as f64 / 8000.0);
                Prepared::Audio {
                    mulaw,
                    cut_after: None,
                    label,
                }
            }
            Step::Silence { dur } => Prepared::Silence {
                frames: (dur.as_millis() / u128::from(audio::FRAME_MS)) as u64,
            },
            Step::Dtmf { digit } => Prepared::Dtmf(*digit),
            Step::WaitForAgent { max } => Prepared::WaitForAgent { max: *max },
            Step::WaitForAgentSpeech { into, max } => Prepared::WaitForAgentSpeech {
                into: *into,
                max: *max,
            },
            Step::HangUp => Prepared::HangUp,
        });
    }
    Ok(out)
}

fn bytes_for(d: Duration) -> usize {
    (d.as_secs_f64() * f64::from(audio::SAMPLE_RATE)) as usize
}

/// Decodes a WAV of any rate and channel count into 8 kHz mono mu-law.
pub fn wav_to_mulaw(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let wav = audio::wav::read(bytes)?;
    Ok(audio::mulaw::encode(&wav.mono_at(audio::SAMPLE_RATE)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_any_wav_to_8k_mulaw() {
        let pcm: Vec<i16> = (0..16_000)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let wav = audio::wav::write_pcm16(16_000, &pcm);
        let mulaw = wav_to_mulaw(&wav).unwrap();
        assert!((7990..=8010).contains(&mulaw.len()), "{}", mulaw.len());
        assert!(wav_to_mulaw(b"not a wav").is_err());
    }

    #[tokio::test]
    async fn espeak_speaks_hebrew() {
        let mulaw = speak_hebrew("שלום, אני רוצה לקבוע תור").await.unwrap();
        // About a second or more of speech, and not all silence.
        assert!(mulaw.len() > 8000, "{}", mulaw.len());
        let loud = mulaw
            .iter()
            .filter(|&&b| audio::mulaw::decode_sample(b).unsigned_abs() > 2000)
            .count();
        assert!(loud > 800, "{loud}");
    }
}
