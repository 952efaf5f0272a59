//! Speech-to-text inside a turn, streamed where the provider streams: the final text
//! flows on as before, the time to the first partial text is logged next to the time to
//! the whole transcript, and a stream that breaks off before its final text fails the
//! turn like any provider error (apology, one retry, then the recording fallback).
//!
//! A recogniser that listens while the caller speaks
//! ([`StreamingStt`](crate::provider::StreamingStt)) hands each
//! utterance over as a [`Heard`]: the transcript the service is making from audio it
//! already has. [`streamed`] waits for it (briefly); the caller's audio is still kept, so
//! a stream that failed costs a whole-file upload, never the answer.
//!
//! A transcript with no word in it (a cough, a door, a breath: empty, whitespace,
//! punctuation, or only a recogniser's bracketed tag such as `[BLANK_AUDIO]`) is
//! [noise](is_noise), never an answer: the turn loop keeps listening instead of handing it
//! to the agent, which would take it as the answer to its question and move on.

use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::provider::{ProviderError, SpeechToText, SttEvent, Transcript, with_timeout};

/// Longest wait for a streamed transcript after the end of the turn before the audio is
/// uploaded instead.
pub(crate) const STREAM_WAIT: Duration = Duration::from_secs(3);

/// The transcript of one committed utterance, being made by a streaming recogniser.
/// Shared: a turn the caller went on talking through hands its part to the next turn.
pub(crate) type Heard = Shared<BoxFuture<'static, Result<Transcript, ProviderError>>>;

/// The utterance committed on `rx`, as a [`Heard`]; a sender dropped by a broken stream
/// is an error.
pub(crate) fn heard(rx: oneshot::Receiver<Result<Transcript, ProviderError>>) -> Heard {
    async move {
        rx.await.unwrap_or_else(|_| {
            Err(ProviderError::Unavailable(
                "the streaming recogniser stopped".into(),
            ))
        })
    }
    .boxed()
    .shared()
}

/// The text of a turn heard in `parts` (one per committed utterance), waiting at most
/// `wait` for all of them.
pub(crate) async fn streamed(
    parts: &[Heard],
    wait: Duration,
    t0: Instant,
) -> Result<Transcript, ProviderError> {
    let all = futures::future::join_all(parts.iter().cloned());
    let results = tokio::time::timeout(wait, all)
        .await
        .map_err(|_| ProviderError::Timeout)?;
    let mut text = Vec::new();
    for r in results {
        let t = r?;
        if !t.text.is_empty() {
            text.push(t.text);
        }
    }
    tracing::debug!(
        transcript_ms = ms_since(t0),
        parts = parts.len(),
        "caller heard while speaking"
    );
    Ok(Transcript {
        text: text.join(" "),
        confidence: None,
    })
}

fn ms_since(t0: Instant) -> u32 {
    t0.elapsed().as_millis().min(u128::from(u32::MAX)) as u32
}

/// Transcribes the caller's utterance (`he`). `timeout` bounds the request and then each
/// wait for the next piece of the answer; `t0` is the end of the caller's speech.
pub(crate) async fn transcribe(
    stt: &dyn SpeechToText,
    pcm16_8k: &[i16],
    timeout: Duration,
    t0: Instant,
) -> Result<Transcript, ProviderError> {
    let mut events = with_timeout(timeout, stt.transcribe_stream(pcm16_8k, "he")).await?;
    let mut first_partial_ms = None;
    let mut partials = 0u32;
    while let Some(event) = with_timeout(timeout, async { events.next().await.transpose() }).await?
    {
        match event {
            SttEvent::Partial(_) => {
                partials += 1;
                first_partial_ms.get_or_insert_with(|| ms_since(t0));
            }
            SttEvent::Final(transcript) => {
                tracing::debug!(
                    stt = stt.name(),
                    first_partial_ms,
                    transcript_ms = ms_since(t0),
                    partials,
                    "caller transcribed"
                );
                return Ok(transcript);
            }
        }
    }
    Err(ProviderError::Protocol(format!(
        "{} speech-to-text ended without a final transcript",
        stt.name()
    )))
}

/// Whether a transcript carries no word: nothing but whitespace, punctuation and symbols
/// once the recogniser's bracketed tags (`[BLANK_AUDIO]`, `(שיעול)`, `*noise*`) are
/// dropped. Callers never speak brackets; recognisers use them to describe sounds.
pub(crate) fn is_noise(text: &str) -> bool {
    let mut depth = 0usize;
    let mut starred = false;
    for c in text.chars() {
        match c {
            '[' | '(' | '{' | '<' => depth += 1,
            ']' | ')' | '}' | '>' => depth = depth.saturating_sub(1),
            '*' => starred = !starred,
            c if depth == 0 && !starred && c.is_alphanumeric() => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::is_noise;

    #[test]
    fn a_transcript_without_words_is_noise() {
        for t in [
            "",
            "  ",
            ".",
            "...",
            "?!",
            " - ",
            "…",
            "[BLANK_AUDIO]",
            "(שיעול)",
            "*cough*",
            "[Music] .",
            "♪",
        ] {
            assert!(is_noise(t), "{t:?}");
        }
        for t in ["כן", "לא.", "0", "052", "דנה (כהן)", "ok", "[x] כן"] {
            assert!(!is_noise(t), "{t:?}");
        }
    }
}
