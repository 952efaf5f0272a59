//! HS256 JSON Web Tokens for API clients, hand-rolled on `hmac` + `sha2`.
//!
//! Only HS256 is accepted: the header's `alg` must be exactly that, so `none` and algorithm
//! confusion are refused before any claim is read. The signature is compared in constant
//! time. A token names its session (`sid`), so logging out revokes the token too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long a bearer JWT lives.
pub const TTL_SECS: i64 = 15 * 60;

/// What a token says about its holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: i64,
    /// The session the token was issued for.
    pub sid: i64,
    pub role: String,
    pub bid: Option<i64>,
    pub iat: i64,
    pub exp: i64,
}

/// Why a token was refused (never shown to the client beyond "unauthorized").
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported algorithm")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("expired")]
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn mac(secret: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length")
}

/// Signs the claims.
pub fn encode(secret: &str, claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).expect("claims serialise");
    let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = B64.encode(m.finalize().into_bytes());
    format!("{signing_input}.{sig}")
}

/// Checks the algorithm, the signature and the expiry (`now` in epoch seconds).
pub fn decode(secret: &str, token: &str, now: i64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header: serde_json::Value = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtError::Algorithm);
    }
    let sig = B64.decode(s).map_err(|_| JwtError::Malformed)?;
    let mut m = mac(secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig).map_err(|_| JwtError::Signature)?;
    let claims: Claims = B64
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if claims.exp <= now {
        return Err(JwtError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: 7,
            sid: 3,
            role: "owner".into(),
            bid: Some(2),
            iat: 1000,
            exp,
        }
    }

    #[test]
    fn round_trip() {
        let t = encode("k", &claims(2000));
        assert_eq!(decode("k", &t, 1500).unwrap(), claims(2000));
    }

    #[test]
    fn refusals() {
        let t = encode("k", &claims(2000));
        assert_eq!(decode("other", &t, 1500), Err(JwtError::Signature));
        assert_eq!(decode("k", &t, 2000), Err(JwtError::Expired));
        assert_eq!(decode("k", "a.b", 0), Err(JwtError::Malformed));
        // A payload swapped under the same signature.
        let other = encode(
            "k",
            &Claims {
                sub: 1,
                ..claims(2000)
            },
        );
        let mut forged: Vec<&str> = t.split('.').collect();
        forged[1] = other.split('.').nth(1).unwrap();
        assert_eq!(
            decode("k", &forged.join("."), 1500),
            Err(JwtError::Signature)
        );
        // alg=none is refused before the signature is looked at.
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            t.split('.').nth(1).unwrap()
        );
        assert_eq!(decode("k", &none, 1500), Err(JwtError::Algorithm));
    }

    #[test]
    fn matches_an_independent_hs256() {
        // RFC 7515 style check: the signature is HMAC-SHA256 over `header.payload`.
        let t = encode("secret", &claims(2000));
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut m = mac("secret");
        m.update(input.as_bytes());
        assert_eq!(B64.encode(m.finalize().into_bytes()), sig);
        assert_eq!(
            input.split('.').next().unwrap(),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
        );
    }
}
