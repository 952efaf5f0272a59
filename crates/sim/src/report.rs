//! What happened on one simulated call, as data.
//!
//! The readable timeline that `mokdan sim call` prints and the assertions in the
//! integration tests come from this one struct, so the figures a person reads are
//! the figures the tests check.

use std::fmt::Write as _;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::error::ProtocolError;

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0)
}

fn millis_vec<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(
        v.iter()
            .map(|d| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0),
    )
}

fn millis_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => millis(d, s),
        None => s.serialize_none(),
    }
}

/// The kind of a timeline entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// A webhook that returns TwiML (incoming call, Redirect, actions).
    Webhook,
    /// A status callback (call, stream, recording, message).
    Callback,
    /// A TwiML verb starts.
    Verb,
    /// The media WebSocket opened, failed or closed.
    Socket,
    /// A Media Streams event the sim sent (start, stop, dtmf).
    Stream,
    CallerTurnStart,
    CallerTurnEnd,
    /// The agent's audio started playing (with the reply latency when it answers a turn).
    AgentAudio,
    /// The server sent a mark.
    MarkSent,
    /// The sim echoed a mark back.
    MarkEchoed,
    Clear,
    Dtmf,
    /// A REST Calls update redirected the live call.
    RestUpdate,
    Recording,
    Transfer,
    ProtocolError,
    Note,
    End,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Since the sim first requested the call's webhook.
    #[serde(rename = "at_ms", serialize_with = "millis")]
    pub at: Duration,
    pub kind: TimelineKind,
    pub detail: String,
}

/// A recording the sim captured and serves over its REST API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingInfo {
    pub sid: String,
    pub call_sid: String,
    /// The media URL (Twilio's form: no extension; `.wav` also works).
    pub url: String,
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// `RecordVerb`, `StartCallRecordingAPI`, `OutboundAPI` or `StartCallRecordingTwiML`.
    pub source: String,
    /// 1, or 2 for a dual-channel recording (caller first, agent second).
    pub channels: u16,
}

/// Everything observed on one call.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallReport {
    pub call_sid: String,
    pub direction: String,
    pub from: String,
    pub to: String,
    pub timeline: Vec<TimelineEntry>,
    /// End of each caller turn → first agent media frame received after it.
    #[serde(rename = "turn_latencies_ms", serialize_with = "millis_vec")]
    pub turn_latencies: Vec<Duration>,
    /// The agent audio the caller heard (Play and stream media), 8 kHz mu-law.
    #[serde(skip)]
    pub heard_mulaw: Vec<u8>,
    /// The whole call as a listener on the line hears it: the caller's frames and the
    /// agent's audio mixed in step, silences included, 8 kHz mu-law.
    #[serde(skip)]
    pub conversation_mulaw: Vec<u8>,
    pub recordings: Vec<RecordingInfo>,
    pub marks_echoed: Vec<String>,
    pub clears: usize,
    /// Server messages that arrived before the sim sent `start`.
    pub messages_before_start: usize,
    pub protocol_errors: Vec<ProtocolError>,
    /// `completed`, `failed`, `busy`, `no-answer` or `canceled`.
    pub final_status: String,
    /// From answer to hang-up.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Time to open the media socket (the first one, when there were several).
    #[serde(rename = "socket_open_ms", serialize_with = "millis_opt")]
    pub socket_open: Option<Duration>,
    pub stream_sid: Option<String>,
    pub media_frames_sent: u64,
    pub media_messages_received: u64,
    /// When each agent `media` message arrived (on the timeline's clock), so what comes
    /// after a `clear` can be checked.
    #[serde(skip)]
    pub agent_media_at: Vec<Duration>,
}

impl CallReport {
    /// True when Twilio would have logged no error for this call.
    pub fn is_clean(&self) -> bool {
        self.protocol_errors.is_empty()
    }

    /// The errors with Twilio code `code`.
    pub fn errors_with(&self, code: u32) -> Vec<&ProtocolError> {
        self.protocol_errors
            .iter()
            .filter(|e| e.code == code)
            .collect()
    }

    /// What the caller heard, as an 8 kHz mu-law WAV file.
    pub fn heard_wav(&self) -> Vec<u8> {
        audio::wav::write_mulaw(audio::SAMPLE_RATE, &self.heard_mulaw)
    }

    /// Both sides of the call in real time, as an 8 kHz mu-law WAV file.
    pub fn conversation_wav(&self) -> Vec<u8> {
        audio::wav::write_mulaw(audio::SAMPLE_RATE, &self.conversation_mulaw)
    }

    /// How long the heard audio plays.
    pub fn heard_duration(&self) -> Duration {
        Duration::from_secs_f64(self.heard_mulaw.len() as f64 / f64::from(audio::SAMPLE_RATE))
    }

