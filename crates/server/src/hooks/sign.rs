//! Signing per the Standard Webhooks specification: `webhook-signature: v1,<base64>`, an
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded
//! part of the endpoint's `whsec_…` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;

/// What every secret starts with.
pub const PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and 24 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// A new message id (`webhook-id`), unique per event and endpoint.
pub fn new_msg_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// The `webhook-signature` header's value; `None` when the secret is not `whsec_` base64.
pub fn signature(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    let head = format!("{msg_id}.{timestamp}.");
    let tag = crate::crypto::hmac_sha256_parts(&key, &[head.as_bytes(), body.as_bytes()]);
    Some(format!("v1,{}", STANDARD.encode(tag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's reference libraries' own example.
    #[test]
    fn matches_the_reference_vector() {
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn secrets_are_fresh_base64() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        assert_eq!(STANDARD.decode(&a[PREFIX.len()..]).unwrap().len(), 24);
        assert!(signature("not-a-secret", "msg_1", 1, "{}").is_none());
    }
}
