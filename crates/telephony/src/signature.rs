//! X-Twilio-Signature: proof that a webhook really came from Twilio.
//!
//! Every webhook Twilio sends carries an HMAC-SHA1 of the full request URL and
//! the POST parameters, keyed by the account's auth token. The server must reject
//! any request whose signature does not match, or anyone could forge call events.
//! This module reproduces Twilio's official `RequestValidator` exactly, including
//! its tolerance for the default port being present or absent in the URL, and the
//! `bodySHA256` scheme Twilio uses for JSON bodies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Computes the X-Twilio-Signature for `url` and form `params`.
///
/// The signed string is the URL followed by every parameter's name and value,
/// sorted by name and then by value (so repeated names have a stable order).
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac =
        HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks `signature` against the URL and params, in constant time.
///
/// Like Twilio's RequestValidator, both the URL with the default port added
/// (`:443`/`:80`) and the URL with any port removed are tried, because proxies
/// and load balancers disagree about which form reaches the application.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let with_port = url_with_port(url);
    let without_port = url_without_port(url);
    // Evaluate both without short-circuiting so timing does not reveal which matched.
    let a = ct_eq(&compute(auth_token, &without_port, params), signature);
    let b = ct_eq(&compute(auth_token, &with_port, params), signature);
    a | b
}

/// Lowercase hex SHA-256 of a request body, as Twilio puts in `bodySHA256`.
pub fn body_sha256_hex(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from_digit(u32::from(byte >> 4), 16).expect("nibble"));
        out.push(char::from_digit(u32::from(byte & 0x0f), 16).expect("nibble"));
    }
    out
}

/// Validates a request with a JSON body.
///
/// Twilio signs the URL (whose query carries `bodySHA256=<hex>`) with no params;
/// the body must hash to that value. A URL without `bodySHA256` is rejected.
pub fn validate_json(auth_token: &str, url: &str, body: &[u8], signature: &str) -> bool {
    let Some(expected_hash) = query_param(url, "bodySHA256") else {
        return false;
    };
    let hash_ok = ct_eq(&body_sha256_hex(body), &expected_hash.to_ascii_lowercase());
    let sig_ok = validate(auth_token, url, &[], signature);
    hash_ok & sig_ok
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The URL split around its authority: `(scheme, "://" + userinfo, host, port, rest)`.
struct UrlParts<'a> {
    scheme: &'a str,
    /// Everything from the scheme's end up to the host (`://` and any `user:pass@`).
    prefix: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    let auth_start = scheme_end + 3;
    let after = &url[auth_start..];
    let auth_len = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..auth_len];
    let rest = &after[auth_len..];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let prefix = &url[scheme_end..auth_start + host_start];
    let hostport = &authority[host_start..];
    // IPv6 literals are bracketed; a port colon can only follow the closing bracket.
    let search_from = hostport.rfind(']').unwrap_or(0);
    let (host, port) = match hostport[search_from..].rfind(':') {
        Some(i) => {
            let i = search_from + i;
            (&hostport[..i], Some(&hostport[i + 1..]))
        }
        None => (hostport, None),
    };
    Some(UrlParts {
        scheme,
        prefix,
        host,
        port: port.filter(|p| !p.is_empty()),
        rest,
    })
}

fn url_without_port(url: &str) -> String {
    match split_url(url) {
        Some(p) if p.port.is_some() => format!("{}{}{}{}", p.scheme, p.prefix, p.host, p.rest),
        _ => url.to_owned(),
    }
}

fn url_with_port(url: &str) -> String {
    match split_url(url) {
        Some(p) if p.port.is_none() => {
            let port = if p.scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            };
            format!("{}{}{}:{port}{}", p.scheme, p.prefix, p.host, p.rest)
        }
        _ => url.to_owned(),
    }
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URI: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    const BODY: &str = "{\"property\": \"value\", \"boolean\": true}";
    const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// twilio-python's `tests/unit/test_request_validator.py` vector. Its numbers
    /// are +14158675309 (Caller, From); with +12349013030 the HMAC differs.
    fn params() -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    #[test]
    fn computes_twilio_doc_vector() {
        assert_eq!(compute(TOKEN, URI, &params()), EXPECTED);
    }

    #[test]
    fn param_order_does_not_matter() {
        let mut reversed = params();
        reversed.reverse();
        assert_eq!(compute(TOKEN, URI, &reversed), EXPECTED);
    }

    #[test]
    fn repeated_names_sorted_by_value() {
        let dup = p(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(compute(TOKEN, URI, &dup), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn validates_doc_vector() {
        assert!(validate(TOKEN, URI, &params(), EXPECTED));
    }

    #[test]
    fn removes_port_on_https() {
        let uri = URI.replace(".com", ".com:1234");
        assert!(validate(TOKEN, &uri, &params(), EXPECTED));
    }

    #[test]
    fn keeps_nondefault_port_on_http() {
        let uri = URI.replace(".com", ".com:1234").replace("https", "http");
        assert!(validate(
            TOKEN,
            &uri,
            &params(),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        ));
    }

    #[test]
    fn adds_port_on_https() {
        assert!(validate(
            TOKEN,
            URI,
            &params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        assert_eq!(
            compute(
                TOKEN,
                "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                &params()
            ),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
    }

    #[test]
    fn adds_port_on_http() {
        let uri = URI.replace("https", "http");
        assert!(validate(
            TOKEN,
            &uri,
            &params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
    }

    #[test]
    fn rejects_wrong_token_url_params_and_signature() {
        assert!(!validate("54321", URI, &params(), EXPECTED));
        assert!(!validate(
            TOKEN,
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params(),
            EXPECTED
        ));
        let mut tampered = params();
        tampered[1].1 = "9999".into();
        assert!(!validate(TOKEN, URI, &tampered, EXPECTED));
        let mut extra = params();
        extra.push(("Evil".into(), "1".into()));
        assert!(!validate(TOKEN, URI, &extra, EXPECTED));
        assert!(!validate(TOKEN, URI, &params(), ""));
        assert!(!validate(
            TOKEN,
            URI,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8"
        ));
    }

    #[test]
    fn body_hash_vector() {
        assert_eq!(body_sha256_hex(BODY.as_bytes()), BODY_HASH);
    }

    #[test]
    fn validates_json_body_vector() {
        let uri = format!("{URI}&bodySHA256={BODY_HASH}");
        assert!(validate_json(
            TOKEN,
            &uri,
            BODY.as_bytes(),
            "a9nBmqA0ju/hNViExpshrM61xv4="
        ));
    }

    #[test]
    fn json_rejects_tampered_body_or_missing_hash() {
        let uri = format!("{URI}&bodySHA256={BODY_HASH}");
        let sig = "a9nBmqA0ju/hNViExpshrM61xv4=";
        assert!(!validate_json(
            TOKEN,
            &uri,
            b"{\"property\": \"evil\"}",
            sig
        ));
        assert!(!validate_json(TOKEN, URI, BODY.as_bytes(), sig));
        assert!(!validate_json("nope", &uri, BODY.as_bytes(), sig));
    }

    #[test]
    fn port_variants_preserve_userinfo_and_ipv6() {
        assert_eq!(
            url_with_port("https://u:p@host.com/x?a=1"),
            "https://u:p@host.com:443/x?a=1"
        );
        assert_eq!(url_without_port("http://[::1]:8080/x"), "http://[::1]/x");
        assert_eq!(url_with_port("http://[::1]/x"), "http://[::1]:80/x");
        assert_eq!(url_without_port("https://h.com:443"), "https://h.com");
        assert_eq!(url_with_port("https://h.com?q=1"), "https://h.com:443?q=1");
    }
}
