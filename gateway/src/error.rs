//! The one error shape of every response: `{code, message, requestId}` with the right status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gitview_crds::results::ErrorBody;

tokio::task_local! {
    /// The request id of the request being handled (set by [`crate::api`]'s middleware).
    pub static REQUEST_ID: String;
}

/// An error answered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            // RLS refusing a row that exists under another account, or a constraint: the
            // client's data conflicts with what is stored; never say whose.
            sqlx::Error::Database(db)
                if db.code().as_deref() == Some("42501") || db.is_unique_violation() =>
            {
                Self::conflict("the request conflicts with stored data")
            }
            sqlx::Error::Database(db) if db.is_check_violation() => {
                Self::bad_request(format!("the database refused a value: {}", db.message()))
            }
            // Data exceptions caused by the client's values: text PostgreSQL cannot store
            // (NUL, 22021 in text and 22P05 in JSONB), times and numbers out of its ranges.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("22021" | "22P05")) =>
            {
                Self::bad_request("a text value contains a NUL character, which cannot be stored")
            }
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("22003" | "22008")) =>
            {
                Self::bad_request("a number or time is out of the range that can be stored")
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(error = %err, "database unavailable");
                Self::unavailable("the database is unavailable; retry later")
            }
            _ => {
                tracing::error!(error = %err, "database error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
            request_id,
        };
        (self.status, axum::Json(body)).into_response()
    }
}
