//! Property-based fuzzing of the server's own parsers of untrusted input (S1, V12, W2).
//!
//! - The Twilio webhook extractor (`TwilioRequest`): any body, content type and query never
//!   panics, and any form Twilio could send comes back parameter for parameter, signed.
//! - Twilio webhook routes and the Meta webhook through the real router: whatever arrives,
//!   never a 500 (Twilio and Meta retry 5xx for hours).
//! - Phone numbers: never panic; the result is always E.164; parsing is idempotent; every
//!   Israeli local form means the same number as its E.164 form.
//! - Meta's JSON: any bytes or JSON shape never panics, and what it yields is well formed.
//!
//! The app runs in-process (no socket) on a SQLite file, so hundreds of cases take seconds.
//! `MOKDAN_FUZZ_CASES=N` raises every case count.

mod common;

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRequest;
use http::{Request, StatusCode};
use mokdan::domain::Phone;
use mokdan::http::twilio::{MAX_WEBHOOK_BODY, TwilioRequest};
use mokdan::whatsapp::meta;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "fuzz-auth-token-0123456789";
const APP_SECRET: &str = "fuzz-meta-app-secret";
const BASE: &str = "https://calls.example.com";

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("MOKDAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Two apps on one runtime: one checking signatures, one in development mode without.
struct World {
    rt: tokio::runtime::Runtime,
    signed: (mokdan::AppState, Router),
    open: (mokdan::AppState, Router),
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // In the target dir (cleaned with it), replaced on each run.
        let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz_inputs");
        let _ = std::fs::remove_dir_all(&root);
        let build = |name: &str, vars: &[(&str, &str)]| {
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let mut env: std::collections::HashMap<String, String> = [
                (
                    "DATABASE_URL".to_string(),
                    format!("sqlite://{}/fuzz.db", dir.display()),
                ),
                (
                    "MOKDAN_DATA_DIR".into(),
                    dir.join("data").display().to_string(),
                ),
                ("PUBLIC_BASE_URL".into(), BASE.into()),
            ]
            .into();
            for (k, v) in vars {
                env.insert(k.to_string(), v.to_string());
            }
            let settings = mokdan::Settings::from_map(&env).unwrap();
            let app = rt.block_on(mokdan::App::build(settings)).unwrap();
            (app.state.clone(), app.router())
        };
        let signed = build(
            "signed",
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("META_APP_SECRET", APP_SECRET),
            ],
        );
        let open = build("open", &[]);
        rt.block_on(async {
            let phone = Phone::parse("+97231234567").unwrap();
            for (state, _) in [&signed, &open] {
                mokdan::store::businesses::create(&state.db, "עסק", &phone)
                    .await
                    .unwrap();
            }
        });
        World { rt, signed, open }
    })
}

fn webhook(
    path_and_query: &str,
    content_type: &str,
    body: Vec<u8>,
    sig: Option<&str>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri(path_and_query)
        .header("content-type", content_type);
    if let Some(sig) = sig {
        b = b.header("x-twilio-signature", sig);
    }
    b.body(Body::from(body)).unwrap()
}

fn extract(state: &mokdan::AppState, req: Request<Body>) -> Result<TwilioRequest, StatusCode> {
    world()
        .rt
        .block_on(TwilioRequest::from_request(req, &state.calls))
        .map_err(|r| r.status())
}

fn is_e164(s: &str) -> bool {
    let digits = &s.as_bytes()[1.min(s.len())..];
    s.starts_with('+')
        && (8..=15).contains(&digits.len())
        && digits.iter().all(u8::is_ascii_digit)
        && digits[0] != b'0'
}

/// Form values as Twilio sends them: ASCII, Hebrew, emoji, reserved characters, empty.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,30}",
        "[א-ת +&=%]{0,16}",
        any::<String>(),
        Just(String::new())
    ]
}

fn form() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (prop_oneof!["[A-Za-z]{1,16}", any::<String>()], value()),
        0..16,
    )
}

