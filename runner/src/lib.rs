//! The gitview pipeline.
//!
//! One binary with two faces: `analyze` extracts a local repository's history into files on a
//! laptop ([`analyze`]); `run` executes one attempt of an Analysis inside a runner pod
//! ([`run`]). The stages are modules with their own error types; the parts that decide things
//! ([`extract::numstat`], the commit order in `gitview_git::walk`, URL validation in [`run`]) are pure functions tested without I/O,
//! and the git edge ([`extract`]) is tested against real `git` in `tests/`.
//!
//! Each stage's error type lives beside the stage and says whether another attempt can help;
//! the pipeline's ([`pipeline::PipelineError`]) and each face's ([`analyze::AnalyzeError`],
//! [`run::RunError`]) wrap them. The runner's exit code carries that class to the operator:
//! invalid input (a bad run config, a URL we refuse, a revision that does not exist) exits with
//! [`EXIT_INVALID_INPUT`](gitview_crds::wire::EXIT_INVALID_INPUT) and is never retried;
//! everything else exits 1 and may be retried.
#![forbid(unsafe_code)]

pub mod analysis_json;
pub mod analyze;
pub mod chunk;
pub mod enrich;
pub mod extract;
pub mod pipeline;
pub mod record;
pub mod run;
pub mod scrub;
pub mod sink;
pub mod story;
pub mod summarize;
pub mod tags;
#[cfg(test)]
mod testing;
