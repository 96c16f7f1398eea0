//! The extractors of path, query and body whose rejections answer in the one error shape
//! ([`ApiError`]): a malformed path segment, query or body is a 400 (or 413, 415, 422) naming
//! what is wrong, never axum's plain-text rejection.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The code of a rejection's status.
fn rejection_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        status if status.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// An axum rejection in the one error shape. A rejection that is the server's fault (a route
/// and its extractor disagree) is logged and answered without detail.
fn rejection(status: StatusCode, text: String) -> ApiError {
    if status.is_server_error() {
        tracing::error!(error = %text, "extractor rejected a request");
        return ApiError::new(status, "internal", "internal error");
    }
    ApiError::new(status, rejection_code(status), text)
}

/// JSON bodies whose rejections (malformed JSON, wrong content type, over the size limit)
/// answer in the one error shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(err) => Err(json_rejection(&err)),
        }
    }
}

fn json_rejection(err: &JsonRejection) -> ApiError {
    rejection(err.status(), err.body_text())
}

/// Path parameters (percent-decoded, UTF-8) whose rejections answer in the one error shape.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|err| rejection(err.status(), err.body_text()))
    }
}

/// A query string whose rejections (unknown or repeated parameters) answer in the one error
/// shape, naming the parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match Query::<T>::try_from_uri(&parts.uri) {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_side_rejections_say_nothing() {
        let err = rejection(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No paths parameters found".into(),
        );
        assert_eq!(
            (err.code, err.message.as_str()),
            ("internal", "internal error")
        );
        let err = rejection(StatusCode::PAYLOAD_TOO_LARGE, "too big".into());
        assert_eq!(err.code, "payload_too_large");
    }
}
