//! The records the runner's extract stage produces: one [`CommitRecord`] per commit, written as
//! one line of `commits.jsonl` and stored by the gateway.
//!
//! Text fields (names, emails, messages, paths) are git's bytes decoded as UTF-8, with invalid
//! sequences replaced by U+FFFD; git itself does not guarantee UTF-8 in any of them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One commit, with the files it changed relative to its first parent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommitRecord {
    /// Full hex object id.
    pub id: String,
    /// Parent ids, in order (the first parent first). Empty for a root commit.
    pub parents: Vec<String>,
    pub author: Person,
    pub committer: Person,
    /// The full message, byte for byte as stored (usually ending in a newline).
    pub message: String,
    /// One entry per file, exactly as `git log --numstat --no-renames` lists them: in git's
    /// path order, renames as a deletion plus an addition. Empty for merge commits (git prints
    /// no numstat for merges) unless first-parent merge diffs were asked for, and for commits
    /// that change nothing.
    pub files: Vec<FileStat>,
    /// Renames detected between the same two trees (gix's rename tracking: exact and ≥ 50%
    /// similar content, no copies). They do not change `files`.
    pub renames: Vec<Rename>,
}

/// An author or committer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Person {
    /// The name as recorded (git's `%an`), surrounding whitespace trimmed.
    pub name: String,
    /// The email as recorded (git's `%ae`).
    pub email: String,
    /// RFC 3339 with the offset recorded in the commit, e.g. `2024-05-01T09:30:00+02:00`
    /// (git's `%aI`). Times outside years 0000–9999 are written in git's raw form,
    /// `@<seconds> <+hhmm>`.
    pub time: String,
    /// The identity after applying the repository's `.mailmap` (git's `%aN`/`%aE`); present
    /// only when it differs from `name`/`email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<Identity>,
}

/// A name and an email.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// One line of `git log --numstat`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileStat {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// Lines added; `null` for binary files (git prints `-`).
    pub added: Option<u64>,
    /// Lines deleted; `null` for binary files (git prints `-`).
    pub deleted: Option<u64>,
    /// What happened to the path, like `git log --name-status --no-renames`.
    pub status: FileStatus,
}

/// `A`dded, `D`eleted, `M`odified (content or executable bit), or `T`ype changed (between
/// regular file, symbolic link and submodule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FileStatus {
    #[serde(rename = "A")]
    Added,
    #[serde(rename = "D")]
    Deleted,
    #[serde(rename = "M")]
    Modified,
    #[serde(rename = "T")]
    TypeChanged,
}

/// A file that moved, possibly with edits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Rename {
    pub from: String,
    pub to: String,
    /// Similarity of the contents in percent (100 for an exact rename).
    pub similarity: u8,
}
