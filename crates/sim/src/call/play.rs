//! `<Play>`: fetch the audio as Twilio does and play it for its real length.
//!
//! The seeds' production bugs were a relative Play URL (11100) and prompts served
//! with the wrong status or type; the sim fetches the file, insists on 200 and an
//! audio Content-Type, decodes it and makes the caller hear it, at the sim's speed.

use std::time::{Duration, Instant};

use audio::FRAME_BYTES;
use telephony::twiml::Play;

use super::{Ctx, Flow, urls};
use crate::error::codes;
use crate::report::TimelineKind;
use crate::webhook::{WEBHOOK_TIMEOUT, short};

/// `loop="0"` means "until the call ends"; the sim stops after this many.
const ENDLESS_LOOPS: u32 = 1000;

pub(super) async fn run(ctx: &mut Ctx, play: &Play, doc_url: &str) -> Flow {
    let url = urls::resolve(doc_url, &play.url);
    ctx.journal
        .log(TimelineKind::Verb, format!("<Play> {}", short(&url)));
    let Some(mulaw) = fetch(ctx, &url).await else {
        return Flow::Next;
    };
    let loops = match play.loop_ {
        Some(0) => ENDLESS_LOOPS,
        Some(n) => n,
        None => 1,
    };
    let frames: Vec<Vec<u8>> = audio::chunk_mulaw_padded(&mulaw, FRAME_BYTES);
    if frames.is_empty() {
        return Flow::Next;
    }
    let total = frames.len() * loops as usize;
    let mut played = 0usize;
    ctx.journal.log(
        TimelineKind::AgentAudio,
        format!(
            "playing {:.1} s of audio{}",
            mulaw.len() as f64 / 8000.0,
            if loops > 1 {
                format!(" x{loops}")
            } else {
                String::new()
            }
        ),
    );
    let period = ctx.shared.cfg.verb_frame();
    ctx.tick_loop(period, |ctx, _, now| {
        let frame = &frames[played % frames.len()];
        ctx.ear.hear(frame, now);
        ctx.note_heard(frame);
        played += 1;
        played < total
    })
    .await
    .unwrap_or(Flow::Next)
}

/// GETs the audio; `None` (with the error recorded) when Twilio could not play it.
async fn fetch(ctx: &mut Ctx, url: &str) -> Option<Vec<u8>> {
    let started = Instant::now();
    let resp = match ctx
        .shared
        .http
        .get(url)
        .timeout(WEBHOOK_TIMEOUT)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            let code = if e.is_timeout() {
                codes::HTTP_TIMEOUT
            } else {
                codes::HTTP_RETRIEVAL_FAILURE
            };
            ctx.journal
                .error(code, format!("<Play> GET {} failed: {e}", short(url)));
            return None;
        }
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = resp.bytes().await.unwrap_or_default();
    ctx.journal.log(
        TimelineKind::Webhook,
        format!(
            "GET {} -> {status} {content_type} ({} bytes) in {} ms",
            short(url),
            body.len(),
            started.elapsed().as_millis()
        ),
    );
    if status != 200 {
        ctx.journal.error(
            codes::HTTP_RETRIEVAL_FAILURE,
            format!("<Play> GET {} answered HTTP {status}", short(url)),
        );
        return None;
    }
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.starts_with("audio/") {
        ctx.journal.error(
            codes::INVALID_CONTENT_TYPE,
            format!("<Play> {} is {mime:?}, not audio", short(url)),
        );
        return None;
    }
    if mime == "audio/basic" || mime == "audio/x-mulaw" || mime == "audio/ulaw" {
        return Some(body.to_vec());
    }
    match crate::utterance::wav_to_mulaw(&body) {
        Ok(m) => Some(m),
        Err(e) => {
            // Twilio also plays MP3; the sim cannot decode it, so it stays silent
            // for an estimated length (128 kbit/s) rather than failing the call.
            if mime == "audio/mpeg" || mime == "audio/mp3" {
                let secs = body.len() as f64 / 16_000.0;
                ctx.journal.log(
                    TimelineKind::Note,
                    format!("MP3 not decoded; {secs:.1} s of silence stands in"),
                );
                let n = Duration::from_secs_f64(secs).as_millis() as usize * 8;
                return Some(vec![audio::mulaw::SILENCE; n]);
            }
            ctx.journal.error(
                codes::INVALID_CONTENT_TYPE,
                format!("<Play> {} is not playable audio: {e}", short(url)),
            );
            None
        }
    }
}
