//! The paced sender: one task per call that feeds the agent's audio to Twilio in real time.
//!
//! Twilio plays whatever it is sent, and buffers the excess. If we pushed a whole reply at
//! once, a barge-in `clear` would have seconds to flush and the caller's experience would
//! depend on Twilio's buffer. So audio leaves in [`CHUNK`]s against a clock, at most
//! [`LEAD`] ahead of real time, a `mark` follows each utterance's audio at once so we learn
//! from the echoes what the caller has actually heard, and `clear` empties our queue and
//! Twilio's at once. Lateness against the schedule is measured on every chunk for the
//! metrics and the bench.
//!
//! This runs for every call all the time, so a chunk costs one allocation (its JSON text,
//! written by [`MediaWriter`]) and queued audio is shared, not copied: fixed phrases
//! arrive as slices of the process-wide cached rendering.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::ws::Message;
use bytes::Bytes;
use telephony::media::{MediaWriter, ServerMessage};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use audio::frame::FRAME_BYTES;

/// One frame's duration (the unit of Twilio's audio and of our queue).
pub const FRAME: Duration = Duration::from_millis(20);
/// Frames per `media` message. Twilio plays payloads of any length; 40 ms messages halve
/// the messages, socket writes and task wake-ups per call against 20 ms ones, and Twilio
/// still holds at most [`LEAD`] plus one chunk.
pub const FRAMES_PER_CHUNK: usize = 2;
/// One `media` message's duration.
pub const CHUNK: Duration = Duration::from_millis(20 * FRAMES_PER_CHUNK as u64);
const CHUNK_BYTES: usize = FRAME_BYTES * FRAMES_PER_CHUNK;
/// How far ahead of real time audio may be sent, so Twilio's buffer stays shallow.
pub const LEAD: Duration = Duration::from_millis(40);
/// The most audio queued per call (60 s); beyond it, audio is dropped and logged.
pub const MAX_QUEUED_FRAMES: usize = 3_000;
const MAX_QUEUED_BYTES: usize = MAX_QUEUED_FRAMES * FRAME_BYTES;

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

/// Queued audio is kept in the pieces it came in, cut into messages only as it is sent:
/// a per-message allocation would cost more than the audio itself.
enum Item {
    Audio { bytes: Bytes, sent: usize },
    Mark(String),
}

/// Fills `buf` with the next chunk of queued audio: up to [`CHUNK_BYTES`], never past a
/// mark, padded with silence to whole frames. Returns its length (0: no audio in front).
fn next_chunk(queue: &mut VecDeque<Item>, buf: &mut [u8; CHUNK_BYTES]) -> usize {
    let mut len = 0;
    while len < CHUNK_BYTES {
        let Some(Item::Audio { bytes, sent }) = queue.front_mut() else {
            break;
        };
        let take = (CHUNK_BYTES - len).min(bytes.len() - *sent);
        buf[len..len + take].copy_from_slice(&bytes[*sent..*sent + take]);
        len += take;
        *sent += take;
        if *sent == bytes.len() {
            queue.pop_front();
        }
    }
    let padded = len.next_multiple_of(FRAME_BYTES);
    buf[len..padded].fill(audio::mulaw::SILENCE);
    padded
}

