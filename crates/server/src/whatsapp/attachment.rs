//! How an attachment is handed to the browser (S1-style hostile input, W4).
//!
//! A WhatsApp attachment's bytes and its declared type come from the sender, and it is
//! served from the CRM's own origin, where the signed-in user's cookies live. Served with
//! the sender's `Content-Type`, an HTML or SVG file would run script as the CRM (reading the
//! CSRF cookie, posting to `/api/users`). So an attachment is a download by default
//! (`Content-Disposition: attachment`, `application/octet-stream`); it is shown inline only
//! when its declared type is on a short list of images, audio and PDF **and** its magic
//! bytes (the `infer` crate) say it is that type. Every answer carries
//! `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`, so even a file
//! that is opened after all runs in an opaque origin with no script.

use axum::http::{HeaderName, HeaderValue, header};

/// The policy every attachment answer carries: no script, no same-origin access.
pub const CSP: &str = "sandbox";

/// Declared types that may be shown inline, each with the types its bytes may be found to
/// be (a voice note declared `audio/ogg` is Opus in Ogg; an `audio/mp4` is an MP4 box).
const INLINE: &[(&str, &[&str])] = &[
    ("image/jpeg", &["image/jpeg"]),
    ("image/png", &["image/png"]),
    ("image/gif", &["image/gif"]),
    ("image/webp", &["image/webp"]),
    ("audio/ogg", &["audio/ogg", "audio/opus"]),
    ("audio/opus", &["audio/opus", "audio/ogg"]),
    ("audio/mpeg", &["audio/mpeg"]),
    ("audio/mp4", &["audio/m4a", "video/mp4"]),
    ("audio/x-m4a", &["audio/m4a", "video/mp4"]),
    ("audio/aac", &["audio/aac"]),
    ("audio/amr", &["audio/amr"]),
    ("application/pdf", &["application/pdf"]),
];

/// How one attachment is served.
#[derive(Debug, PartialEq, Eq)]
pub struct Disposition {
    /// The `Content-Type` sent: an allow-listed type, or `application/octet-stream`.
    pub content_type: &'static str,
    /// Shown in the browser (`inline`) rather than saved (`attachment`).
    pub inline: bool,
    /// A filename safe to put in a header (ASCII letters, digits, `.`, `-`, `_`).
    pub filename: String,
}

/// Decides how to serve `bytes` that the sender declared as `declared` and named `name`;
/// `fallback` names it when the sender gave no usable name.
pub fn decide(declared: &str, bytes: &[u8], name: Option<&str>, fallback: &str) -> Disposition {
    let essence = declared
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let found = infer::get(bytes);
    let inline_type = INLINE
        .iter()
        .find(|(t, _)| *t == essence)
        .filter(|(_, accepted)| found.is_some_and(|f| accepted.contains(&f.mime_type())))
        .map(|(t, _)| *t);
    // Markup keeps no telling extension: a saved `.html` opened later would still run.
    let extension = found
        .filter(|t| t.matcher_type() != infer::MatcherType::Text)
        .map(|t| t.extension());
    Disposition {
        content_type: inline_type.unwrap_or("application/octet-stream"),
        inline: inline_type.is_some(),
        filename: safe_filename(name, fallback, extension),
    }
}

/// The sender's name reduced to harmless characters, else `fallback` with the extension
/// the bytes suggest (or `.bin`).
fn safe_filename(name: Option<&str>, fallback: &str, extension: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim_matches(|c| c == '.' || c == '_');
    if cleaned.chars().any(|c| c.is_ascii_alphanumeric()) {
        return cleaned.to_string();
    }
    format!("{fallback}.{}", extension.unwrap_or("bin"))
}

/// The headers that go with [`Disposition`]: type, disposition, `nosniff`, the sandbox.
pub fn headers(d: &Disposition) -> Vec<(HeaderName, HeaderValue)> {
    let kind = if d.inline { "inline" } else { "attachment" };
    let disposition = HeaderValue::from_str(&format!("{kind}; filename=\"{}\"", d.filename))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    vec![
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(d.content_type),
        ),
        (header::CONTENT_DISPOSITION, disposition),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    const HTML: &[u8] = b"<!doctype html><script>fetch('/api/users')</script>";

    #[test]
    fn a_confirmed_image_is_inline() {
        let d = decide("image/png", PNG, Some("photo.png"), "wa-1-0");
        assert_eq!(d.content_type, "image/png");
        assert!(d.inline);
        assert_eq!(d.filename, "photo.png");
    }

    #[test]
    fn hostile_types_and_disguised_bytes_are_downloads() {
        for (declared, bytes) in [
            ("text/html", HTML),
            (
                "image/svg+xml",
                b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>" as &[u8],
            ),
            ("image/png", HTML),
            ("image/png; charset=utf-8", HTML),
            ("application/pdf", PNG),
            ("", HTML),
        ] {
            let d = decide(declared, bytes, None, "wa-1-0");
            assert_eq!(d.content_type, "application/octet-stream", "{declared}");
            assert!(!d.inline, "{declared}");
        }
    }

    #[test]
    fn filenames_cannot_break_the_header() {
        let d = decide(
            "text/html",
            HTML,
            Some("a\"; filename=x.html\r\n.html"),
            "f",
        );
        assert!(!d.filename.contains(['"', ';', '\r', '\n', ' ']));
        assert_eq!(
            decide("text/html", HTML, Some("שלום"), "wa-3-1").filename,
            "wa-3-1.bin"
        );
        assert_eq!(
            decide("image/png", PNG, Some(".."), "wa-3-1").filename,
            "wa-3-1.png"
        );
        let h = headers(&decide("text/html", HTML, None, "wa-3-1"));
        assert!(
            h.iter().any(|(k, v)| k == header::CONTENT_DISPOSITION
                && v == "attachment; filename=\"wa-3-1.bin\"")
        );
    }
}
