//! Fetch errors, and how gix's errors and the servers' messages map onto them.

use std::path::PathBuf;

use gix::ObjectId;

/// Why a fetch failed. URLs in messages have their userinfo replaced by `***`.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read the credential file {path:?}")]
    CredentialUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the CA certificates {path:?}")]
    CertificateUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid repository URL {url}")]
    InvalidUrl {
        url: String,
        #[source]
        source: gix::Error,
    },
    #[error("invalid ref {git_ref:?}: {reason}")]
    InvalidRef {
        git_ref: String,
        reason: &'static str,
    },
    #[error("cannot create or open the repository at {path:?}")]
    Destination {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("{url}: repository not found")]
    NotFound {
        url: String,
        #[source]
        source: gix::Error,
    },
    #[error("{url}: authentication failed")]
    Authentication {
        url: String,
        #[source]
        source: gix::Error,
    },
    #[error("{url}: ref {git_ref:?} not found")]
    UnknownRef { url: String, git_ref: String },
    #[error("{url}: the remote repository is empty (HEAD points to the unborn {target:?})")]
    EmptyRepository { url: String, target: String },
    #[error("{url}: {git_ref:?} does not name a commit")]
    NotACommit {
        url: String,
        git_ref: String,
        #[source]
        source: gix::Error,
    },
    #[error("{url}: commit {since} is not in the history of {git_ref}")]
    SinceNotInHistory {
        url: String,
        since: ObjectId,
        git_ref: String,
    },
    #[error("{url}: fetch failed")]
    Transfer {
        url: String,
        #[source]
        source: gix::Error,
    },
    /// The egress policy refused the connection; nothing was dialled.
    #[error("{url}: {refusal}")]
    Refused {
        url: String,
        refusal: gitview_egress::Refusal,
    },
    /// The remote's host did not resolve, or no checked address accepted the connection.
    #[error("{url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: gitview_egress::Error,
    },
    #[error("cannot update the repository at {path:?}")]
    Local {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
}

impl FetchError {
    /// True when retrying cannot help: the input itself is wrong.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::CredentialUnreadable { .. }
            | Self::CertificateUnreadable { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidRef { .. }
            | Self::NotFound { .. }
            | Self::Authentication { .. }
            | Self::UnknownRef { .. }
            | Self::EmptyRepository { .. }
            | Self::NotACommit { .. }
            | Self::SinceNotInHistory { .. }
            | Self::Refused { .. } => true,
            Self::Destination { .. }
            | Self::Transfer { .. }
            | Self::Unreachable { .. }
            | Self::Local { .. } => false,
        }
    }
}

/// Sorts a gix error into the classes the exit code needs.
pub(super) fn classify(err: gix::Error, url: &str) -> FetchError {
    let url = url.to_owned();
    let text = error_text(&err);
    if err.is_unauthenticated()
        || err.is_permission_denied()
        || text.contains("authentication")
        || text.contains("http status 401")
        || text.contains("http status 403")
    {
        return FetchError::Authentication { url, source: err };
    }
    let not_found = [
        "repository not exported",
        "no such repository",
        "does not appear to be a git repository",
        "repository not found",
        "not found",
        "http status 404",
    ];
    if !err.can_retry_lenient() && not_found.iter().any(|needle| text.contains(needle)) {
        return FetchError::NotFound { url, source: err };
    }
    FetchError::Transfer { url, source: err }
}

/// `ssh` said why it failed in its log: a refused key or host key is no transient failure.
pub(super) fn reclassify_ssh(err: FetchError, diagnostics: &str) -> FetchError {
    let refused = [
        "Permission denied",
        "Host key verification failed",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
    ];
    match err {
        FetchError::Transfer { url, source }
            if refused.iter().any(|line| diagnostics.contains(line)) =>
        {
            tracing::warn!(url = %url, ssh = %diagnostics.trim(), "ssh refused the connection");
            FetchError::Authentication { url, source }
        }
        err => err,
    }
}

pub(super) fn is_unknown_object(err: &gix::Error) -> bool {
    let text = error_text(err);
    text.contains("not our ref")
        || text.contains("no such remote ref")
        || text.contains("bad object")
}

/// The error and its sources, lowercased, for matching server messages.
fn error_text(err: &gix::Error) -> String {
    let mut text = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = current {
        text.push_str(&cause.to_string());
        text.push('\n');
        current = cause.source();
    }
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gix_error(kind: std::io::ErrorKind, message: &str) -> gix::Error {
        gix::Error::from_error(std::io::Error::new(kind, message.to_owned()))
    }

    #[test]
    fn server_messages_classify_for_the_exit_code() {
        let url = "git://host/repo";
        let cases = [
            (
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
                false,
            ),
            (std::io::ErrorKind::UnexpectedEof, "early eof", false),
            (std::io::ErrorKind::Other, "no such repository: /repo", true),
            (
                std::io::ErrorKind::Other,
                "access denied or repository not exported: /repo",
                true,
            ),
            (
                std::io::ErrorKind::PermissionDenied,
                "Permission denied (publickey)",
                true,
            ),
        ];
        for (kind, message, invalid) in cases {
            let err = classify(gix_error(kind, message), url);
            assert_eq!(err.is_invalid_input(), invalid, "{message}: {err:?}");
            assert!(err.to_string().starts_with(url), "{err}");
        }
    }

    #[test]
    fn ssh_refusals_are_authentication_failures() {
        let transfer = || FetchError::Transfer {
            url: "ssh://***@host/repo".into(),
            source: gix_error(
                std::io::ErrorKind::UnexpectedEof,
                "failed to fill whole buffer",
            ),
        };
        let refused = reclassify_ssh(transfer(), "Host key verification failed.\r\n");
        assert!(
            matches!(refused, FetchError::Authentication { .. }),
            "{refused:?}"
        );
        let refused = reclassify_ssh(transfer(), "git@host: Permission denied (publickey).\n");
        assert!(
            matches!(refused, FetchError::Authentication { .. }),
            "{refused:?}"
        );
        let dropped = reclassify_ssh(transfer(), "Connection closed by 10.0.0.1 port 22\n");
        assert!(
            matches!(dropped, FetchError::Transfer { .. }),
            "{dropped:?}"
        );
    }
}
