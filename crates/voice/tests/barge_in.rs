//! Barge-in, timed (V7): when the caller talks over the agent, playback must stop within
//! one 20 ms frame of the session's decision. On tokio's paused clock the caller speaks at
//! the real pace while the agent's audio plays at the real pace, so the decision (kept
//! with the turn as `barge_in_ms`), the `Clear` and the last audio handed over can be
//! compared exactly.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Call, caller_says, play_time};
use tokio::time::Instant;
use voice::AgentContext;
use voice::agent::ScriptedAgent;
use voice::session::{self, Providers, SessionConfig, SessionInput, SessionOutput};
use voice::tts::espeak::EspeakTts;

/// One frame of Twilio's audio.
const FRAME: Duration = Duration::from_millis(20);

fn ctx() -> AgentContext {
    AgentContext {
        business_name: "מספרת רותי".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn barge_in_stops_playback_within_one_frame_of_the_decision() {
    let providers = Providers {
        stt: None,
        tts: Arc::new(EspeakTts::new()),
        agent: Arc::new(ScriptedAgent::new()),
    };
    // Everything this call says is rendered first: no real I/O on the paused clock.
    session::prewarm(&providers, &ctx(), Duration::from_secs(20)).await;
    let frames = caller_says("רגע, סליחה, יש לי שאלה").await;
    tokio::time::pause();
    let mut call = Call::new(session::spawn(SessionConfig::default(), providers, ctx()));
    call.realtime = true;
    call.until(|o| matches!(o, SessionOutput::Audio { .. }))
        .await;
    let first_audio_at = *call.times.last().unwrap();
    // The caller lets the greeting play a little, then talks over it. Only the start of
    // the caller's speech is sent: the turn never ends, so no reply is made.
    call.wait_until(first_audio_at + Duration::from_millis(300))
        .await;
    call.say_realtime(&frames[..frames.len().min(60)]).await;
    call.wait_until(Instant::now() + Duration::from_millis(200))
        .await;
    call.h.input.send(SessionInput::Hangup).await.unwrap();
    call.rest().await;

    let record = call
        .turns()
        .into_iter()
        .find(|t| t.barged_in)
        .expect("the caller barged in on the greeting");
    assert_eq!(call.clears.len(), 1, "one clear: {:?}", call.clears);
    let (clear_at, dropped_until) = call.clears[0];
    // The turn's times count from when it started; the greeting's first audio left at
    // `first_frame_out_ms` (both in whole milliseconds).
    let t0 = first_audio_at - Duration::from_millis(record.first_frame_out_ms.unwrap().into());
    let decided_at = t0 + Duration::from_millis(record.barge_in_ms.expect("decision time").into());
    let ms = Duration::from_millis(1);
    assert!(
        decided_at <= clear_at + ms,
        "the decision precedes the clear"
    );
    assert!(
        clear_at <= decided_at + FRAME,
        "clear {:?} after the decision",
        clear_at - decided_at
    );
    // The test means something: there was greeting still to play, and it was dropped.
    let dropped_until = dropped_until.expect("audio was playing at the clear");
    assert!(
        dropped_until > clear_at + Duration::from_millis(500),
        "only {:?} of greeting was left",
        dropped_until.saturating_duration_since(clear_at)
    );
    // The agent audio that leaves after the decision: what was still handed over after
    // it, plus what kept playing until the clear stopped it. At most one frame.
    let clear_index = call
        .log
        .iter()
        .position(|o| *o == SessionOutput::Clear)
        .unwrap();
    let handed_after: usize = call.log[clear_index..]
        .iter()
        .map(|o| match o {
            SessionOutput::Audio { mulaw, .. } => mulaw.len(),
            _ => 0,
        })
        .sum();
    let played_after = clear_at
        .min(dropped_until)
        .saturating_duration_since(decided_at);
    let leaked = play_time(handed_after) + played_after;
    assert!(
        leaked <= FRAME,
        "{leaked:?} of agent audio after the barge-in decision"
    );
    // The greeting record keeps what was confirmed heard, which is not all of it.
    assert_ne!(record.heard_text, record.agent_text);
}
