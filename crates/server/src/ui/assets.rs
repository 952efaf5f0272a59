//! The app's CSS and JS, embedded in the binary so the run command needs no build step.
//!
//! htmx is vendored (2.x, `htmx.min.js` from the npm package); `app.css` and `app.js` are
//! ours. Files are cached for an hour; the layout links them with a version query so a new
//! binary is picked up at once.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Changes with every build of a new version, to bust caches.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn file(name: &str) -> Option<(&'static str, &'static [u8])> {
    Some(match name {
        "app.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../assets/ui/app.css"),
        ),
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/ui/app.js"),
        ),
        "htmx.min.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/ui/htmx.min.js"),
        ),
        "favicon.svg" => (
            "image/svg+xml",
            include_bytes!("../../assets/ui/favicon.svg"),
        ),
        _ => return None,
    })
}

pub async fn serve(Path(name): Path<String>) -> Response {
    match file(&name) {
        Some((ctype, bytes)) => (
            [
                (header::CONTENT_TYPE, ctype),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
