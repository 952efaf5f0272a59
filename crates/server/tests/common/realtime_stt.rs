//! The Realtime stand-in as a transcription session (`?intent=transcription`), following
//! OpenAI's published GA events: `session.created`, `session.updated` for a
//! `transcription` session, the input buffer filled by `input_audio_buffer.append` and
//! emptied by `input_audio_buffer.clear`, and each `input_audio_buffer.commit` answered by
//! `input_audio_buffer.committed` then, a moment later, the transcript's
//! `conversation.item.input_audio_transcription.delta` and `.completed`. The n-th commit is
//! transcribed as the n-th reply's `heard`. A commit of less than 100 ms of audio gets the
//! service's `input_audio_buffer_commit_empty` error. `Fault::CloseAfter(n)` closes the
//! socket at commit n + 1 without answering it.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::realtime::{Fault, Realtime};

/// From the commit to the transcript.
const TRANSCRIBE: Duration = Duration::from_millis(80);

struct Conn {
    rt: Realtime,
    socket: WebSocket,
    seq: u64,
    buffer: Vec<u8>,
    appends: usize,
    last_item: Option<String>,
}

impl Conn {
    fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_t{:04}", self.seq)
    }

    async fn send(&mut self, mut v: Value) -> bool {
        v["event_id"] = json!(self.id("event"));
        self.socket
            .send(Message::Text(v.to_string().into()))
            .await
            .is_ok()
    }

    async fn on_client(&mut self, v: Value) -> bool {
        let kind = v["type"].as_str().unwrap_or_default().to_string();
        if kind != "input_audio_buffer.append" || self.appends < 3 {
            self.rt.received.lock().unwrap().push(v.clone());
        }
        match kind.as_str() {
            "session.update" => {
                let mut session = v["session"].clone();
                if session["type"] != "transcription" {
                    return self.send(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "invalid_value", "message": "Only transcription sessions here", "param": "session.type"}})).await;
                }
                session["object"] = json!("realtime.transcription_session");
                session["id"] = json!("sess_transcribe");
                self.send(json!({"type": "session.updated", "session": session}))
                    .await
            }
            "input_audio_buffer.append" => {
                self.appends += 1;
                let audio = B64
                    .decode(v["audio"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                self.buffer.extend(audio);
                true
            }
            "input_audio_buffer.clear" => {
                self.buffer.clear();
                self.send(json!({"type": "input_audio_buffer.cleared"}))
                    .await
            }
            "input_audio_buffer.commit" => self.commit().await,
            _ => true,
        }
    }

    async fn commit(&mut self) -> bool {
        // pcmu: 8 bytes a millisecond.
        if self.buffer.len() < 800 {
            return self.send(json!({"type": "error", "error": {"type": "invalid_request_error", "code": "input_audio_buffer_commit_empty", "message": "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio."}})).await;
        }
        let n = {
            let mut commits = self.rt.commits.lock().unwrap();
            commits.push(self.buffer.len());
            commits.len() - 1
        };
        self.buffer.clear();
        if matches!(self.rt.fault, Fault::CloseAfter(k) if n >= k) {
            return false;
        }
        let item = self.id("item");
        let previous = self.last_item.replace(item.clone());
        let heard = self
            .rt
            .replies
            .get(n)
            .map(|r| r.heard.clone())
            .unwrap_or_default();
        if !self
            .send(json!({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item}))
            .await
        {
            return false;
        }
        tokio::time::sleep(TRANSCRIBE).await;
        self.send(json!({"type": "conversation.item.input_audio_transcription.delta", "item_id": item, "content_index": 0, "delta": heard}))
            .await
            && self
                .send(json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": item, "content_index": 0, "transcript": heard, "usage": {"type": "duration", "seconds": 1}}))
                .await
    }
}

pub async fn serve(socket: WebSocket, rt: Realtime) {
    let mut c = Conn {
        rt,
        socket,
        seq: 0,
        buffer: Vec::new(),
        appends: 0,
        last_item: None,
    };
    let created = json!({"type": "session.created", "session": {"type": "transcription", "object": "realtime.transcription_session", "id": "sess_transcribe"}});
    if !c.send(created).await {
        return;
    }
    while let Some(Ok(msg)) = c.socket.recv().await {
        let Message::Text(t) = msg else { continue };
        let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
            break;
        };
        if !c.on_client(v).await {
            break;
        }
    }
    let _ = c.socket.send(Message::Close(None)).await;
}
