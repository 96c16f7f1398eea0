//! The extract stage's errors, and which of them no retry can fix.

use std::path::PathBuf;

use gix::ObjectId;

/// Errors of the extract stage: opening the repository, resolving revisions, walking history,
/// diffing.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "{location:?} is a URL; cloning is not supported by `analyze` yet: clone it first \
         (`git clone --bare {location} repo.git`) and pass the local path"
    )]
    UrlNotSupported { location: String },
    #[error("no git repository at {path:?}")]
    Open {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("could not prepare diffs (attributes, diff drivers) for {git_dir:?}")]
    DiffSetup {
        git_dir: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("revision {rev:?} not found")]
    RevisionNotFound {
        rev: String,
        #[source]
        source: gix::Error,
    },
    #[error("revision {rev:?} does not name a commit")]
    NotACommit {
        rev: String,
        #[source]
        source: gix::Error,
    },
    #[error("could not read commit {id}")]
    ReadCommit {
        id: ObjectId,
        #[source]
        source: gix::Error,
    },
    #[error("could not diff commit {id} against its parent")]
    DiffTrees {
        id: ObjectId,
        #[source]
        source: gix::Error,
    },
    #[error("could not diff {path:?} in commit {id}")]
    DiffBlobs {
        id: ObjectId,
        path: String,
        #[source]
        source: gix::Error,
    },
    #[error("an extraction thread stopped unexpectedly")]
    ThreadStopped,
}

impl ExtractError {
    /// True when retrying cannot help: the input itself is wrong.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::UrlNotSupported { .. }
                | Self::Open { .. }
                | Self::RevisionNotFound { .. }
                | Self::NotACommit { .. }
        )
    }
}
