//! Typed errors of the runner's stages, and how each one classifies for retries.
//!
//! The runner's exit code tells the operator whether another attempt can help: invalid input
//! (a bad run config, a URL we refuse, a revision that does not exist) exits with
//! [`EXIT_INVALID_INPUT`](gitview_crds::wire::EXIT_INVALID_INPUT) and is never retried;
//! everything else exits 1 and may be retried.

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

/// Errors writing output files.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("could not write {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not serialize a record for {path:?}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Errors of `gitview-runner analyze`.
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Summarizer(#[from] crate::summarize::SummarizeError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    Fetch(#[from] gitview_git::fetch::FetchError),
    #[error("no cache directory for cloned repositories: set GITVIEW_CACHE_DIR or HOME")]
    NoCacheDir,
}

impl AnalyzeError {
    /// True when retrying cannot help: the input itself is wrong.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::Extract(err) => err.is_invalid_input(),
            Self::Output(_) => false,
            Self::Summarizer(err) => !err.is_retryable(),
            Self::Pipeline(err) => err.is_invalid_input(),
            Self::Fetch(err) => err.is_invalid_input(),
            Self::NoCacheDir => true,
        }
    }
}

/// Errors of `gitview-runner run`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read the run config {path:?}")]
    ConfigUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid run config {path:?}")]
    ConfigInvalid {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("unsupported run config version {found} (this runner reads version {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("invalid repository URL: {0}")]
    InvalidUrl(#[from] gitview_core::remote::UrlError),
    #[error("invalid revision {rev:?} in {field}: {reason}")]
    InvalidRevision {
        field: &'static str,
        rev: String,
        reason: &'static str,
    },
    #[error("invalid test exit code {0:?} in GITVIEW_RUNNER_TEST_EXIT")]
    InvalidTestExit(String),
    #[error("cannot read the gateway token {path:?}")]
    TokenUnreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error(transparent)]
    Fetch(#[from] gitview_git::fetch::FetchError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Summarizer(#[from] crate::summarize::SummarizeError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
}

impl RunError {
    /// True when retrying cannot help: the input itself is wrong.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::Sink(err) => !err.is_retryable(),
            Self::Fetch(err) => err.is_invalid_input(),
            Self::Extract(err) => err.is_invalid_input(),
            Self::Summarizer(err) => !err.is_retryable(),
            Self::Pipeline(err) => err.is_invalid_input(),
            // A missing token is the operator's to fix; the next attempt mounts a new one.
            Self::TokenUnreadable { .. } => false,
            _ => true,
        }
    }
}
