//! The TwiML mokdan answers with, in one place.
//!
//! Every URL is absolute (error 11100), the initial answer has no `<Record>` (it broke
//! streaming) and no `<Say>` (error 13512 for Hebrew): spoken prompts are our own audio.

use std::sync::Arc;

use telephony::twiml::{Connect, Dial, Record, Recording, Response, Start, Stream};

use crate::http::twilio::websocket_base;
use crate::prompts::{Prompts, text};

/// Longest message the fallback records, in seconds.
pub const FALLBACK_MAX_LENGTH: u32 = 120;

/// Connects the call to the media stream, carrying the call id and its token (V1, S3).
pub fn connect_stream(base: &str, call_sid: &str, token: &str) -> Response {
    let stream = Stream::new(format!("{}/ws/twilio-media", websocket_base(base)))
        .parameter("call_id", call_sid)
        .parameter("token", token)
        .status_callback(format!("{base}/webhook/stream_status"));
    Response::new().connect(Connect::new(stream).action(format!("{base}/webhook/stream_ended")))
}

/// Twilio records the whole call from this moment, both sides on their own channels, in
/// the background (`<Start><Recording>`, never `<Record>`, which would take the call over
/// and break the stream); the recording comes to `recording_status` when the call ends (V11).
pub fn record_whole_call(base: &str) -> Start {
    Start::recording(
        Recording::new()
            .status_callback(format!("{base}/webhook/recording_status"))
            .status_callback_event("completed")
            .channels("dual"),
    )
}

/// [`connect_stream`], with the whole call recorded first when `record` (V1, V11).
pub fn answer_call(base: &str, call_sid: &str, token: &str, record: bool) -> Response {
    let stream = connect_stream(base, call_sid, token);
    if !record {
        return stream;
    }
    let mut verbs = vec![record_whole_call(base).into()];
    verbs.extend(stream.verbs);
    Response { verbs }
}

/// The recording fallback: `business`'s prompt (`None` when not known), `<Record>` into `handle_recording`, then hang up (V8).
pub fn fallback(prompts: &Arc<Prompts>, base: &str, business: Option<i64>) -> Response {
    let mut record = Record::new(format!("{base}/webhook/handle_recording"));
    record.max_length = Some(FALLBACK_MAX_LENGTH);
    record.timeout = Some(5);
    record.play_beep = Some(true);
    record.recording_status_callback = Some(format!("{base}/webhook/recording_status"));
    Response::new()
        .play(prompts.url(base, business, text::FALLBACK))
        .record(record)
        .hangup()
}

/// A short spoken apology, then hang up (unknown number, unusable request): no business
/// owns the call, so the prompt is nobody's.
pub fn apology_and_hangup(prompts: &Arc<Prompts>, base: &str) -> Response {
    Response::new()
        .play(prompts.url(base, None, text::UNKNOWN_NUMBER))
        .hangup()
}

/// Thanks the caller for the message (`business`'s prompt) and ends the call.
pub fn goodbye(prompts: &Arc<Prompts>, base: &str, business: Option<i64>) -> Response {
    Response::new()
        .play(prompts.url(base, business, text::GOODBYE))
        .hangup()
}

/// How long a transferred call rings at the business before the caller is offered to
/// leave a message instead.
pub const TRANSFER_RING_SECS: u32 = 25;

/// Hands the caller to the business's `number`; how it went comes to `transfer_ended`.
pub fn transfer(base: &str, number: &str) -> Response {
    Response::new().dial(
        Dial::new(number)
            .timeout(TRANSFER_RING_SECS)
            .action(format!("{base}/webhook/transfer_ended")),
    )
}

pub fn hangup() -> Response {
    Response::new().hangup()
}
