//! A stand-in for the server side of a call in session tests: it speaks espeak-ng Hebrew
//! as the caller (8 kHz mu-law, 20 ms frames, with a little line noise), confirms
//! playback the way Twilio marks do, and records everything the session sends.
//! In real-time mode it plays the audio at 8 kHz on tokio's clock (use a paused clock) and
//! echoes each mark only when the audio before it has played, as Twilio does.

#![allow(dead_code)]

pub mod openai_stt;

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use voice::session::{SessionHandle, SessionInput, SessionOutput, TurnRecord};

pub const FRAME: usize = 160;

/// Low-level line noise, deterministic.
fn noise(n: usize, seed: &mut u32) -> Vec<i16> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((*seed >> 16) % 61) as i16 - 30
        })
        .collect()
}

/// 8 kHz PCM of espeak-ng saying `text`.
pub async fn speech_pcm(text: &str) -> Vec<i16> {
    voice::tts::espeak::synthesize(text)
        .await
        .expect("espeak-ng")
        .mono_at(8000)
}

/// The caller saying `text`: 200 ms of line noise, the speech, then 1 s of line noise
/// (enough to end the turn), as 20 ms mu-law frames.
pub async fn caller_says(text: &str) -> Vec<Vec<u8>> {
    let mut seed = text.len() as u32;
    let mut pcm = noise(1600, &mut seed);
    for s in speech_pcm(text).await {
        pcm.push(s.saturating_add(noise(1, &mut seed)[0]));
    }
    pcm.extend(noise(8000, &mut seed));
    audio::mulaw::encode(&pcm)
        .chunks(FRAME)
        .map(<[u8]>::to_vec)
        .collect()
}

/// espeak-ng saying `text`, without the silence it puts before and after the words.
pub async fn speech_pcm_trimmed(text: &str) -> Vec<i16> {
    let pcm = speech_pcm(text).await;
    let loud = |s: &i16| s.unsigned_abs() > 300;
    match (pcm.iter().position(loud), pcm.iter().rposition(loud)) {
        (Some(a), Some(b)) => pcm[a..=b].to_vec(),
        _ => Vec::new(),
    }
}

/// The caller saying `parts` with a pause of exactly `gap` between the words of each
/// (line noise throughout), then 1.5 s of line noise: someone dictating a number in groups.
pub async fn caller_pauses_between(parts: &[&str], gap: Duration) -> Vec<Vec<u8>> {
    let mut seed = parts.len() as u32 + 7;
    let mut pcm = noise(1600, &mut seed);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            pcm.extend(noise((gap.as_millis() * 8) as usize, &mut seed));
        }
        for s in speech_pcm_trimmed(part).await {
            pcm.push(s.saturating_add(noise(1, &mut seed)[0]));
        }
    }
    pcm.extend(noise(12_000, &mut seed));
    audio::mulaw::encode(&pcm)
        .chunks(FRAME)
        .map(<[u8]>::to_vec)
        .collect()
}

/// The server's side of one session.
pub struct Call {
    pub h: SessionHandle,
    pub log: Vec<SessionOutput>,
    /// Confirm each utterance as soon as its end arrives (as if played instantly).
    pub auto_play: bool,
    /// With `auto_play`: confirm it only once its audio has played at the real pace.
    pub realtime: bool,
    /// When each output arrived (parallel to `log`).
    pub times: Vec<Instant>,
    /// Each utterance confirmed, and when.
    pub heard: Vec<(u64, Instant)>,
    /// Real-time playback: when the audio received so far will have played.
    play_until: Option<Instant>,
    /// Marks waiting for their audio to play.
    marks: VecDeque<(Instant, u64)>,
    /// Each `Clear`: when it arrived, and (real-time mode) when the audio it dropped
    /// would have finished playing.
    pub clears: Vec<(Instant, Option<Instant>)>,
}

/// Playing time of `bytes` of 8 kHz mu-law.
pub fn play_time(bytes: usize) -> Duration {
    Duration::from_micros(bytes as u64 * 125)
}

impl Call {
    pub fn new(h: SessionHandle) -> Self {
        Self {
            h,
            log: Vec::new(),
            auto_play: true,
            realtime: false,
            times: Vec::new(),
            heard: Vec::new(),
            play_until: None,
            marks: VecDeque::new(),
            clears: Vec::new(),
        }
    }

    /// When the caller will have heard everything received so far (real-time mode).
    pub fn play_until(&self) -> Option<Instant> {
        self.play_until
    }

    async fn confirm(&mut self, utterance: u64) {
        self.heard.push((utterance, Instant::now()));
        let _ = self.h.input.send(SessionInput::Played { utterance }).await;
    }

