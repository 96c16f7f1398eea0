//! The operator's error type, classified for retry and for metrics.

use std::time::Duration;

/// How a failed reconcile is retried, and the label its metric carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The API server or network failed: back off and try again.
    Transient,
    /// Someone else changed the object first: try again soon.
    Conflict,
    /// The operator is misconfigured (signing key, settings): retry slowly, an SRE must act.
    Config,
}

impl ErrorClass {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Conflict => "conflict",
            Self::Config => "config",
        }
    }

    /// How long to wait before reconciling again.
    pub fn requeue_after(self) -> Duration {
        match self {
            Self::Transient => Duration::from_secs(5),
            Self::Conflict => Duration::from_millis(500),
            Self::Config => Duration::from_secs(60),
        }
    }
}

/// Errors of the operator's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API request failed: {0}")]
    Kube(#[source] Box<kube::Error>),
    #[error("cannot sign the runner token: {0}")]
    Token(#[from] crate::token::TokenError),
    #[error("cannot serialize {what}: {source}")]
    Serialize { what: &'static str, source: serde_json::Error },
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("leadership lost")]
    LeadershipLost,
    #[error("invalid setting: {0}")]
    Config(String),
}

impl From<kube::Error> for Error {
    fn from(err: kube::Error) -> Self {
        Self::Kube(Box::new(err))
    }
}

impl Error {
    /// The retry class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Kube(err) => match err.as_ref() {
                kube::Error::Api(status) if status.code == 409 => ErrorClass::Conflict,
                _ => ErrorClass::Transient,
            },
            Self::Token(_) | Self::Config(_) => ErrorClass::Config,
            Self::Serialize { .. } | Self::MissingField(_) | Self::LeadershipLost => ErrorClass::Transient,
        }
    }
}

/// Whether a kube error is the API server's 404.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

/// Whether a kube error is the API server's 409 AlreadyExists (or Conflict).
pub fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409)
}
