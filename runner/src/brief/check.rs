//! `gitview-runner brief --check`: does a `brief.md` still describe the repository's `HEAD`?
//!
//! Reads the commit the brief's marker line names ([`parse_marker`]) and resolves `HEAD`; when
//! they differ, counts the commits of `brief..HEAD` (the walk `analyze` uses) to say how far
//! behind the brief is.

use std::path::{Path, PathBuf};

use gix::ObjectId;

use super::parse_marker;
use crate::extract::{self, ExtractError};

/// What the check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// The brief describes `HEAD`.
    Current { head: String },
    /// `HEAD` moved on.
    Stale {
        /// The commit the brief describes.
        brief: String,
        head: String,
        /// Commits of `brief..HEAD`; `None` when the repository lacks the brief's commit.
        behind: Option<usize>,
        /// The brief's commit is an ancestor of `HEAD` (`false` after a rebase or a reset).
        ancestor: bool,
    },
}

/// Why the check could not answer.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read the brief {path:?}: {source}; write it with `gitview-runner analyze`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path:?} has no gitview-brief marker on its first line \
         (`<!-- gitview-brief v1 head=<commit id> -->`): is it a brief written by `gitview-runner analyze`?"
    )]
    NoMarker { path: PathBuf },
    #[error(transparent)]
    Repository(#[from] ExtractError),
}

/// Compares the brief at `file` with `HEAD` of the repository at or above `repo`.
pub fn check(file: &Path, repo: &Path) -> Result<Freshness, CheckError> {
    let text = std::fs::read_to_string(file).map_err(|source| CheckError::Read {
        path: file.to_owned(),
        source,
    })?;
    let brief = parse_marker(&text)
        .ok_or_else(|| CheckError::NoMarker {
            path: file.to_owned(),
        })?
        .to_ascii_lowercase();
    let git = extract::open(repo)?;
    let head = extract::resolve_commit(&git, "HEAD")?.to_string();
    if head == brief {
        return Ok(Freshness::Current { head });
    }
    let known = ObjectId::from_hex(brief.as_bytes())
        .ok()
        .filter(|id| git.find_commit(*id).is_ok());
    let (behind, ancestor) = match known {
        Some(_) => {
            let behind = extract::plan(&git, Some(&brief), "HEAD")?.commits.len();
            // An ancestor of HEAD has nothing HEAD lacks.
            let ahead = extract::plan(&git, Some("HEAD"), &brief)?.commits.len();
            (Some(behind), ahead == 0)
        }
        None => (None, false),
    };
    Ok(Freshness::Stale {
        brief,
        head,
        behind,
        ancestor,
    })
}

impl Freshness {
    /// One line for the user; `refresh` is the command that writes a current brief.
    pub fn message(&self, name: &str, refresh: &str) -> String {
        match self {
            Self::Current { head } => format!("{name} describes {head}, which is HEAD: current"),
            Self::Stale {
                brief,
                head,
                behind,
                ancestor,
            } => {
                let how = match (behind, ancestor) {
                    (Some(n), true) => {
                        format!("{n} commit{} behind", if *n == 1 { "" } else { "s" })
                    }
                    (Some(n), false) => format!(
                        "its commit is not an ancestor of HEAD (rebased or reset?), and HEAD has {n} commit{} it does not describe",
                        if *n == 1 { "" } else { "s" }
                    ),
                    (None, _) => "this repository does not have its commit".to_owned(),
                };
                format!("{name} describes {brief}, HEAD is {head}: {how}; run `{refresh}`")
            }
        }
    }

    /// The exit code: 0 current, 1 stale.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Current { .. } => 0,
            Self::Stale { .. } => 1,
        }
    }
}
