//! One call over the Realtime API.
//!
//! The greeting plays from the cache the moment the session starts, while the socket opens
//! (at most [`CONNECT_TIMEOUT`](super::CONNECT_TIMEOUT)); the model is then configured and
//! told the greeting was said. The caller's frames go to the model as they arrive; the
//! model's mu-law goes to the caller unchanged, one 20 ms frame per utterance, so each frame
//! gets its own Twilio mark and the marks that come back say, to the frame, how much of each
//! of the model's items the caller heard. When the caller starts speaking over the agent,
//! the caller's side is cleared at once, the response is cancelled and the item truncated at
//! the heard millisecond, so neither the model nor the stored transcript keeps words the
//! caller never heard.
//!
//! A socket that does not open, an `error` event or a close mid-call ends in the cached
//! apology and the recording fallback, once. A silent caller is prompted, then told goodbye
//! ([`super::silence`]).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::{Bytes, BytesMut};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::connect::{self, Socket};
use super::silence::Silence;
use super::turn::Turn;
use super::{RealtimeConfig, events, tools};
use crate::provider::{AgentAction, AgentContext};
use crate::session::{
    APOLOGY, Providers, SILENCE_GOODBYE, SILENCE_PROMPT, SessionInput, SessionOutput, ToolCall,
    TurnRecord, cache,
};

/// 20 ms of 8 kHz mu-law.
const FRAME: usize = 160;
const FRAME_MS: u32 = 20;
/// Caller audio kept while the socket opens (3 s).
const MAX_EARLY_FRAMES: usize = 150;
/// Longest wait for a fixed phrase not yet cached.
const PHRASE_TIMEOUT: Duration = Duration::from_secs(6);
/// Errors that are races of a barge-in, not failures of the service.
const BENIGN_ERRORS: &[&str] = &[
    "response_cancel_not_active",
    "conversation_already_has_active_response",
];

/// A frame sent to the caller, awaiting its mark.
struct Mark {
    utterance: u64,
    /// The model's item the frame belongs to (`None`: a cached phrase).
    item: Option<String>,
    /// Milliseconds of that item up to the end of this frame.
    end_ms: u32,
}

/// Milliseconds of audio heard `since` ms after a frame's mark came back: the next frame
/// started playing then, and each whole frame after it, up to the one playing now.
fn heard_since_mark(since: u32) -> u32 {
    (since / FRAME_MS + 1) * FRAME_MS
}

/// After the current response: what the call does.
enum Ending {
    Goodbye,
    Transfer(String),
}

struct Call {
    providers: Providers,
    ctx: AgentContext,
    out: mpsc::Sender<SessionOutput>,
    sink: Option<SplitSink<Socket, Message>>,
    next_utterance: u64,
    played_upto: u64,
    marks: VecDeque<Mark>,
    /// The last of the model's items the caller heard, how far, and when its mark came
    /// back (the frame after it has been playing since).
    heard: Option<(String, u32, Instant)>,
    /// The item whose audio is arriving, its ms sent, and a partial frame.
    item: Option<(String, u32)>,
    carry: BytesMut,
    response: Option<String>,
    cancelled: HashSet<String>,
    /// Function outputs were sent: ask for a response once the current one is done.
    wants_response: bool,
    ending: Option<Ending>,
    turn: Option<Turn>,
    /// Between the service's `speech_started` and `speech_stopped`.
    caller_speaking: bool,
    silence: Silence,
    stopped: bool,
}

