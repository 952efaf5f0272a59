//! The caller's answers kept as audio during a call without speech-to-text are transcribed
//! by the post-call `transcribe` job once a provider is configured (V7, V10), on both
//! databases: only turns with audio and no text, only files in the turns folder, once.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::ai::{Ai, HEARD};
use common::{Backend, TestApp};
use mokdan::calls::post_call::TRANSCRIBE;
use mokdan::store::calls;

const SID: &str = "CA0123456789abcdef0123456789abcdef";

fn tone(secs: f64) -> Vec<u8> {
    let n = (8000.0 * secs) as usize;
    let pcm: Vec<i16> = (0..n)
        .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
        .collect();
    audio::wav::write_pcm16(8000, &pcm)
}

async fn turn(app: &TestApp, index: i64, text: &str, audio: Option<&str>) {
    sqlx::query(
        "INSERT INTO call_turns (call_sid, turn_index, caller_text, agent_text, heard_text, \
         barged_in, caller_audio_path, created_at) VALUES ($1, $2, $3, 'שאלה?', 'שאלה?', 0, $4, 1)",
    )
    .bind(SID)
    .bind(index)
    .bind(text)
    .bind(audio)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
}

async fn caller_texts(app: &TestApp) -> Vec<String> {
    let rows: Vec<(Option<String>,)> = sqlx::query_as(
        "SELECT caller_text FROM call_turns WHERE call_sid = $1 ORDER BY turn_index",
    )
    .bind(SID)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    rows.into_iter().map(|(t,)| t.unwrap_or_default()).collect()
}

async fn turns_kept_as_audio_are_transcribed_after_the_call(backend: Backend) {
    let ai = Ai::start().await;
    let env = ai.env();
    let app = TestApp::spawn_with(
        backend,
        &[(env[0].0, env[0].1.as_str()), (env[1].0, env[1].1.as_str())],
    )
    .await;
    let data = app.state.settings.data_dir.clone();
    sqlx::query(
        "INSERT INTO call_logs (call_sid, from_number, to_number, direction, status, \
         created_at, updated_at) VALUES ($1, '+972501234567', '+97231234567', 'inbound', \
         'recorded', 1, 1)",
    )
    .bind(SID)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    let turns = data.join("turns");
    std::fs::create_dir_all(&turns).unwrap();
    let kept = turns.join(format!("{SID}-2.wav"));
    std::fs::write(&kept, tone(1.0)).unwrap();
    let outside = data.join(format!("{SID}-3.wav"));
    std::fs::write(&outside, tone(1.0)).unwrap();
    let gone = turns.join(format!("{SID}-4.wav"));
    // 1: the greeting (no audio); 2: audio to transcribe; 3: a file outside the turns
    // folder; 4: a file already cleaned up; 5: heard live (has text).
    turn(&app, 1, "", None).await;
    turn(&app, 2, "", Some(&kept.display().to_string())).await;
    turn(&app, 3, "", Some(&outside.display().to_string())).await;
    turn(&app, 4, "", Some(&gone.display().to_string())).await;
    turn(&app, 5, "כן", Some(&kept.display().to_string())).await;

    let recordings = data.join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    let recording = recordings.join(format!("{SID}.wav"));
    std::fs::write(&recording, tone(2.0)).unwrap();
    let payload = serde_json::json!({ "call_sid": SID, "path": recording.display().to_string() });
    mokdan::jobs::enqueue(&app.state.db, TRANSCRIBE, &payload, Some("transcribe:t1"))
        .await
        .unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while caller_texts(&app).await[1].is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "turn 2 never transcribed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(caller_texts(&app).await, ["", HEARD, "", "", "כן"]);
    let row = calls::by_sid(&app.state.db, SID).await.unwrap().unwrap();
    assert_eq!(row.transcription.as_deref(), Some(HEARD));
    assert_eq!(
        ai.transcriptions.load(Ordering::SeqCst),
        2,
        "the recording and one turn"
    );

    // A rerun of the job sends nothing again.
    mokdan::jobs::enqueue(&app.state.db, TRANSCRIBE, &payload, Some("transcribe:t2"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = mokdan::store::jobs::by_kind(&app.state.db, TRANSCRIBE)
            .await
            .unwrap();
        if jobs.len() == 2 && jobs.iter().all(|j| j.state == "done") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ai.transcriptions.load(Ordering::SeqCst), 2);
    app.shutdown().await.unwrap();
}
dual_test!(turns_kept_as_audio_are_transcribed_after_the_call);
