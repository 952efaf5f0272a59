//! The per-call stream token (S3).
//!
//! The media WebSocket carries no HTTP signature Twilio will always send, so the TwiML that
//! opens it passes a `<Parameter>` token: an HMAC over the CallSid with the server's secret.
//! Only someone who received our TwiML for that call can present it, and it is checked in
//! constant time when the stream's `start` event arrives.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto;

/// The token for a call.
pub fn issue(secret: &str, call_sid: &str) -> String {
    let tag =
        crypto::hmac_sha256_parts(secret.as_bytes(), &[b"mokdan-stream:", call_sid.as_bytes()]);
    URL_SAFE_NO_PAD.encode(tag)
}

/// Whether `token` is the one issued for `call_sid`.
pub fn verify(secret: &str, call_sid: &str, token: &str) -> bool {
    let expected = issue(secret, call_sid);
    crypto::constant_time_eq(expected.as_bytes(), token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_fits_only_its_call_and_secret() {
        let t = issue("secret", "CA1");
        assert!(verify("secret", "CA1", &t));
        assert!(!verify("secret", "CA2", &t));
        assert!(!verify("other", "CA1", &t));
        assert!(!verify("secret", "CA1", ""));
        assert!(!verify("secret", "CA1", &t[..t.len() - 1]));
    }
}