pub(super) async fn run(
    cfg: Arc<RealtimeConfig>,
    providers: Providers,
    ctx: AgentContext,
    out: mpsc::Sender<SessionOutput>,
    mut input: mpsc::Receiver<SessionInput>,
) {
    let started = Instant::now();
    let opening = {
        let cfg = cfg.clone();
        tokio::spawn(async move { connect::open(&cfg).await })
    };
    let mut call = Call {
        providers,
        ctx,
        out,
        sink: None,
        next_utterance: 0,
        played_upto: 0,
        marks: VecDeque::new(),
        heard: None,
        item: None,
        carry: BytesMut::new(),
        response: None,
        cancelled: HashSet::new(),
        wants_response: false,
        ending: None,
        turn: None,
        caller_speaking: false,
        silence: Silence::new(cfg.silence_prompt_after, cfg.silence_hangup_after),
        stopped: false,
    };

    // The greeting, from the cache, at once.
    let greeting = call.providers.agent.greeting(&call.ctx);
    match cache::phrase(call.providers.tts.as_ref(), &greeting, PHRASE_TIMEOUT).await {
        Ok(audio) => {
            call.play(audio, None, 0).await;
            let ms = started.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
            call.emit(SessionOutput::Turn(TurnRecord {
                agent_text: greeting.clone(),
                heard_text: greeting.clone(),
                first_frame_out_ms: Some(ms),
                ..Default::default()
            }))
            .await;
        }
        Err(e) => tracing::warn!(error = %e, "no greeting audio"),
    }

    // The socket, while the greeting plays; the caller's first words are kept meanwhile.
    let mut early: Vec<Vec<u8>> = Vec::new();
    tokio::pin!(opening);
    let socket = loop {
        tokio::select! {
            opened = &mut opening => break opened.unwrap_or_else(|e| Err(crate::ProviderError::Protocol(e.to_string()))),
            msg = input.recv() => match msg {
                None | Some(SessionInput::Hangup) => {
                    call.emit(SessionOutput::End { reason: "hangup".into() }).await;
                    return;
                }
                Some(SessionInput::Audio(frame)) => {
                    if early.len() < MAX_EARLY_FRAMES {
                        early.push(frame);
                    }
                }
                Some(SessionInput::Played { utterance }) => call.on_played(utterance),
                Some(SessionInput::Dtmf(_)) => {}
            },
        }
    };
    let socket = match socket {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "Realtime socket did not open");
            return call.fail(format!("realtime_connect: {e}")).await;
        }
    };
    let (sink, mut stream) = socket.split();
    call.sink = Some(sink);
    let instructions = events::instructions(&call.ctx, SystemTime::now());
    let update = events::session_update(&cfg, &call.ctx, &instructions);
    if !call.send(&update).await || !call.send(&events::said(&greeting)).await {
        return call.fail("realtime_send".into()).await;
    }
    for frame in early {
        call.append(&frame).await;
    }

    // One timer, moved when the deadline moves (not one per 20 ms frame).
    let timer = tokio::time::sleep_until(call.silence.deadline());
    tokio::pin!(timer);
    while !call.stopped {
        let deadline = call.silence_deadline();
        if let Some(d) = deadline
            && timer.deadline() != d
        {
            timer.as_mut().reset(d);
        }
        tokio::select! {
            biased;
            msg = input.recv() => match msg {
                None | Some(SessionInput::Hangup) => {
                    call.finish_turn().await;
                    call.emit(SessionOutput::End { reason: "hangup".into() }).await;
                    call.stopped = true;
                }
                Some(SessionInput::Audio(frame)) => {
                    if !call.append(&frame).await {
                        call.fail("realtime_closed".into()).await;
                    }
                }
                Some(SessionInput::Played { utterance }) => {
                    call.on_played(utterance);
                    call.maybe_finish().await;
                }
                Some(SessionInput::Dtmf(_)) => {}
            },
            event = stream.next() => {
                on_message(&mut call, &mut stream, event).await;
            }
            _ = &mut timer, if deadline.is_some() => call.on_silence().await,
        }
    }
    if let Some(mut sink) = call.sink.take() {
        let _ = sink.close().await;
    }
}

async fn on_message(
    call: &mut Call,
    _stream: &mut SplitStream<Socket>,
    event: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) {
    let text = match event {
        Some(Ok(Message::Text(t))) => t,
        Some(Ok(Message::Close(_))) | None => {
            return call.fail("realtime_closed".into()).await;
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "Realtime socket failed");
            return call.fail("realtime_closed".into()).await;
        }
        Some(Ok(_)) => return,
    };
    let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else {
        tracing::warn!("Realtime sent something that is not JSON");
        return;
    };
    call.on_event(&event).await;
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

impl Call {
    async fn emit(&mut self, o: SessionOutput) {
        if self.out.send(o).await.is_err() {
            self.stopped = true;
        }
    }

    async fn send(&mut self, event: &Value) -> bool {
        self.send_text(event.to_string()).await
    }

