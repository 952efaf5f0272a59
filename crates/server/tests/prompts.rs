//! Spoken prompts (V2): made by the configured text-to-speech (here OpenAI, stood in by a
//! local server), one per business and text, served at `/static/tts/<name>` with GET and
//! HEAD, caching headers and an ETag; espeak-ng, then the bundled recording, stand in when
//! the configured voice fails, and the real voice comes back once it recovers.

mod common;

use std::sync::atomic::Ordering;

use common::ai::Ai;
use common::twilio::{AUTH_TOKEN, call_params, new_call_sid, params};
use common::{Backend, TestApp, crm};
use mokdan::prompts::text;
use telephony::twiml::Verb;

const NUMBER_A: &str = "+97231234567";
const NUMBER_B: &str = "+97239876543";
const CALLER: &str = "+972501234567";

async fn app(backend: Backend, ai: &Ai) -> TestApp {
    let env = ai.env();
    TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("MOKDAN_TTS", "openai"),
            (env[0].0, env[0].1.as_str()),
            (env[1].0, env[1].1.as_str()),
        ],
    )
    .await
}

/// A call to `number` whose stream never started: the fallback prompt's URL.
async fn fallback_url(app: &TestApp, number: &str) -> String {
    let sid = new_call_sid();
    app.twiml("/webhook/incoming_call", &call_params(&sid, CALLER, number))
        .await;
    let t = app
        .twiml("/webhook/stream_ended", &call_params(&sid, CALLER, number))
        .await;
    let [Verb::Play(play), Verb::Record(_), Verb::Hangup] = t.verbs.as_slice() else {
        panic!("expected the recording fallback: {:?}", t.verbs)
    };
    play.url.clone()
}

/// The prompt as served, with its source and caching headers.
async fn fetch(app: &TestApp, url: &str) -> (String, String, String, Vec<u8>) {
    let r = app.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.headers()["content-type"], "audio/wav");
    let header = |n: &str| r.headers()[n].to_str().unwrap().to_string();
    let (source, cache, etag) = (
        header("x-prompt-source"),
        header("cache-control"),
        header("etag"),
    );
    (source, cache, etag, r.bytes().await.unwrap().to_vec())
}

/// Zero crossings per second of an 8 kHz mu-law WAV: twice the tone's frequency.
fn crossings_per_second(wav: &[u8]) -> f32 {
    let wav = audio::wav::read(wav).expect("a readable WAV");
    assert_eq!(wav.sample_rate, 8000);
    assert_eq!(wav.channels, 1);
    let s = &wav.samples;
    let crossings = s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f32 * 8000.0 / s.len() as f32
}

async fn prompts_come_from_the_configured_voice_per_business(backend: Backend) {
    let ai = Ai::start().await;
    let app = app(backend, &ai).await;
    let a = crm::add_business(&app, "מרפאת כהן", NUMBER_A).await;
    crm::add_business(&app, "מספרת לוי", NUMBER_B).await;

    let url_a = fallback_url(&app, NUMBER_A).await;
    let url_b = fallback_url(&app, NUMBER_B).await;
    assert_eq!(
        url_a,
        fallback_url(&app, NUMBER_A).await,
        "stable per business"
    );
    assert_ne!(url_a, url_b, "one prompt per business");
    let name_a = url_a.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        name_a,
        app.state.calls.prompts.name_for(Some(a), text::FALLBACK)
    );
    assert!(
        name_a.starts_with("p-") && name_a.is_ascii(),
        "the name says nothing of the text: {name_a}"
    );

    let (source, cache, etag, wav) = fetch(&app, &url_a).await;
    assert_eq!(source, "provider");
    assert!(
        cache.contains("immutable") && cache.contains("max-age"),
        "{cache}"
    );
    assert_eq!(etag, format!("\"{}\"", name_a.trim_end_matches(".wav")));
    // The stand-in's 440 Hz tone, resampled to 8 kHz: not espeak-ng, not a recording.
    let rate = crossings_per_second(&wav);
    assert!((840.0..=920.0).contains(&rate), "{rate} crossings/s");
    let (_, _, _, wav_b) = fetch(&app, &url_b).await;
    assert_eq!(wav_b, wav, "the same voice says the same text");

    // Made once per business and text, then served from the data dir.
    let again = fetch(&app, &url_a).await;
    assert_eq!(again.3, wav);
    let file = app.dir.path().join("data").join("tts").join(&name_a);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        wav,
        "cached under the data dir"
    );
    // (The live call's own phrases are asked of the same voice too; only prompts count here.)
    let asked = |t: &str| ai.spoken.lock().unwrap().iter().filter(|s| *s == t).count();
    assert_eq!(asked(text::FALLBACK), 2, "{:?}", ai.spoken);

    // HEAD: the same headers, no body; a revalidation: 304.
    let head = app.http.head(&url_a).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], "audio/wav");
    assert_eq!(head.headers()["etag"].to_str().unwrap(), etag);
    assert!(head.bytes().await.unwrap().is_empty());
    let cached = app
        .http
        .get(&url_a)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);

    // The goodbye after a message is the business's prompt too, in the same voice.
    let sid = new_call_sid();
    app.twiml(
        "/webhook/incoming_call",
        &call_params(&sid, CALLER, NUMBER_A),
    )
    .await;
    let rec = params(&[
        ("CallSid", &sid),
        ("RecordingUrl", "https://api.twilio.com/rec/RE1"),
        ("RecordingSid", "RE0123456789abcdef0123456789abcdef"),
        ("RecordingDuration", "7"),
    ]);
    let t = app.twiml("/webhook/handle_recording", &rec).await;
    let [Verb::Play(bye), Verb::Hangup] = t.verbs.as_slice() else {
        panic!("expected the goodbye: {:?}", t.verbs)
    };
    assert!(
        bye.url
            .ends_with(&app.state.calls.prompts.name_for(Some(a), text::GOODBYE))
    );
    assert_eq!(fetch(&app, &bye.url).await.0, "provider");
    assert_eq!(asked(text::GOODBYE), 1);
}
dual_test!(prompts_come_from_the_configured_voice_per_business);