/// Figures the sender keeps, shared with the socket for the stop log and the bench.
#[derive(Debug, Default, Clone)]
pub struct SenderStats {
    /// `media` messages sent (each up to [`CHUNK`]).
    pub chunks_sent: u64,
    /// 20 ms frames of audio sent.
    pub frames_sent: u64,
    pub marks_sent: u64,
    pub clears: u64,
    pub dropped_frames: u64,
    /// Lateness of each chunk against its schedule, in microseconds (bounded sample).
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
    let mut bytes_queued = 0usize;
    let mut drains: Vec<oneshot::Sender<()>> = Vec::new();
    let mut chunk = [audio::mulaw::SILENCE; CHUNK_BYTES];
    // The schedule: audio `n` frames into the current run is due at origin + n·20 ms − LEAD.
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
                        let room = MAX_QUEUED_BYTES.saturating_sub(bytes_queued);
                        if mulaw.len() > room {
                            stats.dropped_frames += (mulaw.len() - room).div_ceil(FRAME_BYTES) as u64;
                            mulaw.truncate(room);
                        }
                        if !mulaw.is_empty() {
                            bytes_queued += mulaw.len();
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
                        if bytes_queued > 0 {
                            tracing::debug!(stream_sid, dropped_bytes = bytes_queued, "clear");
                        }
                        queue.clear();
                        bytes_queued = 0;
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
                // A mark goes out as soon as the audio before it has (here: marks with no
                // audio before them in this run).
                if send_marks(&mut queue, &stream_sid, &socket, &mut stats).await.is_err() {
                    return stats;
                }
                let len = next_chunk(&mut queue, &mut chunk);
                if len > 0 {
                    bytes_queued = bytes_queued.saturating_sub(len);
                    let late = Instant::now().saturating_duration_since(scheduled);
                    lateness.record(late.as_secs_f64());
                    if keep_lateness && stats.lateness_us.len() < 1_000_000 {
                        stats.lateness_us.push(late.as_micros().min(u32::MAX as u128) as u32);
                    }
                    let media = writer.media(&chunk[..len]);
                    if socket.send(Message::Text(media.into())).await.is_err() {
                        return stats;
                    }
                    let frames = (len / FRAME_BYTES) as u32;
                    stats.chunks_sent += 1;
                    stats.frames_sent += u64::from(frames);
                    n += frames;
                    if send_marks(&mut queue, &stream_sid, &socket, &mut stats).await.is_err() {
                        return stats;
                    }
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

/// Sends the marks at the front of the queue.
async fn send_marks(
    queue: &mut VecDeque<Item>,
    stream_sid: &str,
    socket: &mpsc::Sender<Message>,
    stats: &mut SenderStats,
) -> Result<(), ()> {
    while let Some(Item::Mark(_)) = queue.front() {
        let Some(Item::Mark(name)) = queue.pop_front() else {
            unreachable!()
        };
        stats.marks_sent += 1;
        let mark = ServerMessage::mark(stream_sid, name).to_json();
        socket
            .send(Message::Text(mark.into()))
            .await
            .map_err(|_| ())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use telephony::media::parse_server_message;

    /// What the sender wrote, with when (on the paused clock, from `t0`).
    async fn written(
        rx: &mut mpsc::Receiver<Message>,
        t0: Instant,
    ) -> Vec<(Duration, ServerMessage)> {
        let mut out = Vec::new();
        while let Ok(Some(Message::Text(t))) =
            tokio::time::timeout(Duration::from_secs(5), rx.recv()).await
        {
            out.push((t0.elapsed(), parse_server_message(&t).unwrap()));
        }
        out
    }

    fn audio(frames: usize, byte: u8) -> Outbound {
        Outbound::Audio {
            utterance: 1,
            mulaw: Bytes::from(vec![byte; frames * FRAME_BYTES]),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn audio_leaves_in_paced_chunks_with_the_mark_right_after() {
        let (tx, commands) = mpsc::channel(16);
        let (socket, mut rx) = mpsc::channel(64);
        let t0 = Instant::now();
        let task = tokio::spawn(run("MZ1".into(), commands, socket, true));
        // 5 frames in two pieces: chunks span pieces, the last is one frame.
        tx.send(audio(3, 1)).await.unwrap();
        tx.send(audio(2, 2)).await.unwrap();
        tx.send(Outbound::UtteranceEnd { utterance: 1 })
            .await
            .unwrap();
        let sent = written(&mut rx, t0).await;
        drop(tx);
        let stats = task.await.unwrap();
        let media: Vec<(Duration, Vec<u8>)> = sent
            .iter()
            .filter_map(|(at, m)| match m {
                ServerMessage::Media { media, .. } => Some((*at, media.decode().unwrap())),
                _ => None,
            })
            .collect();
        let lens: Vec<usize> = media.iter().map(|(_, m)| m.len()).collect();
        assert_eq!(lens, vec![320, 320, 160]);
        assert_eq!(&media[1].1[..160], &[1; 160][..]);
        assert_eq!(&media[1].1[160..], &[2; 160][..]);
        // Chunk k is due at k·40 ms − LEAD: two at once, then one every 40 ms.
        let times: Vec<u128> = media.iter().map(|(at, _)| at.as_millis()).collect();
        assert_eq!(times, vec![0, 0, 40]);
        // The mark follows the last audio at once, not a chunk later.
        let (mark_at, mark) = sent.last().unwrap();
        assert_eq!(*mark, ServerMessage::mark("MZ1", "u1"));
        assert_eq!(mark_at.as_millis(), 40);
        assert_eq!(
            (stats.chunks_sent, stats.frames_sent, stats.marks_sent),
            (3, 5, 1)
        );
        assert!(
            stats.lateness_us.iter().all(|&l| l < 2_000),
            "{:?}",
            stats.lateness_us
        );
    }

    #[tokio::test(start_paused = true)]
    async fn clear_drops_what_is_queued_and_tells_twilio() {
        let (tx, commands) = mpsc::channel(16);
        let (socket, mut rx) = mpsc::channel(64);
        let t0 = Instant::now();
        let task = tokio::spawn(run("MZ1".into(), commands, socket, false));
        tx.send(audio(50, 1)).await.unwrap();
        tx.send(Outbound::UtteranceEnd { utterance: 1 })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send(Outbound::Clear).await.unwrap();
        let (done, drained) = oneshot::channel();
        tx.send(Outbound::Drain(done)).await.unwrap();
        drained.await.unwrap();
        drop(tx);
        let stats = task.await.unwrap();
        let sent = written(&mut rx, t0).await;
        assert_eq!(sent.last().unwrap().1, ServerMessage::clear("MZ1"));
        let chunks = sent
            .iter()
            .filter(|(_, m)| matches!(m, ServerMessage::Media { .. }));
        // Up to 100 ms (plus the lead) had been sent; nothing after the clear, no mark.
        assert!(chunks.count() <= 4);
        assert_eq!(stats.marks_sent, 0);
        assert_eq!(stats.clears, 1);
    }
}