    async fn send_text(&mut self, text: String) -> bool {
        match self.sink.as_mut() {
            Some(sink) => sink.send(Message::Text(text.into())).await.is_ok(),
            None => false,
        }
    }

    async fn append(&mut self, frame: &[u8]) -> bool {
        let b64 = B64.encode(frame);
        self.send_text(events::append(&b64)).await
    }

    /// Queues audio for the caller as one utterance, with its mark.
    async fn play(&mut self, mulaw: Bytes, item: Option<String>, end_ms: u32) {
        self.next_utterance += 1;
        let utterance = self.next_utterance;
        self.marks.push_back(Mark {
            utterance,
            item,
            end_ms,
        });
        self.emit(SessionOutput::Audio { utterance, mulaw }).await;
        self.emit(SessionOutput::UtteranceEnd { utterance }).await;
    }

    /// Whether audio the caller has not finished hearing is queued or playing.
    fn audible(&self) -> bool {
        self.next_utterance > self.played_upto
    }

    fn on_played(&mut self, utterance: u64) {
        if utterance <= self.played_upto {
            return;
        }
        self.played_upto = utterance;
        while let Some(m) = self.marks.front() {
            if m.utterance > utterance {
                break;
            }
            let m = self.marks.pop_front().expect("front");
            if let Some(item) = m.item {
                self.heard = Some((item, m.end_ms, Instant::now()));
            }
        }
        if !self.audible() {
            self.silence.agent_heard();
        }
    }

    /// When the caller's silence calls for the next step; `None` while the agent is
    /// audible, a response is being made, the call is ending or the caller speaks.
    fn silence_deadline(&self) -> Option<Instant> {
        let busy = self.audible()
            || self.response.is_some()
            || self.wants_response
            || self.ending.is_some()
            || self.caller_speaking;
        (!busy).then(|| self.silence.deadline())
    }

    /// The caller said nothing for too long: the prompt, or the goodbye and the end.
    async fn on_silence(&mut self) {
        if self.silence.prompted {
            self.say(SILENCE_GOODBYE).await;
            self.emit(SessionOutput::End {
                reason: "silence".into(),
            })
            .await;
            self.stopped = true;
            return;
        }
        self.silence.prompted = true;
        self.silence.prompt_playing = true;
        self.say(SILENCE_PROMPT).await;
        // The model knows what the caller heard.
        if !self.send(&events::said(SILENCE_PROMPT)).await {
            self.fail("realtime_closed".into()).await;
        }
    }

    /// A cached phrase, recorded as a turn of its own.
    async fn say(&mut self, text: &str) {
        self.finish_turn().await;
        let t0 = Instant::now();
        match cache::phrase(self.providers.tts.as_ref(), text, PHRASE_TIMEOUT).await {
            Ok(audio) => self.play(audio, None, 0).await,
            Err(e) => tracing::warn!(error = %e, "no audio for a fixed phrase"),
        }
        let ms = t0.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        self.emit(SessionOutput::Turn(TurnRecord {
            agent_text: text.to_string(),
            heard_text: text.to_string(),
            first_frame_out_ms: Some(ms),
            ..Default::default()
        }))
        .await;
    }

    fn turn(&mut self) -> &mut Turn {
        self.turn.get_or_insert_with(|| Turn::new(Instant::now()))
    }

    /// Stores the turn as soon as it is whole: the caller's words transcribed, the answer
    /// generated (no function result pending) and all of its audio heard.
    async fn maybe_finish(&mut self) {
        let whole =
            self.turn.as_ref().is_some_and(|t| {
                !t.caller_text.is_empty() && (t.audio_ms > 0 || !t.tools.is_empty())
            }) && self.response.is_none()
                && !self.wants_response
                && !self.marks.iter().any(|m| m.item.is_some());
        if whole {
            self.finish_turn().await;
        }
    }

    async fn finish_turn(&mut self) {
        if let Some(turn) = self.turn.take() {
            self.emit(SessionOutput::Turn(turn.record())).await;
        }
    }

