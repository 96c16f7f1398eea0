//! What a git history says: pure functions over the extracted records, without I/O, so every
//! figure the story states can be recomputed from the records alone and tested on a history
//! built in a test.
//!
//! The input is a [`History`]: the commits in the order the runner walked them (oldest first),
//! each with its author, time, files and renames, and the labels the enrich stage gave it (its
//! class, conventional-commit scope, references), with paths and authors interned so tens of
//! thousands of commits stay small. Each analysis is a module of its own that reads a
//! `&History` and answers plain data with the commit ids and figures it rests on.
//!
//! Two modules read files rather than histories, for the runner's stages and these analyses
//! alike: [`languages`] (a path's language) and [`manifests`] (the dependencies a manifest
//! declares, and what a commit changed in them — pure parsers; the runner reads the blobs).
//!
//! On top of the analyses: [`narrative`] tells the history in sentences, each a claim with its
//! evidence, without a model; [`check`] holds what a model writes against the same facts.
#![forbid(unsafe_code)]

pub mod check;
pub mod coupling;
pub mod deletions;
pub mod effort;
pub mod evolution;
pub mod history;
pub mod hotspots;
pub mod languages;
mod lineage;
pub mod manifests;
pub mod moves;
pub mod narrative;
pub mod ownership;
pub mod storylines;
pub mod subjects;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use history::{AuthorId, Change, ChangeKind, Commit, CommitLabels, History, PathId};