    /// Timeline entries of one kind.
    pub fn entries(&self, kind: TimelineKind) -> impl Iterator<Item = &TimelineEntry> {
        self.timeline.iter().filter(move |e| e.kind == kind)
    }

    /// The report as pretty JSON (without the audio).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// A readable account of the call, one event a line, then a summary.
    pub fn print_timeline(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "call {} ({}) {} -> {}",
            self.call_sid, self.direction, self.from, self.to
        );
        for e in &self.timeline {
            let _ = writeln!(
                out,
                "{:>9.3}s  {:<17} {}",
                e.at.as_secs_f64(),
                kind_label(e.kind),
                e.detail
            );
        }
        let _ = writeln!(out, "--");
        let _ = writeln!(
            out,
            "status {} after {:.1}s; heard {:.1}s of agent audio",
            self.final_status,
            self.duration.as_secs_f64(),
            self.heard_duration().as_secs_f64()
        );
        if let Some(open) = self.socket_open {
            let _ = writeln!(out, "socket opened in {} ms", open.as_millis());
        }
        if !self.turn_latencies.is_empty() {
            let list: Vec<String> = self
                .turn_latencies
                .iter()
                .map(|d| format!("{} ms", d.as_millis()))
                .collect();
            let _ = writeln!(out, "reply latency per turn: {}", list.join(", "));
            // Whatever engine answers (cascade or speech-to-speech), measured on the line.
            for (i, d) in self.turn_latencies.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  turn {}: caller stopped -> agent's first audio {} ms",
                    i + 1,
                    d.as_millis()
                );
            }
        }
        let _ = writeln!(
            out,
            "media frames sent {}, agent media messages {}, marks echoed {}, clears {}",
            self.media_frames_sent,
            self.media_messages_received,
            self.marks_echoed.len(),
            self.clears
        );
        for r in &self.recordings {
            let _ = writeln!(
                out,
                "recording {} ({:.1}s): {}",
                r.sid,
                r.duration.as_secs_f64(),
                r.url
            );
        }
        if self.protocol_errors.is_empty() {
            let _ = writeln!(out, "no protocol errors");
        } else {
            for e in &self.protocol_errors {
                let _ = writeln!(out, "ERROR {e}");
            }
        }
        out
    }
}

fn kind_label(kind: TimelineKind) -> &'static str {
    match kind {
        TimelineKind::Webhook => "webhook",
        TimelineKind::Callback => "callback",
        TimelineKind::Verb => "twiml",
        TimelineKind::Socket => "socket",
        TimelineKind::Stream => "stream",
        TimelineKind::CallerTurnStart => "caller speaks",
        TimelineKind::CallerTurnEnd => "caller stops",
        TimelineKind::AgentAudio => "agent audio",
        TimelineKind::MarkSent => "mark from server",
        TimelineKind::MarkEchoed => "mark echoed",
        TimelineKind::Clear => "clear",
        TimelineKind::Dtmf => "dtmf",
        TimelineKind::RestUpdate => "rest update",
        TimelineKind::Recording => "recording",
        TimelineKind::Transfer => "transfer",
        TimelineKind::ProtocolError => "ERROR",
        TimelineKind::Note => "note",
        TimelineKind::End => "end",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_text_and_json() {
        let report = CallReport {
            call_sid: "CA1".into(),
            direction: "inbound".into(),
            timeline: vec![TimelineEntry {
                at: Duration::from_millis(1500),
                kind: TimelineKind::Webhook,
                detail: "POST /webhook/incoming_call -> 200 in 12 ms".into(),
            }],
            turn_latencies: vec![Duration::from_millis(820)],
            heard_mulaw: vec![0xFF; 8000],
            protocol_errors: vec![ProtocolError {
                code: 31951,
                message: "wrong streamSid".into(),
            }],
            final_status: "completed".into(),
            ..CallReport::default()
        };
        let text = report.print_timeline();
        assert!(text.contains("    1.500s  webhook"));
        assert!(text.contains("reply latency per turn: 820 ms"));
        assert!(text.contains("turn 1: caller stopped -> agent's first audio 820 ms"));
        assert!(text.contains("heard 1.0s"));
        assert!(text.contains("ERROR Twilio error 31951: wrong streamSid"));
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["turn_latencies_ms"][0], 820.0);
        assert_eq!(json["timeline"][0]["kind"], "webhook");
        assert_eq!(json["protocol_errors"][0]["code"], 31951);
        assert!(json.get("heard_mulaw").is_none());
        assert!(!report.is_clean());
        assert_eq!(report.errors_with(31951).len(), 1);
        let wav = audio::wav::read(&report.heard_wav()).unwrap();
        assert_eq!(wav.sample_rate, 8000);
        assert_eq!(wav.samples.len(), 8000);
    }
}
