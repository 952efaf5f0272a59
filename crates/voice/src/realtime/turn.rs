//! One turn of a Realtime call as it is stored: the caller's words, the agent's words and
//! how much of them the caller heard before a barge-in (cut at a word, in proportion to
//! the audio heard), the functions called, and the timings.

use tokio::time::Instant;

use crate::session::{ToolCall, TurnRecord};

/// A caller's turn and the agent's answer.
pub(super) struct Turn {
    pub(super) t0: Instant,
    pub(super) caller_text: String,
    pub(super) agent_text: String,
    /// Milliseconds of the agent's audio sent in this turn.
    pub(super) audio_ms: u32,
    /// Milliseconds of it the caller heard, when cut by a barge-in.
    pub(super) heard_ms: Option<u32>,
    pub(super) stt_ms: Option<u32>,
    pub(super) first_audio_ms: Option<u32>,
    pub(super) first_frame_ms: Option<u32>,
    pub(super) barge_in_ms: Option<u32>,
    pub(super) tools: Vec<ToolCall>,
}

impl Turn {
    pub(super) fn new(t0: Instant) -> Self {
        Self {
            t0,
            caller_text: String::new(),
            agent_text: String::new(),
            audio_ms: 0,
            heard_ms: None,
            stt_ms: None,
            first_audio_ms: None,
            first_frame_ms: None,
            barge_in_ms: None,
            tools: Vec::new(),
        }
    }

    pub(super) fn ms(&self) -> u32 {
        self.t0.elapsed().as_millis().min(u128::from(u32::MAX)) as u32
    }

    pub(super) fn record(self) -> TurnRecord {
        let heard_text = match self.heard_ms {
            Some(heard) => cut(self.agent_text.trim(), heard, self.audio_ms),
            None => self.agent_text.trim().to_string(),
        };
        TurnRecord {
            caller_text: self.caller_text,
            agent_text: self.agent_text.trim().to_string(),
            heard_text,
            barged_in: self.heard_ms.is_some(),
            stt_ms: self.stt_ms,
            llm_first_token_ms: None,
            tts_first_audio_ms: self.first_audio_ms,
            first_frame_out_ms: self.first_frame_ms,
            barge_in_ms: self.barge_in_ms,
            caller_audio: None,
            tools: self.tools,
        }
    }
}

/// The words of `text` spoken in the first `heard` of `total` ms (by proportion of
/// characters, cut at a word boundary).
fn cut(text: &str, heard: u32, total: u32) -> String {
    if total == 0 || heard >= total {
        return text.to_string();
    }
    let chars = text.chars().count();
    let keep = (chars as u64 * u64::from(heard) / u64::from(total)) as usize;
    let mut out = String::new();
    for word in text.split_whitespace() {
        let next = out.chars().count() + usize::from(!out.is_empty()) + word.chars().count();
        if next > keep {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn the_heard_part_is_cut_at_a_word() {
        assert_eq!(cut("שלום לך חבר יקר", 500, 1000), "שלום לך");
        assert_eq!(cut("שלום לך", 0, 1000), "");
        assert_eq!(cut("שלום לך", 1000, 1000), "שלום לך");
    }
}
