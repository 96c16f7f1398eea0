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
    Serialize {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("object has no {0}")]
    MissingField(&'static str),
    #[error("leadership lost")]
    LeadershipLost,
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("cannot read the account's data policy from the gateway: {0}")]
    Policy(String),
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
            Self::Serialize { .. }
            | Self::MissingField(_)
            | Self::LeadershipLost
            | Self::Policy(_) => ErrorClass::Transient,
        }
    }
}

/// What the API server's refusal of an object the operator builds (a runner Pod, a run Secret,
/// a tracker's Analysis) says about retrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The object as built is refused, and the same object would be refused again: 400 Bad
    /// Request, 422 Invalid, 413 Too Large, 403 from an admission plugin (LimitRanger,
    /// PodSecurity, a ResourceQuota that requires a resource the object lacks). A configuration
    /// error of what it was built from: it waits for a change of that.
    Invalid,
    /// The namespace's ResourceQuota is used up (403 `exceeded quota`). It frees as other work
    /// ends, as Kubernetes' own Job controller assumes when it retries a pod create after such
    /// a refusal: retried after a while, and shown, never stalled.
    QuotaExceeded,
}

/// Classifies an API server answer to a create of an object the operator builds: `Some` when
/// it refuses the object, `None` when the failure is not the object's (5xx, 409 which the
/// caller resolves, 429 throttling, 401 and 408, a 404 namespace, and the 403s of the
/// operator's own RBAC or of a namespace being deleted, which another reconcile outlives).
pub fn refusal(status: &kube::core::Status) -> Option<Refusal> {
    match status.code {
        403 => {
            let message = status.message.as_str();
            let terminating = status
                .details
                .iter()
                .flat_map(|d| &d.causes)
                .any(|c| c.reason == "NamespaceTerminating");
            // RBAC's denial names the user and the verb: "User \"x\" cannot create resource ...".
            let rbac = message.contains(" cannot ") && message.contains(" resource \"");
            if terminating || rbac {
                None
            } else if message.contains("exceeded quota") {
                Some(Refusal::QuotaExceeded)
            } else {
                Some(Refusal::Invalid)
            }
        }
        401 | 404 | 408 | 409 | 429 => None,
        400..=499 => Some(Refusal::Invalid),
        _ => None,
    }
}

/// [`refusal`] of a kube error; `None` for errors that are not the API server's answer.
pub fn refusal_of(err: &kube::Error) -> Option<(Refusal, &kube::core::Status)> {
    match err {
        kube::Error::Api(status) => refusal(status).map(|r| (r, status.as_ref())),
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> kube::core::Status {
        kube::core::Status::failure(message, reason).with_code(code)
    }

    #[test]
    fn a_refused_object_is_invalid_unless_a_quota_fills_or_the_failure_is_not_its_own() {
        let invalid = [
            status(
                422,
                "Invalid",
                "Pod \"p\" is invalid: spec.containers[0].resources.limits[memory]: Invalid value: \"2GB\"",
            ),
            status(
                400,
                "BadRequest",
                "quantities must match the regular expression",
            ),
            status(
                403,
                "Forbidden",
                "pods \"p\" is forbidden: maximum memory usage per Container is 64Mi, but limit is 128Mi",
            ),
            status(
                403,
                "Forbidden",
                "pods \"p\" is forbidden: violates PodSecurity \"restricted:latest\": runAsNonRoot != true",
            ),
            status(
                403,
                "Forbidden",
                "pods \"p\" is forbidden: failed quota: q: must specify limits.cpu for: runner",
            ),
            status(413, "RequestEntityTooLarge", "request is too large"),
        ];
        for s in &invalid {
            assert_eq!(refusal(s), Some(Refusal::Invalid), "{}", s.message);
        }
        let quota = status(
            403,
            "Forbidden",
            "pods \"p\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2",
        );
        assert_eq!(refusal(&quota), Some(Refusal::QuotaExceeded));
        let not_the_objects = [
            status(409, "AlreadyExists", "pods \"p\" already exists"),
            status(429, "TooManyRequests", "too many requests"),
            status(401, "Unauthorized", "Unauthorized"),
            status(404, "NotFound", "namespaces \"gone\" not found"),
            status(408, "Timeout", "Timeout: request did not complete"),
            status(500, "InternalError", "etcdserver: request timed out"),
            status(503, "ServiceUnavailable", "the server is shutting down"),
            status(
                403,
                "Forbidden",
                "pods is forbidden: User \"gitview-operator\" cannot create resource \"pods\" in API group \"\" in the namespace \"team-a\"",
            ),
        ];
        for s in &not_the_objects {
            assert_eq!(refusal(s), None, "{}", s.message);
        }
        let terminating = status(
            403,
            "Forbidden",
            "unable to create new content in namespace team-a because it is being terminated",
        )
        .with_details(
            serde_json::from_value(
                serde_json::json!({"kind": "pods", "causes": [{"reason": "NamespaceTerminating"}]}),
            )
            .expect("valid StatusDetails"),
        );
        assert_eq!(refusal(&terminating), None);
        assert!(
            refusal_of(&kube::Error::Api(Box::new(quota.clone())))
                .is_some_and(|(r, s)| r == Refusal::QuotaExceeded && s.code == 403)
        );
    }
}