    async fn take(&mut self, o: SessionOutput) -> SessionOutput {
        let now = Instant::now();
        match (&o, self.auto_play, self.realtime) {
            (SessionOutput::Audio { mulaw, .. }, _, true) => {
                let start = self.play_until.map_or(now, |p| p.max(now));
                self.play_until = Some(start + play_time(mulaw.len()));
            }
            (SessionOutput::UtteranceEnd { utterance }, true, true) => {
                let at = self.play_until.unwrap_or(now).max(now);
                self.marks.push_back((at, *utterance));
            }
            (SessionOutput::UtteranceEnd { utterance }, true, false) => {
                self.confirm(*utterance).await;
            }
            (SessionOutput::Clear, _, _) => {
                self.clears.push((now, self.play_until));
                self.marks.clear();
                self.play_until = None;
            }
            _ => {}
        }
        self.log.push(o.clone());
        self.times.push(now);
        o
    }

    /// The next output; `None` once the session has finished. In real-time mode, marks
    /// whose audio has played are echoed meanwhile.
    pub async fn next(&mut self) -> Option<SessionOutput> {
        let quiet = Instant::now() + Duration::from_secs(120);
        loop {
            let mark_due = self.marks.front().map(|(at, _)| *at);
            tokio::select! {
                biased;
                _ = sleep_until(mark_due.unwrap_or(quiet)), if mark_due.is_some() => {
                    let (_, utterance) = self.marks.pop_front().expect("due");
                    self.confirm(utterance).await;
                }
                o = self.h.output.recv() => return match o {
                    Some(o) => Some(self.take(o).await),
                    None => None,
                },
                _ = sleep_until(quiet) => panic!("the session went quiet"),
            }
        }
    }

    /// Outputs up to and including the first that matches.
    pub async fn until(
        &mut self,
        mut pred: impl FnMut(&SessionOutput) -> bool,
    ) -> Vec<SessionOutput> {
        let mut seen = Vec::new();
        loop {
            let o = self.next().await.expect("session ended early");
            let hit = pred(&o);
            seen.push(o);
            if hit {
                return seen;
            }
        }
    }

    /// Outputs up to the next turn record, and that record.
    pub async fn until_turn(&mut self) -> (Vec<SessionOutput>, TurnRecord) {
        let seen = self.until(|o| matches!(o, SessionOutput::Turn(_))).await;
        let Some(SessionOutput::Turn(t)) = seen.last().cloned() else {
            unreachable!()
        };
        (seen, t)
    }

    /// Sends the caller's frames, reading (and logging) outputs meanwhile.
    pub async fn say(&mut self, frames: &[Vec<u8>]) {
        for f in frames {
            loop {
                tokio::select! {
                    biased;
                    r = self.h.input.send(SessionInput::Audio(f.clone())) => {
                        r.expect("session input closed");
                        break;
                    }
                    Some(o) = self.h.output.recv() => { self.take(o).await; }
                }
            }
        }
    }

    /// Sends the caller's frames at the real pace (one every 20 ms of tokio's clock: use a
    /// paused clock), reading outputs and echoing due marks meanwhile.
    pub async fn say_realtime(&mut self, frames: &[Vec<u8>]) {
        let mut at = Instant::now();
        for f in frames {
            self.say(std::slice::from_ref(f)).await;
            at += Duration::from_millis(20);
            self.wait_until(at).await;
        }
    }

    /// Reads outputs and echoes due marks until `t`.
    pub async fn wait_until(&mut self, t: Instant) {
        loop {
            let mark_due = self.marks.front().map(|(at, _)| *at).filter(|at| *at <= t);
            tokio::select! {
                biased;
                _ = sleep_until(mark_due.unwrap_or(t)), if mark_due.is_some() => {
                    let (_, utterance) = self.marks.pop_front().expect("due");
                    self.confirm(utterance).await;
                }
                o = self.h.output.recv() => match o {
                    Some(o) => { self.take(o).await; }
                    None => return,
                },
                _ = sleep_until(t) => return,
            }
        }
    }

    /// Everything until the session closes its output.
    pub async fn rest(&mut self) -> Vec<SessionOutput> {
        let mut seen = Vec::new();
        while let Some(o) = self.next().await {
            seen.push(o);
        }
        seen
    }

    pub fn turns(&self) -> Vec<TurnRecord> {
        self.log
            .iter()
            .filter_map(|o| match o {
                SessionOutput::Turn(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }
}

pub fn audio_bytes(outputs: &[SessionOutput]) -> usize {
    outputs
        .iter()
        .map(|o| match o {
            SessionOutput::Audio { mulaw, .. } => mulaw.len(),
            _ => 0,
        })
        .sum()
}
