//! `<Record>`: capture the caller, keep the recording, tell the server where it is.
//!
//! This is mokdan's guaranteed fallback (the caller always leaves a message), so the
//! sim follows Twilio closely: a beep, capture until maxLength, `timeout` seconds of
//! silence, a finishOnKey digit or hang-up; silence trimmed; the recording served by
//! the sim's REST API (Basic auth); the action POSTed with RecordingUrl, RecordingSid,
//! RecordingDuration and Digits, and its TwiML followed unless the caller is gone.

use std::time::Instant;

use audio::FRAME_BYTES;
use telephony::twiml::Record;

use super::{Ctx, Flow, urls, whole_secs};
use crate::report::TimelineKind;

const BEEP_FRAMES: usize = 25;

fn beep() -> Vec<u8> {
    let samples: Vec<i16> = (0..BEEP_FRAMES * FRAME_BYTES)
        .map(|i| {
            let t = i as f32 / audio::SAMPLE_RATE as f32;
            ((t * 1000.0 * std::f32::consts::TAU).sin() * 8000.0) as i16
        })
        .collect();
    audio::mulaw::encode(&samples)
}

pub(super) async fn run(ctx: &mut Ctx, rec: &Record, doc_url: &str) -> Flow {
    let max_frames = u64::from(rec.max_length.unwrap_or(3600)) * 50;
    let timeout_frames = u64::from(rec.timeout.unwrap_or(5)) * 50;
    let keys = rec
        .finish_on_key
        .clone()
        .unwrap_or_else(|| "1234567890*#".into());
    let trim = rec.trim.as_deref() != Some("do-not-trim");
    ctx.journal.log(
        TimelineKind::Verb,
        format!(
            "<Record maxLength={} timeout={}>",
            max_frames / 50,
            timeout_frames / 50
        ),
    );
    let beep = if rec.play_beep.unwrap_or(true) {
        beep()
    } else {
        Vec::new()
    };
    let mut beep_frames = beep.chunks(FRAME_BYTES);
    let mut frames: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut silent_run = 0u64;
    let mut digits = String::new();
    let mut hung_up = false;
    let started = Instant::now();
    let period = ctx.shared.cfg.verb_frame();
    let interrupted = ctx
        .tick_loop(period, |ctx, t, now| {
            if let Some(b) = beep_frames.next() {
                ctx.ear.hear(b, now);
                ctx.note_heard(b);
                return !t.hang_up;
            }
            frames.push((t.frame.clone(), t.speech));
            silent_run = if t.speech { 0 } else { silent_run + 1 };
            if let Some(d) = t.dtmf {
                ctx.journal
                    .log(TimelineKind::Dtmf, format!("caller presses {d}"));
                if keys.contains(d) {
                    digits.push(d);
                    return false;
                }
            }
            if t.hang_up {
                hung_up = true;
                digits = "hangup".into();
                return false;
            }
            let len = frames.len() as u64;
            !(len >= max_frames || (timeout_frames > 0 && silent_run >= timeout_frames))
        })
        .await;
    if let Some(flow) = interrupted {
        // A REST update mid-recording discards it, as on Twilio.
        return flow;
    }
    let (first, last) = match (
        frames.iter().position(|f| f.1),
        frames.iter().rposition(|f| f.1),
    ) {
        (Some(a), Some(b)) if trim => (a, b + 1),
        (Some(_), Some(_)) => (0, frames.len()),
        _ => {
            ctx.journal.log(
                TimelineKind::Note,
                format!(
                    "nothing was said in {:.1} s: no recording, no action request",
                    started.elapsed().as_secs_f64()
                ),
            );
            return if hung_up {
                Flow::CallerHungUp
            } else {
                Flow::Next
            };
        }
    };
    let mulaw: Vec<u8> = frames[first..last]
        .iter()
        .flat_map(|f| f.0.iter().copied())
        .collect();
    let info = ctx.store_recording(&mulaw, "RecordVerb");
    if let Some(cb) = &rec.recording_status_callback {
        let url = urls::resolve(doc_url, cb);
        ctx.recording_callback(url, &info);
    }
    let Some(action) = &rec.action else {
        return if hung_up {
            Flow::CallerHungUp
        } else {
            Flow::Next
        };
    };
    let url = urls::resolve(doc_url, action);
    let method = rec.method.clone().unwrap_or_else(|| "POST".into());
    let extra = vec![
        ("RecordingUrl".into(), info.url.clone()),
        ("RecordingSid".into(), info.sid.clone()),
        (
            "RecordingDuration".into(),
            whole_secs(info.duration).to_string(),
        ),
        ("Digits".into(), digits),
    ];
    if hung_up {
        ctx.call_status = "completed";
    }
    let doc = super::exec::fetch_twiml(ctx, &url, &method, extra).await;
    match doc {
        _ if hung_up => Flow::CallerHungUp,
        Some(doc) => Flow::Goto { doc, url },
        None => Flow::Hangup,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn beep_is_half_a_second_of_tone() {
        let b = super::beep();
        assert_eq!(b.len(), 4000);
        assert!(
            b.iter()
                .any(|&x| audio::mulaw::decode_sample(x).abs() > 7000)
        );
    }
}
