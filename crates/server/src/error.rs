//! One error type for the JSON API: causes go to the log, the client gets an opaque message.
//!
//! Every API error has the shape `{"error": {"code": "...", "message": "..."}}`; a 409 on a
//! value another object already has adds `"field"`, the request field that clashed. Internal
//! failures are logged with their cause and counted, and answer a bland 500, so a database
//! message (which may carry data or credentials) never reaches a client (S2). Twilio
//! webhooks do not use this type: they answer safe TwiML instead (V12).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    /// A 403 with its reason for the person (in Hebrew): e.g. support in read-only mode.
    #[error("{0}")]
    ForbiddenBecause(String),
    #[error("{0}")]
    Conflict(String),
    /// A value another object already has; `field` names it for the client (#17).
    #[error("{message}")]
    Clash {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if crate::store::is_unique_violation(&e) {
            match crate::store::unique_field(&e) {
                Some(field) => AppError::clash(field, format!("{field}: already exists")),
                None => AppError::Conflict("already exists".into()),
            }
        } else if matches!(e, sqlx::Error::RowNotFound) {
            AppError::NotFound
        } else if matches!(
            e,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
        ) {
            // The database is away, not the request wrong: clients may retry (O1).
            tracing::warn!(error = %e, "database unavailable");
            AppError::Unavailable("the database is unavailable; try again shortly".into())
        } else {
            AppError::Internal(e.into())
        }
    }
}

impl AppError {
    /// A 409 on `field`, with a message that names it.
    pub fn clash(field: &'static str, message: impl Into<String>) -> Self {
        AppError::Clash {
            field,
            message: message.into(),
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::BadRequest(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AppError::Forbidden | AppError::ForbiddenBecause(_) => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            AppError::Conflict(_) | AppError::Clash { .. } => (StatusCode::CONFLICT, "conflict"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            AppError::Internal(cause) => {
                crate::telemetry::count_error("api");
                tracing::error!(error = %format!("{cause:#}"), "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut body = serde_json::json!({ "error": { "code": code, "message": message } });
        if let AppError::Clash { field, .. } = &self {
            body["error"]["field"] = (*field).into();
        }
        (status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, AppError>;
