//! The one error shape of every response: `{code, message, requestId}` with the right status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gitview_core::results::ErrorBody;

tokio::task_local! {
    /// The request id of the request being handled (set by [`crate::router`]'s middleware).
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
            // A CHECK constraint: named in the answer by what it means, never by the
            // database's own text (logged instead).
            sqlx::Error::Database(db) if db.is_check_violation() => {
                tracing::warn!(constraint = db.constraint(), error = %db.message(), "check violation");
                Self::bad_request(check_violation_message(db.constraint()))
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

/// What a CHECK constraint of the schema (`migrations/`) means to a client (a test checks
/// every constraint a client can reach is named here); the handlers
/// validate first, so these answer only what slipped past them.
pub fn check_violation_message(constraint: Option<&str>) -> &'static str {
    match constraint {
        Some("accounts_name_check") => "an account name has 1 to 253 characters",
        Some("accounts_retention_days_check") => "retention days must be a positive number",
        Some("analyses_status_check") => "a status is running, succeeded or failed",
        Some("commit_files_status_check") => "a file's status is A, D, M or T",
        Some("api_keys_name_check") => "a key's name has 1 to 100 characters",
        Some("api_keys_scopes_check") => "a key's scopes are a non-empty subset of [\"read\"]",
        Some("run_logs_seq_check") => "a log line's seq is 0 or more",
        Some("run_logs_level_check") => "a log line's level is trace, debug, info, warn or error",
        Some("run_logs_fields_check") => "a log line's fields are a JSON object",
        Some("summaries_key_check") => "a summary key is 64 lower-case hex digits",
        _ => "a value is outside what can be stored",
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
