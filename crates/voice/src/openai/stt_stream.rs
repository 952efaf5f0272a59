//! Decoding of a streamed `audio/transcriptions` answer (`stream=true` with the
//! gpt-4o-transcribe family): server-sent events whose `transcript.text.delta` pieces
//! become partial text as they arrive, and whose `transcript.text.done` carries the whole
//! text. The answer must end with `done`: a body cut off before it is an error, never a
//! silently shortened transcript. Kept free of I/O so it can be fed any byte split.

use serde::Deserialize;
use serde_json::Value;

use super::sse::{SseFramer, StreamDecoder};
use crate::provider::{ProviderError, SttEvent, Transcript};

/// Whether OpenAI streams transcriptions of this model. whisper-1 does not (it ignores
/// `stream`), nor do the local servers' own model names.
pub(crate) fn model_streams(model: &str) -> bool {
    model.starts_with("gpt-") && model.contains("transcribe")
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type", default)]
    kind: String,
    delta: Option<String>,
    text: Option<String>,
    error: Option<Value>,
}

/// Incremental decoder of one streamed transcription body.
#[derive(Debug, Default)]
pub(crate) struct TranscriptStreamDecoder {
    sse: SseFramer,
    /// The deltas so far, in case `done` comes without its `text`.
    heard: String,
    done: bool,
}

impl StreamDecoder for TranscriptStreamDecoder {
    type Event = SttEvent;

    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SttEvent>, ProviderError> {
        let mut out = Vec::new();
        for data in self.sse.feed(bytes) {
            self.dispatch(&data, &mut out)?;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<SttEvent>, ProviderError> {
        let mut out = Vec::new();
        for data in self.sse.finish() {
            self.dispatch(&data, &mut out)?;
        }
        if !self.done {
            return Err(ProviderError::Protocol(
                "transcription stream ended before transcript.text.done".into(),
            ));
        }
        Ok(out)
    }

    fn is_done(&self) -> bool {
        self.done
    }
}

impl TranscriptStreamDecoder {
    fn dispatch(&mut self, data: &str, out: &mut Vec<SttEvent>) -> Result<(), ProviderError> {
        let data = data.trim();
        if self.done || data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let event: Event = serde_json::from_str(data)
            .map_err(|e| ProviderError::Protocol(format!("bad transcription stream event: {e}")))?;
        if event.error.is_some() || event.kind == "error" {
            let msg = event
                .error
                .as_ref()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .map_or_else(|| data.to_string(), str::to_string);
            return Err(ProviderError::Protocol(format!(
                "transcription stream error: {msg}"
            )));
        }
        match event.kind.as_str() {
            "transcript.text.delta" => {
                if let Some(delta) = event.delta.filter(|d| !d.is_empty()) {
                    self.heard.push_str(&delta);
                    out.push(SttEvent::Partial(delta));
                }
            }
            "transcript.text.done" => {
                self.done = true;
                let text = event
                    .text
                    .unwrap_or_else(|| std::mem::take(&mut self.heard));
                out.push(SttEvent::Final(Transcript {
                    text: text.trim().to_string(),
                    confidence: None,
                }));
            }
            // `transcript.text.segment` (diarization) and anything newer: nothing we use.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = concat!(
        "data: {\"type\":\"transcript.text.delta\",\"delta\":\" שלום\",\"logprobs\":[]}\n\n",
        ": keep-alive\n\n",
        "data: {\"type\":\"transcript.text.delta\",\"delta\":\", קוראים\"}\r\n\r\n",
        "data: {\"type\":\"transcript.text.delta\",\"delta\":\" לי דנה\"}\n\n",
        "data: {\"type\":\"transcript.text.done\",\"text\":\" שלום, קוראים לי דנה\",\"usage\":{\"type\":\"tokens\",\"input_tokens\":14,\"output_tokens\":6,\"total_tokens\":20}}\n\n",
    );

    fn decode(body: &[u8], step: usize) -> Result<Vec<SttEvent>, ProviderError> {
        let mut d = TranscriptStreamDecoder::default();
        let mut events = vec![];
        for chunk in body.chunks(step) {
            events.extend(d.feed(chunk)?);
        }
        events.extend(d.finish()?);
        Ok(events)
    }

    #[test]
    fn decodes_deltas_then_the_whole_text_at_any_byte_split() {
        let expected = vec![
            SttEvent::Partial(" שלום".into()),
            SttEvent::Partial(", קוראים".into()),
            SttEvent::Partial(" לי דנה".into()),
            SttEvent::Final(Transcript {
                text: "שלום, קוראים לי דנה".into(),
                confidence: None,
            }),
        ];
        let bytes = BODY.as_bytes();
        for step in [1, 2, 3, 7, 64, bytes.len()] {
            assert_eq!(decode(bytes, step).unwrap(), expected, "split every {step}");
        }
    }

    #[test]
    fn a_body_that_ends_before_done_is_an_error() {
        let cut = &BODY[..BODY.find("data: {\"type\":\"transcript.text.done").unwrap()];
        let err = decode(cut.as_bytes(), 5).unwrap_err();
        assert!(
            matches!(&err, ProviderError::Protocol(m) if m.contains("transcript.text.done")),
            "{err:?}"
        );
    }

    #[test]
    fn done_without_text_falls_back_on_the_deltas_and_errors_fail() {
        let body = "data: {\"type\":\"transcript.text.delta\",\"delta\":\"כן\"}\n\ndata: {\"type\":\"transcript.text.done\"}";
        let events = decode(body.as_bytes(), 4).unwrap();
        assert_eq!(
            events.last(),
            Some(&SttEvent::Final(Transcript {
                text: "כן".into(),
                confidence: None
            }))
        );
        let err = decode(
            b"data: {\"type\":\"error\",\"error\":{\"message\":\"audio too short\"}}\n\n",
            3,
        )
        .unwrap_err();
        assert!(matches!(&err, ProviderError::Protocol(m) if m.contains("audio too short")));
    }

    #[test]
    fn only_the_gpt_transcribe_models_stream() {
        for m in [
            "gpt-4o-transcribe",
            "gpt-4o-mini-transcribe",
            "gpt-4o-mini-transcribe-2025-12-15",
            "gpt-transcribe",
        ] {
            assert!(model_streams(m), "{m}");
        }
        for m in ["whisper-1", "tiny.en", "gpt-4o-mini", "whisper-large-v3"] {
            assert!(!model_streams(m), "{m}");
        }
    }
}
