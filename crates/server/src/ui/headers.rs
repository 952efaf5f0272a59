//! Security headers on every `/app` response, and a same-origin check on the app's forms.
//!
//! The CSP allows only this origin (no inline script or style anywhere in the app: the
//! templates carry none, and htmx's own indicator style is turned off), so an injected
//! string cannot run. Frames are refused (clickjacking), MIME sniffing is off, and the
//! referrer never leaves the origin. Form posts to `/app/…` must come from this origin
//! (Origin, else Referer), which is what a browser sends for the app's own forms and what a
//! cross-site form cannot forge (CSRF for cookie sessions). In production every response
//! also carries `Strict-Transport-Security`.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; media-src 'self'; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// A year of HTTPS-only, without `includeSubDomains`: the operator's other hosts under the
/// same domain are not ours to decide for.
pub const HSTS: &str = "max-age=31536000";

/// `Strict-Transport-Security` on every response in production, where the public URL is
/// HTTPS: once a browser has seen it, a network attacker can no longer downgrade the app or
/// its session cookie to plain HTTP. Development over `http://localhost` sends none.
pub async fn strict_transport(
    State(settings): State<std::sync::Arc<crate::config::Settings>>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    let https = settings
        .public_base_url
        .as_deref()
        .is_some_and(|b| b.starts_with("https://"));
    if settings.is_production() && https {
        res.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    res
}

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Refuses a state-changing request whose Origin (or Referer) is another site.
pub async fn same_origin_posts(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().ok().and_then(|v| url::Url::parse(v).ok()));
    let same = match source {
        // No Origin and no Referer: not a browser form post (curl, tests with Basic auth);
        // the auth extractor still decides who it is, and wants the CSRF token then.
        None => true,
        // `Origin: null` (a sandboxed frame, a data: URL) or garbage: not this site.
        Some(None) => false,
        Some(Some(u)) => {
            let authority = match (u.host_str(), u.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                _ => String::new(),
            };
            authority.eq_ignore_ascii_case(&host)
        }
    };
    if same {
        next.run(req).await
    } else {
        tracing::warn!(host, "UI_CSRF_REFUSED: cross-origin form post");
        super::page::PageError::Forbidden.into_response()
    }
}