    /// The apology, then the recording fallback; the session is over.
    async fn fail(&mut self, reason: String) {
        if self.stopped {
            return;
        }
        tracing::warn!(%reason, "Realtime call failed: apology and recording fallback");
        self.finish_turn().await;
        match cache::phrase(self.providers.tts.as_ref(), APOLOGY, PHRASE_TIMEOUT).await {
            Ok(audio) => self.play(audio, None, 0).await,
            Err(e) => tracing::warn!(error = %e, "no apology audio"),
        }
        self.emit(SessionOutput::Fallback { reason }).await;
        self.stopped = true;
    }

    async fn on_event(&mut self, e: &Value) {
        match str_of(e, "type") {
            "input_audio_buffer.speech_started" => {
                self.caller_speaking = true;
                self.silence.caller_spoke();
                self.on_speech_started().await
            }
            "input_audio_buffer.speech_stopped" => {
                self.caller_speaking = false;
                self.silence.caller_spoke();
                self.finish_turn().await;
                self.turn = Some(Turn::new(Instant::now()));
            }
            "conversation.item.input_audio_transcription.completed" => {
                let text = str_of(e, "transcript").trim().to_string();
                let turn = self.turn();
                let ms = turn.ms();
                if !turn.caller_text.is_empty() {
                    turn.caller_text.push(' ');
                }
                turn.caller_text.push_str(&text);
                turn.stt_ms.get_or_insert(ms);
                self.maybe_finish().await;
            }
            "response.created" => {
                let id = e["response"]["id"].as_str().unwrap_or_default().to_string();
                self.response = Some(id);
                if let Some(turn) = self.turn.as_mut()
                    && !turn.agent_text.is_empty()
                    && !turn.agent_text.ends_with(' ')
                {
                    turn.agent_text.push(' ');
                }
            }
            "response.output_audio.delta" => {
                let response = str_of(e, "response_id");
                if self.cancelled.contains(response) {
                    return;
                }
                let item = str_of(e, "item_id").to_string();
                match B64.decode(str_of(e, "delta")) {
                    Ok(bytes) => self.on_audio(item, &bytes, false).await,
                    Err(_) => tracing::warn!("Realtime audio delta is not base64"),
                }
            }
            "response.output_audio.done" if !self.cancelled.contains(str_of(e, "response_id")) => {
                let item = str_of(e, "item_id").to_string();
                self.on_audio(item, &[], true).await;
            }
            // The transcript as it is spoken: nothing of a cancelled response after the
            // barge-in reaches the stored turn.
            "response.output_audio_transcript.delta" => {
                if self.cancelled.contains(str_of(e, "response_id")) {
                    return;
                }
                let delta = str_of(e, "delta").to_string();
                self.turn().agent_text.push_str(&delta);
            }
            "response.function_call_arguments.done" => {
                let (call_id, name, arguments) = (
                    str_of(e, "call_id").to_string(),
                    str_of(e, "name").to_string(),
                    str_of(e, "arguments").to_string(),
                );
                self.on_tool(&call_id, &name, &arguments).await;
            }
            "response.done" => {
                self.on_response_done().await;
                self.maybe_finish().await;
            }
            "error" => {
                let code = e["error"]["code"].as_str().unwrap_or_default();
                if BENIGN_ERRORS.contains(&code) {
                    tracing::debug!(code, "Realtime: benign error");
                    return;
                }
                let kind = e["error"]["type"].as_str().unwrap_or("error");
                tracing::warn!(kind, code, "Realtime error event");
                self.fail(format!("realtime_error: {kind} {code}")).await;
            }
            _ => {}
        }
    }

    /// The model's audio for the caller, in frames, each with its mark.
    async fn on_audio(&mut self, item: String, bytes: &[u8], done: bool) {
        let same = self.item.as_ref().is_some_and(|(i, _)| *i == item);
        if !same {
            self.carry.clear();
            self.item = Some((item.clone(), 0));
        }
        if !bytes.is_empty() {
            let turn = self.turn();
            let ms = turn.ms();
            turn.first_audio_ms.get_or_insert(ms);
        }
        self.carry.extend_from_slice(bytes);
        while self.carry.len() >= FRAME || (done && !self.carry.is_empty()) {
            let n = self.carry.len().min(FRAME);
            let frame = self.carry.split_to(n).freeze();
            let end_ms = {
                let (_, ms) = self.item.as_mut().expect("item");
                *ms += FRAME_MS;
                *ms
            };
            let turn = self.turn();
            let ms = turn.ms();
            turn.first_frame_ms.get_or_insert(ms);
            turn.audio_ms += FRAME_MS;
            self.play(frame, Some(item.clone()), end_ms).await;
        }
    }

