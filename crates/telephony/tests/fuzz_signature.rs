//! Property-based fuzzing of X-Twilio-Signature (S1).
//!
//! The check runs on every webhook before anything else, on input an attacker controls
//! completely (URL, headers, form), so it must never panic; a signature made with the
//! token must verify for any URL and parameters; and changing any one byte of what is
//! signed (URL, token, a parameter, the body) or of the signature itself must fail.
//! Runs a bounded number of cases inside the normal `cargo test` (a second or two);
//! `MOKDAN_FUZZ_CASES=100000 cargo test -p telephony --test fuzz_signature` runs longer.

use proptest::prelude::*;
use telephony::signature::{body_sha256_hex, compute, validate, validate_json};

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

/// URL-ish strings: mostly well formed, with the pieces the port logic looks at (schemes,
/// userinfo, IPv6 brackets, ports, queries), and sometimes anything at all.
fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop_oneof![
                Just("https"),
                Just("http"),
                Just("HTTPS"),
                Just("wss"),
                Just("")
            ],
            prop_oneof![Just(""), Just("u:p@"), Just("@"), Just("a@b@")],
            prop_oneof![
                "[a-z0-9.-]{0,20}",
                Just("[::1]".to_string()),
                Just("[".to_string()),
                Just("]".to_string()),
                Just("h:".to_string()),
            ],
            prop_oneof![
                Just(String::new()),
                "[0-9]{1,6}".prop_map(|p| format!(":{p}")),
                Just(":".to_string())
            ],
            "(/[a-zA-Z0-9_.~%-]{0,10}){0,3}",
            prop_oneof![Just(String::new()), "\\?[ -~]{0,30}", "#[ -~]{0,10}"],
        )
            .prop_map(|(s, ui, h, p, path, q)| format!("{s}://{ui}{h}{p}{path}{q}")),
        any::<String>(),
        "[ -~]{0,60}",
    ]
}

/// Strings like Twilio's values: ASCII, Hebrew, emoji, empty.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,24}",
        "[א-ת0-9 +]{0,12}",
        any::<String>(),
        Just(String::new()),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z]{1,12}", text()), 0..12)
}

/// The string Twilio's scheme signs after the URL: names and values sorted, concatenated.
fn canonical(params: &[(String, String)]) -> String {
    let mut sorted: Vec<_> = params.iter().collect();
    sorted.sort();
    sorted.iter().map(|(k, v)| format!("{k}{v}")).collect()
}

/// `s` with the character at (char) index `i` replaced by another ASCII one, when it is ASCII.
fn change_one_byte(s: &str, i: usize, to: u8) -> Option<String> {
    let (at, c) = s.char_indices().nth(i % s.chars().count().max(1))?;
    if !c.is_ascii() {
        return None;
    }
    let mut to = to & 0x7f;
    if to == c as u8 {
        to ^= 1;
    }
    let mut bytes = s.as_bytes().to_vec();
    bytes[at] = to;
    String::from_utf8(bytes).ok()
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn anything_at_all_never_panics(
        token in text(),
        url in url(),
        params in prop::collection::vec((any::<String>(), any::<String>()), 0..6),
        signature in prop_oneof![any::<String>(), "[A-Za-z0-9+/=]{0,40}"],
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let _ = validate(&token, &url, &params, &signature);
        let _ = validate_json(&token, &url, &body, &signature);
        let _ = compute(&token, &url, &params);
    }

    #[test]
    fn a_signature_made_with_the_token_verifies(
        token in "[ -~]{1,40}",
        url in url(),
        params in params(),
    ) {
        let sig = compute(&token, &url, &params);
        prop_assert!(validate(&token, &url, &params, &sig));
        // The order Twilio sends the form in does not matter.
        let mut reversed = params.clone();
        reversed.reverse();
        prop_assert!(validate(&token, &url, &reversed, &sig));
    }

    #[test]
    fn one_changed_byte_anywhere_fails(
        token in "[ -~]{1,40}",
        url in url(),
        params in params(),
        which in 0..4u8,
        i in any::<usize>(),
        to in any::<u8>(),
    ) {
        let sig = compute(&token, &url, &params);
        match which {
            0 => {
                let Some(bad) = change_one_byte(&sig, i, to) else { return Ok(()) };
                prop_assert!(!validate(&token, &url, &params, &bad), "signature {bad}");
            }
            1 => {
                let Some(bad) = change_one_byte(&url, i, to) else { return Ok(()) };
                prop_assert!(!validate(&token, &bad, &params, &sig), "url {url} -> {bad}");
            }
            2 => {
                let Some(bad) = change_one_byte(&token, i, to) else { return Ok(()) };
                prop_assert!(!validate(&bad, &url, &params, &sig), "token");
            }
            _ => {
                if params.is_empty() {
                    return Ok(());
                }
                let k = i % params.len();
                let mut changed = params.clone();
                let Some(v) = change_one_byte(&params[k].1, i / params.len(), to) else {
                    return Ok(());
                };
                changed[k].1 = v;
                // Twilio's scheme concatenates names and values without separators; a change
                // that leaves that string the same is not a change it can see.
                prop_assume!(canonical(&changed) != canonical(&params));
                prop_assert!(!validate(&token, &url, &changed, &sig), "param {k}");
            }
        }
    }

    #[test]
    fn json_bodies_are_bound_to_their_hash(
        token in "[ -~]{1,40}",
        base in "https://[a-z]{1,10}\\.example(:[0-9]{2,5})?/[a-z]{0,10}",
        body in prop::collection::vec(any::<u8>(), 0..512),
        i in any::<usize>(),
        flip in 1..=255u8,
    ) {
        let url = format!("{base}?bodySHA256={}", body_sha256_hex(&body));
        let sig = compute(&token, &url, &[]);
        prop_assert!(validate_json(&token, &url, &body, &sig));
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[i % body.len()] ^= flip;
            prop_assert!(!validate_json(&token, &url, &tampered, &sig));
        }
        // Without the hash in the URL nothing verifies, whatever the signature.
        let bare_sig = compute(&token, &base, &[]);
        prop_assert!(!validate_json(&token, &base, &body, &bare_sig));
    }
}