fn encode(params: &[(String, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn form_parser_takes_any_bytes(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            "[%&=+a-zA-Z0-9]{0,200}".prop_map(String::into_bytes),
        ],
        content_type in prop_oneof![
            Just("application/x-www-form-urlencoded"),
            Just("application/json"),
            Just("text/plain"),
            Just("application/x-www-form-urlencoded; charset=utf-8"),
        ],
        query in prop_oneof![Just(String::new()), "[%&=+a-zA-Z0-9]{0,40}".prop_map(|q| format!("?{q}"))],
        sig in prop_oneof![Just(None), "[A-Za-z0-9+/=]{0,30}".prop_map(Some)],
    ) {
        let w = world();
        let path = format!("/webhook/incoming_call{query}");
        // Without a token every body is read, however odd.
        let open = extract(&w.open.0, webhook(&path, content_type, body.clone(), sig.as_deref()));
        prop_assert!(open.is_ok(), "{open:?}");
        // With one, nothing unsigned or wrongly signed gets through.
        let signed = extract(&w.signed.0, webhook(&path, content_type, body, sig.as_deref()));
        prop_assert_eq!(signed.err(), Some(StatusCode::FORBIDDEN));
    }

    #[test]
    fn signed_forms_round_trip(form in form(), query in form()) {
        let w = world();
        let query = if query.is_empty() { String::new() } else { format!("?{}", encode(&query[..query.len().min(4)])) };
        let path = format!("/webhook/call_status{query}");
        let sig = telephony::signature::compute(TOKEN, &format!("{BASE}{path}"), &form);
        let body = encode(&form).into_bytes();
        let req = extract(&w.signed.0, webhook(&path, "application/x-www-form-urlencoded", body, Some(&sig)))
            .unwrap_or_else(|s| panic!("a correctly signed form was refused with {s}"));
        prop_assert_eq!(&req.url, &format!("{BASE}{path}"));
        // Query parameters first, then the form's, each exactly as sent.
        let from_query = req.params.len() - form.len();
        prop_assert_eq!(&req.params[from_query..], &form[..]);
        for (k, v) in &form {
            if let Some(got) = req.get(k) {
                // `get` answers the first value, trimmed; never something that was not sent.
                prop_assert!(req.params.iter().any(|(k2, v2)| k2 == k && v2.trim() == got), "{k}={v}");
            }
        }
    }

    #[test]
    fn twilio_webhooks_never_answer_500(
        route in prop::sample::select(vec![
            "incoming_call", "outbound_call", "call_status", "stream_status",
            "stream_ended", "handle_recording", "recording_status", "transfer_ended",
        ]),
        form in prop::collection::vec(
            (
                prop::sample::select(vec![
                    "CallSid", "From", "To", "CallStatus", "RecordingUrl", "RecordingSid",
                    "RecordingDuration", "RecordingStatus", "StreamSid", "StreamEvent",
                    "StreamError", "Direction", "CallDuration", "ErrorCode", "AccountSid",
                ]).prop_map(str::to_string),
                prop_oneof![
                    value(),
                    Just("+97231234567".to_string()),
                    "CA[0-9a-f]{32}",
                    "https?://[a-z.]{1,12}/[ -~]{0,20}",
                    "-?[0-9]{1,20}",
                ],
            ),
            0..10,
        ),
        signed in any::<bool>(),
    ) {
        let w = world();
        let path = format!("/webhook/{route}");
        let (router, sig) = if signed {
            (&w.signed.1, Some(telephony::signature::compute(TOKEN, &format!("{BASE}{path}"), &form)))
        } else {
            (&w.open.1, None)
        };
        let req = webhook(&path, "application/x-www-form-urlencoded", encode(&form).into_bytes(), sig.as_deref());
        let status = w.rt.block_on(router.clone().oneshot(req)).unwrap().status();
        prop_assert!(!status.is_server_error(), "{route}: {status} for {form:?}");
    }
}

#[test]
fn oversized_webhook_bodies_are_413() {
    let w = world();
    let body = vec![b'a'; MAX_WEBHOOK_BODY + 1];
    let r = extract(
        &w.open.0,
        webhook(
            "/webhook/incoming_call",
            "application/x-www-form-urlencoded",
            body,
            None,
        ),
    );
    assert_eq!(r.err(), Some(StatusCode::PAYLOAD_TOO_LARGE));
}

/// Israeli national numbers: `0` + a two-digit mobile prefix (`05X`) or a one-digit area code.
fn israeli_local() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        ("5[0-9]", "[0-9]{7}").prop_map(|(p, n)| (format!("0{p}{n}"), format!("+972{p}{n}"))),
        ("[2-489]", "[0-9]{7}").prop_map(|(a, n)| (format!("0{a}{n}"), format!("+972{a}{n}"))),
        ("7[0-9]", "[0-9]{7}").prop_map(|(p, n)| (format!("0{p}{n}"), format!("+972{p}{n}"))),
    ]
}