async fn a_failing_voice_falls_back_then_recovers(backend: Backend) {
    let ai = Ai::start().await;
    ai.speech_fails.store(true, Ordering::SeqCst);
    let app = app(backend, &ai).await;
    crm::add_business(&app, "מרפאת כהן", NUMBER_A).await;
    let url = fallback_url(&app, NUMBER_A).await;
    let name = url.rsplit('/').next().unwrap().to_string();

    // The configured voice fails: espeak-ng (when installed), else the bundled recording.
    let (source, cache, etag, wav) = fetch(&app, &url).await;
    let bundled = mokdan::prompts::bundled(text::FALLBACK).unwrap();
    if voice::tts::espeak::available() {
        assert_eq!(source, "espeak");
        assert_ne!(wav, bundled);
    } else {
        assert_eq!(source, "bundled");
        assert_eq!(wav, bundled);
    }
    assert_eq!(audio::wav::read(&wav).unwrap().sample_rate, 8000);
    assert_eq!(cache, "no-cache", "a stand-in voice is not cached for good");
    assert_ne!(etag, format!("\"{}\"", name.trim_end_matches(".wav")));
    assert!(
        ai.spoken
            .lock()
            .unwrap()
            .iter()
            .any(|t| t == text::FALLBACK),
        "the provider was asked first"
    );
    let file = app.dir.path().join("data").join("tts").join(&name);
    assert!(
        !file.exists(),
        "a stand-in is never cached under the real voice's name"
    );

    // The provider is back: the same URL now plays its voice, cached from then on.
    ai.speech_fails.store(false, Ordering::SeqCst);
    let (source, cache, _, wav) = fetch(&app, &url).await;
    assert_eq!(source, "provider");
    assert!(cache.contains("immutable"));
    let rate = crossings_per_second(&wav);
    assert!((840.0..=920.0).contains(&rate), "{rate} crossings/s");
    assert_eq!(std::fs::read(&file).unwrap(), wav);
}
dual_test!(a_failing_voice_falls_back_then_recovers);

async fn a_new_voice_makes_new_prompts(backend: Backend) {
    let ai = Ai::start().await;
    let openai = app(backend, &ai).await;
    let espeak = TestApp::spawn_with(
        backend,
        &[("TWILIO_AUTH_TOKEN", AUTH_TOKEN), ("MOKDAN_TTS", "espeak")],
    )
    .await;
    let a = crm::add_business(&openai, "מרפאת כהן", NUMBER_A).await;
    let b = crm::add_business(&espeak, "מרפאת כהן", NUMBER_A).await;
    assert_eq!(a, b, "the same business in both");
    let (url_openai, url_espeak) = (
        fallback_url(&openai, NUMBER_A).await,
        fallback_url(&espeak, NUMBER_A).await,
    );
    let name = |u: &str| u.rsplit('/').next().unwrap().to_string();
    assert_ne!(
        name(&url_openai),
        name(&url_espeak),
        "the voice is in the name"
    );
    let (source, _, _, wav) = fetch(&espeak, &url_espeak).await;
    if voice::tts::espeak::available() {
        assert_eq!(source, "provider", "espeak-ng is the configured voice here");
        let rate = crossings_per_second(&wav);
        assert!(!(840.0..=920.0).contains(&rate), "not the stand-in's tone");
    } else {
        assert_eq!(source, "bundled");
    }
    assert_eq!(
        ai.spoken
            .lock()
            .unwrap()
            .iter()
            .filter(|t| *t == text::FALLBACK)
            .count(),
        1
    );
}
dual_test!(a_new_voice_makes_new_prompts);