    async fn on_speech_started(&mut self) {
        if !self.audible() {
            return;
        }
        // Barge-in: the caller's side first, at once.
        self.emit(SessionOutput::Clear).await;
        let unheard = self.marks.iter().filter(|m| m.item.is_some()).count() as u32 * FRAME_MS;
        // The item playing, and how much of it was sent.
        let playing = self.marks.front().and_then(|m| m.item.clone()).map(|item| {
            let sent = self
                .marks
                .iter()
                .filter(|m| m.item.as_deref() == Some(item.as_str()))
                .map(|m| m.end_ms)
                .max()
                .unwrap_or(0);
            (item, sent)
        });
        self.played_upto = self.next_utterance;
        self.marks.clear();
        self.carry.clear();
        if let Some(id) = self.response.take() {
            self.cancelled.insert(id);
            self.send(&events::response_cancel()).await;
        }
        if let Some((item, sent_ms)) = playing {
            // Confirmed by the marks, plus the frames played since the last one came back
            // (Twilio plays in real time, whole frames: the one playing now is heard to its
            // end, as the `clear` arrives; never beyond what was sent).
            let heard = match &self.heard {
                Some((i, ms, at)) if *i == item => {
                    let since = at.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
                    ms.saturating_add(heard_since_mark(since)).min(sent_ms)
                }
                _ => 0,
            };
            self.send(&events::truncate(&item, heard)).await;
        }
        self.item = None;
        if let Some(turn) = self.turn.as_mut() {
            let ms = turn.ms();
            turn.heard_ms = Some(turn.audio_ms.saturating_sub(unheard));
            turn.barge_in_ms = Some(ms);
        }
        // The caller took the floor: a pending goodbye or transfer waits for the model.
        self.wants_response = false;
    }

    async fn on_tool(&mut self, call_id: &str, name: &str, arguments: &str) {
        let outcome = tools::run_any(&self.ctx, name, arguments).await;
        tracing::info!(tool = name, ok = outcome.ok, "Realtime tool call");
        if let Some(action) = &outcome.action {
            match action {
                AgentAction::EndCall => self.ending = Some(Ending::Goodbye),
                AgentAction::Transfer { .. } if outcome.ok => {
                    if let Some(number) = self.ctx.transfer_number.clone() {
                        self.ending = Some(Ending::Transfer(number));
                    }
                }
                _ => {}
            }
            self.emit(SessionOutput::Action(action.clone())).await;
        }
        self.turn().tools.push(ToolCall {
            name: name.to_string(),
            arguments: arguments.to_string(),
            output: outcome.output.clone(),
            ok: outcome.ok,
        });
        if self
            .send(&events::function_output(call_id, &outcome.output))
            .await
        {
            // A goodbye already spoken needs no answer; otherwise the model answers with
            // the result.
            let spoke = self.turn.as_ref().is_some_and(|t| t.audio_ms > 0);
            self.wants_response = self.ending.is_none() || !spoke;
        }
    }

    async fn on_response_done(&mut self) {
        self.response = None;
        if self.wants_response {
            self.wants_response = false;
            if !self.send(&events::response_create()).await {
                self.fail("realtime_closed".into()).await;
            }
            return;
        }
        match self.ending.take() {
            Some(Ending::Goodbye) => {
                self.finish_turn().await;
                self.emit(SessionOutput::End {
                    reason: "agent_end_call".into(),
                })
                .await;
                self.stopped = true;
            }
            Some(Ending::Transfer(number)) => {
                self.finish_turn().await;
                self.emit(SessionOutput::Transfer { number }).await;
                self.stopped = true;
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::heard_since_mark;

    #[test]
    fn the_frame_playing_when_the_caller_speaks_counts_whole() {
        assert_eq!(
            heard_since_mark(0),
            20,
            "the next frame began with the mark"
        );
        assert_eq!(heard_since_mark(19), 20);
        assert_eq!(heard_since_mark(20), 40);
        assert_eq!(heard_since_mark(95), 100);
    }
}