/// Writes a digit string the ways people type it: dashes, spaces, dots, brackets, RLM marks.
fn decorate(digits: &str, seps: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        out.push(c);
        match seps.get(i).copied().unwrap_or(0) % 8 {
            1 => out.push('-'),
            2 => out.push(' '),
            3 => out.push('.'),
            4 => out.push('\u{200f}'),
            _ => {}
        }
    }
    out
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn phone_parsing_never_panics_and_yields_e164(raw in prop_oneof![
        any::<String>(),
        "[+0-9 ()\\-.]{0,24}",
        "(whatsapp:)?\\+?(00)?(972)?0?[0-9]{0,14}",
    ]) {
        if let Ok(p) = Phone::parse(&raw) {
            prop_assert!(is_e164(p.as_str()), "{raw:?} -> {p}");
            // Normalising is idempotent, and the display form means the same number.
            prop_assert_eq!(Phone::parse(p.as_str()), Ok(p.clone()), "not idempotent for {:?}", raw);
            prop_assert_eq!(Phone::parse(&p.local_display()), Ok(p.clone()), "display of {:?}", raw);
        }
        if let Some(p) = mokdan::whatsapp::parse_address(&raw) {
            prop_assert!(is_e164(p.as_str()), "{raw:?} -> {p}");
        }
    }

    #[test]
    fn israeli_forms_mean_one_number((local, e164) in israeli_local(), seps in prop::collection::vec(any::<u8>(), 12)) {
        let expected = Phone::parse(&e164).unwrap();
        prop_assert_eq!(expected.as_str(), e164.as_str());
        let national = &local[1..];
        for form in [
            decorate(&local, &seps),
            format!("+972 {}", decorate(national, &seps)),
            format!("+972 0{}", decorate(national, &seps)),
            format!("00972{national}"),
            format!("972{national}"),
            format!("whatsapp:+972{national}"),
            format!("({}) {}", &local[..3], &local[3..]),
        ] {
            prop_assert_eq!(Phone::parse(&form), Ok(expected.clone()), "{}", form);
        }
    }
}

/// JSON that looks like a Meta notification, with fields of any type where they matter.
fn meta_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~א-ת]{0,20}".prop_map(Value::String),
        "(\\+)?972[0-9]{8,9}".prop_map(Value::String),
        "wamid\\.[A-Za-z0-9=]{4,20}".prop_map(Value::String),
    ];
    let any_json = leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let kind = prop::sample::select(vec![
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "voice",
        "button",
        "interactive",
        "reaction",
        "location",
        "unsupported",
    ]);
    let message = (
        kind,
        any_json.clone(),
        any_json.clone(),
        any_json.clone(),
        any_json.clone(),
    )
        .prop_map(|(kind, id, from, body, context)| {
            json!({
                "id": id, "from": from, "type": kind,
                kind: {"body": body.clone(), "id": body.clone(), "caption": body.clone(),
                       "mime_type": body.clone(), "filename": body.clone(), "text": body.clone(),
                       "emoji": body.clone(), "name": body.clone(),
                       "button_reply": {"title": body.clone()}, "list_reply": {"title": body}},
                "context": context,
            })
        });
    (
        prop::collection::vec(message, 0..4),
        prop::collection::vec(any_json.clone(), 0..3),
        any_json.clone(),
        any_json,
    )
        .prop_map(|(messages, statuses, contacts, metadata)| {
            json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                "field": "messages",
                "value": {"messaging_product": "whatsapp", "metadata": metadata,
                          "contacts": contacts, "messages": messages, "statuses": statuses},
            }]}]})
        })
}

/// What the webhook does with a body before storing: parse, then read every message.
fn read_meta(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(n) = serde_json::from_slice::<meta::Notification>(bytes) else {
        return Ok(());
    };
    for change in n.entry.iter().flat_map(|e| &e.changes) {
        for raw in &change.value.messages {
            if let Some(m) = meta::parse_message(raw, &change.value) {
                prop_assert!(is_e164(m.from.as_str()), "{}", m.from);
                prop_assert!(mokdan::whatsapp::inbound::valid_message_id(
                    &m.provider_message_id
                ));
                prop_assert!(m.body.as_ref().is_none_or(|b| !b.trim().is_empty()));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn meta_json_never_panics(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        meta_json().prop_map(|v| v.to_string().into_bytes()),
    ]) {
        read_meta(&bytes)?;
        let _ = meta::signature_valid(APP_SECRET, &bytes, &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn meta_signatures_bind_every_byte(bytes in prop::collection::vec(any::<u8>(), 1..512), i in any::<usize>(), flip in 1..=255u8) {
        let header = meta::sign(APP_SECRET, &bytes);
        prop_assert!(meta::signature_valid(APP_SECRET, &bytes, &header));
        let mut tampered = bytes.clone();
        tampered[i % bytes.len()] ^= flip;
        prop_assert!(!meta::signature_valid(APP_SECRET, &tampered, &header));
        prop_assert!(!meta::signature_valid("another-secret", &bytes, &header));
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// The whole webhook, storing what it can: always 200 (Meta retries anything else for
    /// days), never a 500, whatever the JSON says.
    #[test]
    fn meta_webhook_always_answers_200(body in prop_oneof![
        meta_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]) {
        let w = world();
        let req = Request::builder()
            .method("POST")
            .uri("/webhook/whatsapp/meta")
            .header("content-type", "application/json")
            .header("x-hub-signature-256", meta::sign(APP_SECRET, &body))
            .body(Body::from(body))
            .unwrap();
        let status = w.rt.block_on(w.signed.1.clone().oneshot(req)).unwrap().status();
        prop_assert_eq!(status, StatusCode::OK);
    }
}
