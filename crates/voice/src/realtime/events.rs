//! The client events mokdan sends to the Realtime service, as OpenAI's GA schema defines
//! them (`RealtimeClientEvent` in OpenAI's OpenAPI document and Python SDK; a test checks
//! every event sent against the SDK's types). Built as JSON values: the few fields mokdan
//! uses, nothing the service would have to ignore.

use serde_json::{Value, json};

use super::{RealtimeConfig, TRANSCRIPTION_MODEL, clock, tools};
use crate::provider::AgentContext;

/// The business's Hebrew instructions: the cascade's system prompt (name, hours, knowledge,
/// intake questions, the direction and purpose of an outbound call, transfers), today's
/// date and time in Israel, and how to speak on the phone.
pub fn instructions(ctx: &AgentContext, now: std::time::SystemTime) -> String {
    let mut p = crate::openai::system_prompt(ctx);
    p.push_str(&clock::israel_now_text(now));
    p.push_str(
        "\nדבר/י בעברית בלבד, בקצב טבעי ובקול חם. משפט הפתיחה כבר נאמר ללקוח; אל תחזור/י עליו.\n\
         אחרי שקראת לכלי, חכה/י לתוצאה שלו ואמור/י ללקוח מה קרה; אם הכלי נכשל, התנצל/י והצע/י שנחזור אליו.\n",
    );
    p
}

/// `session.update`: instructions, mu-law both ways, turn detection, transcription of the
/// caller in Hebrew, and the tools.
pub fn session_update(cfg: &RealtimeConfig, ctx: &AgentContext, instructions: &str) -> Value {
    let mut output = json!({ "format": { "type": "audio/pcmu" } });
    if let Some(voice) = &cfg.voice {
        output["voice"] = json!(voice);
    }
    json!({
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": cfg.model,
            "output_modalities": ["audio"],
            "instructions": instructions,
            "audio": {
                "input": {
                    "format": { "type": "audio/pcmu" },
                    "transcription": { "model": TRANSCRIPTION_MODEL, "language": "he" },
                    "turn_detection": { "type": cfg.turn_detection.as_str() },
                },
                "output": output,
            },
            "tools": tools::declarations(ctx),
            "tool_choice": "auto",
        },
    })
}

/// `input_audio_buffer.append` of one frame of the caller's mu-law, base64.
pub fn append(b64: &str) -> String {
    // Written by hand: this goes out 50 times a second per call.
    format!(r#"{{"type":"input_audio_buffer.append","audio":"{b64}"}}"#)
}

/// Tells the model what the agent already said (the greeting played from the cache).
pub fn said(text: &str) -> Value {
    json!({
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "assistant",
            "content": [{ "type": "output_text", "text": text }],
        },
    })
}

/// The result of a function call.
pub fn function_output(call_id: &str, output: &str) -> Value {
    json!({
        "type": "conversation.item.create",
        "item": {
            "type": "function_call_output",
            "call_id": call_id,
            "output": output,
        },
    })
}

/// `session.update` of a transcription session (the cascade's streaming recogniser):
/// the caller's mu-law in, `model` in `language`, and no turn detection — the cascade's
/// own end of turn commits each utterance.
pub fn transcription_session_update(model: &str, language: &str) -> Value {
    json!({
        "type": "session.update",
        "session": {
            "type": "transcription",
            "audio": {
                "input": {
                    "format": { "type": "audio/pcmu" },
                    "transcription": { "model": model, "language": language },
                    "turn_detection": null,
                },
            },
        },
    })
}

/// Ends the utterance in the input buffer: the service transcribes it.
pub fn commit() -> Value {
    json!({ "type": "input_audio_buffer.commit" })
}

/// Drops the input buffer's audio.
pub fn clear() -> Value {
    json!({ "type": "input_audio_buffer.clear" })
}

pub fn response_create() -> Value {
    json!({ "type": "response.create" })
}

pub fn response_cancel() -> Value {
    json!({ "type": "response.cancel" })
}

/// Drops what the caller did not hear of an assistant item's audio (and its transcript).
pub fn truncate(item_id: &str, audio_end_ms: u32) -> Value {
    json!({
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": 0,
        "audio_end_ms": audio_end_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_mu_law_both_ways_with_hebrew_transcription() {
        let mut cfg = RealtimeConfig::new("gpt-realtime", "k");
        cfg.voice = Some("marin".into());
        let ctx = AgentContext {
            business_name: "מספרת רותי".into(),
            ..Default::default()
        };
        let e = session_update(&cfg, &ctx, "x");
        let s = &e["session"];
        assert_eq!(s["audio"]["input"]["format"]["type"], "audio/pcmu");
        assert_eq!(s["audio"]["output"]["format"]["type"], "audio/pcmu");
        assert_eq!(s["audio"]["output"]["voice"], "marin");
        assert_eq!(s["audio"]["input"]["transcription"]["language"], "he");
        assert_eq!(
            s["audio"]["input"]["turn_detection"]["type"],
            "semantic_vad"
        );
        let append: Value = serde_json::from_str(&append("AAE=")).unwrap();
        let t = transcription_session_update("gpt-4o-transcribe", "he");
        assert_eq!(t["session"]["type"], "transcription");
        assert_eq!(
            t["session"]["audio"]["input"]["format"]["type"],
            "audio/pcmu"
        );
        assert!(t["session"]["audio"]["input"]["turn_detection"].is_null());
        assert_eq!(append["audio"], "AAE=");
    }

    #[test]
    fn instructions_carry_the_business_and_the_day() {
        let ctx = AgentContext {
            business_name: "מוסך הצפון".into(),
            system_prompt: Some("פתוח עד שתיים בשישי".into()),
            ..Default::default()
        };
        let p = instructions(&ctx, std::time::SystemTime::UNIX_EPOCH);
        assert!(p.contains("מוסך הצפון"));
        assert!(p.contains("פתוח עד שתיים בשישי"));
        assert!(p.contains("1.1.1970"), "{p}");
    }
}
