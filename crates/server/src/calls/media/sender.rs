//! The paced sender: one task per call that feeds the agent's audio to Twilio in real time.
//!
//! Twilio plays whatever it is sent, and buffers the excess. If we pushed a whole reply at
//! once, a barge-in `clear` would have seconds to flush and the caller's experience would
//! depend on Twilio's buffer. So audio leaves in 20 ms frames against a clock, at most
//! [`LEAD`] ahead of real time, a `mark` follows each utterance so we learn from the echoes
//! what the caller has actually heard, and `clear` empties our queue and Twilio's at once.
//! Lateness against the schedule is measured on every frame for the metrics and the bench.
//!
//! This runs 50 times a second for every call, so a frame costs one allocation (its JSON
//! text, written by [`MediaWriter`]) and queued audio is shared, not copied: fixed phrases
//! arrive as slices of the process-wide cached rendering.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::ws::Message;
use bytes::Bytes;
use telephony::media::{MediaWriter, ServerMessage};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use audio::frame::FRAME_BYTES;

/// One frame's duration.
pub const FRAME: Duration = Duration::from_millis(20);
/// How far ahead of real time audio may be sent, so Twilio's buffer stays shallow.
pub const LEAD: Duration = Duration::from_millis(40);
/// The most audio queued per call (60 s); beyond it, audio is dropped and logged.
pub const MAX_QUEUED_FRAMES: usize = 3_000;

/// What the call's conversation asks the sender to do.
#[derive(Debug)]
pub enum Outbound {
    /// Mu-law audio of an utterance, any length.
    Audio { utterance: u64, mulaw: Bytes },
    /// The utterance is complete: place a mark after its audio.
    UtteranceEnd { utterance: u64 },
    /// Barge-in: drop everything not yet sent and tell Twilio to drop what it holds.
    Clear,
    /// Resolves once everything queued has been sent.
    Drain(oneshot::Sender<()>),
}

/// Queued audio is kept in the chunks it came in, cut into frames only as it is sent:
/// a per-frame allocation would cost more than the audio itself.
enum Item {
    Audio { bytes: Bytes, sent: usize },
    Mark(String),
}

/// Frames left in a chunk of `len` bytes from `sent` on.
fn frames_in(len: usize, sent: usize) -> usize {
    (len - sent).div_ceil(FRAME_BYTES)
}

/// Figures the sender keeps, shared with the socket for the stop log and the bench.
#[derive(Debug, Default, Clone)]
pub struct SenderStats {
    pub frames_sent: u64,
    pub marks_sent: u64,
    pub clears: u64,
    pub dropped_frames: u64,
    /// Lateness of each frame against its schedule, in microseconds (bounded sample).
    pub lateness_us: Vec<u32>,
}

/// Mark names carry the utterance number: `u<N>`.
pub fn mark_name(utterance: u64) -> String {
    format!("u{utterance}")
}

pub fn parse_mark(name: &str) -> Option<u64> {
    name.strip_prefix('u')?.parse().ok()
}

/// Runs until the command channel closes or the socket's writer goes away.
pub async fn run(
    stream_sid: String,
    mut commands: mpsc::Receiver<Outbound>,
    socket: mpsc::Sender<Message>,
    keep_lateness: bool,
) -> SenderStats {
    let mut stats = SenderStats::default();
    let writer = MediaWriter::new(&stream_sid);
    let lateness = metrics::histogram!("mokdan_outbound_frame_lateness_seconds");
    let mut queue: VecDeque<Item> = VecDeque::new();
    let mut frames_queued = 0usize;
    let mut drains: Vec<oneshot::Sender<()>> = Vec::new();
    // The schedule: frame n of the current run is due at origin + n·20 ms − LEAD.
    let mut origin: Option<Instant> = None;
    let mut n: u32 = 0;

    loop {
        let due = match (origin, queue.is_empty()) {
            (Some(o), false) => Some((o + FRAME * n).checked_sub(LEAD).unwrap_or(o).max(o)),
            _ => None,
        };
        tokio::select! {
            biased;
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    Outbound::Audio { mut mulaw, .. } => {
                        let room = MAX_QUEUED_FRAMES.saturating_sub(frames_queued) * FRAME_BYTES;
                        if mulaw.len() > room {
                            stats.dropped_frames += frames_in(mulaw.len(), room) as u64;
                            mulaw.truncate(room);
                        }
                        if !mulaw.is_empty() {
                            frames_queued += frames_in(mulaw.len(), 0);
                            queue.push_back(Item::Audio { bytes: mulaw, sent: 0 });
                        }
                        if origin.is_none() {
                            origin = Some(Instant::now());
                            n = 0;
                        }
                    }
                    Outbound::UtteranceEnd { utterance } => {
                        queue.push_back(Item::Mark(mark_name(utterance)));
                        if origin.is_none() {
                            origin = Some(Instant::now());
                            n = 0;
                        }
                    }
                    Outbound::Clear => {
                        if stats.dropped_frames > 0 || frames_queued > 0 || n > 0 {
                            tracing::debug!(stream_sid, dropped = frames_queued, "clear");
                        }
                        queue.clear();
                        frames_queued = 0;
                        origin = None;
                        stats.clears += 1;
                        let clear = ServerMessage::clear(stream_sid.clone()).to_json();
                        if socket.send(Message::Text(clear.into())).await.is_err() {
                            break;
                        }
                    }
                    Outbound::Drain(done) => drains.push(done),
                }
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                let scheduled = due.expect("guarded");
                // Marks go out as soon as the audio before them has.
                while let Some(Item::Mark(_)) = queue.front() {
                    let Some(Item::Mark(name)) = queue.pop_front() else { unreachable!() };
                    stats.marks_sent += 1;
                    let mark = ServerMessage::mark(stream_sid.clone(), name).to_json();
                    if socket.send(Message::Text(mark.into())).await.is_err() {
                        return stats;
                    }
                }
                let frame = match queue.front_mut() {
                    Some(Item::Audio { bytes, sent }) => {
                        let end = (*sent + FRAME_BYTES).min(bytes.len());
                        let mut frame = [audio::mulaw::SILENCE; FRAME_BYTES];
                        frame[..end - *sent].copy_from_slice(&bytes[*sent..end]);
                        *sent = end;
                        if end == bytes.len() {
                            queue.pop_front();
                        }
                        Some(frame)
                    }
                    _ => None,
                };
                if let Some(frame) = frame {
                    frames_queued -= 1;
                    let late = Instant::now().saturating_duration_since(scheduled);
                    lateness.record(late.as_secs_f64());
                    if keep_lateness && stats.lateness_us.len() < 1_000_000 {
                        stats.lateness_us.push(late.as_micros().min(u32::MAX as u128) as u32);
                    }
                    if socket.send(Message::Text(writer.media(&frame).into())).await.is_err() {
                        return stats;
                    }
                    stats.frames_sent += 1;
                    n += 1;
                }
                if queue.is_empty() {
                    origin = None;
                }
            }
        }
        if queue.is_empty() {
            for done in drains.drain(..) {
                let _ = done.send(());
            }
        }
    }
    stats
}
