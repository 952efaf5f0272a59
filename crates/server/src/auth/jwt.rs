//! HS256 JSON Web Tokens for API clients, through the `jsonwebtoken` crate.
//!
//! Only HS256 is accepted: the header's `alg` must be exactly that, so `none` and algorithm
//! confusion are refused before any claim is read. The signature is compared in constant
//! time. A token names its session (`sid`), so logging out revokes the token too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

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

/// Signs the claims.
pub fn encode(secret: &str, claims: &Claims) -> String {
    // The configuration refuses an empty JWT_SECRET, the one key HMAC here will not take.
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("the JWT secret is not empty");
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("claims serialise")
}

/// Checks the algorithm, the signature and the expiry (`now` in epoch seconds).
pub fn decode(secret: &str, token: &str, now: i64) -> Result<Claims, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    // The header is read first, so `alg: none` (which the crate cannot even parse) and any
    // other algorithm are told apart from a malformed token.
    let header: serde_json::Value = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(JwtError::Malformed)?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(JwtError::Algorithm);
    }
    let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| JwtError::Signature)?;
    // Expiry is checked against the caller's `now` below, not the crate's clock.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => JwtError::Signature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => JwtError::Algorithm,
            _ => JwtError::Malformed,
        })?
        .claims;
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
        assert_eq!(
            B64.encode(crate::crypto::hmac_sha256(b"secret", input.as_bytes())),
            sig
        );
        let header: serde_json::Value =
            serde_json::from_slice(&B64.decode(input.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "HS256", "typ": "JWT"}));
    }

    #[test]
    fn accepts_a_token_with_the_header_keys_in_either_order() {
        // The tokens issued before this crate wrote `{"alg":"HS256","typ":"JWT"}`.
        let payload = B64.encode(serde_json::to_vec(&claims(2000)).unwrap());
        let input = format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}");
        let sig = B64.encode(crate::crypto::hmac_sha256(b"k", input.as_bytes()));
        assert_eq!(
            decode("k", &format!("{input}.{sig}"), 1500),
            Ok(claims(2000))
        );
    }
}
