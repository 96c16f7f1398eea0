//! The gitview pipeline.
//!
//! One binary with two faces: `analyze` runs the pipeline on a laptop into files
//! ([`analyze`]); `run` executes one attempt of an Analysis inside a runner pod and writes
//! through the gateway ([`run`]). Both open (or fetch) a repository and hand it to
//! [`pipeline::run_pipeline`], which runs the stages in order over a [`sink::Sink`]:
//!
//! | module | owns |
//! |---|---|
//! | [`analyze`], [`run`] | the two faces: a request or a pod's run config in, the repository opened or fetched, the pipeline run, an exit code out |
//! | [`pipeline`] | the run as a sequence of stages — walk → extract → enrich → scrub → write → chunk → summarize → story → finish — with progress, timings and metrics |
//! | [`extract`] | the git edge: the repository opened, the range walked, each commit diffed into a [`CommitRecord`](record::CommitRecord) on worker threads (`parallel`); line counts (`numstat`), object reads with git's delta base cache (`packs`), tree diffs (`treediff`); messages in a legacy `encoding` decoded; the blobs of changed dependency manifests read and their dependencies compared (`gitview_history::manifests`) |
//! | [`tags`] | the repository's tags peeled to commits, and which of them are releases: read at the walk, used by enrich, chunk and story |
//! | [`earlier`] | the history before the range that earlier runs stored (the gateway's, or an earlier `analyze`'s folder), so an update tells the whole history |
//! | [`enrich`] | what a commit is: class, languages, references, bot, size, and the dependencies the extract stage found it changed |
//! | [`scrub`] | secrets redacted and emails hashed before anything is written |
//! | [`chunk`] | the history cut into phases, and phases into chunks within the token budget |
//! | [`summarize`] | one summary per chunk (extractive, or a chat model) and the summary cache |
//! | [`story`] | `story.md` and `timeline.json` |
//! | [`report`] | `index.html`: the report page (`gitview-report`) filled from the story stage's facts and analyses |
//! | [`goals`] | critical mode's goals (a file or the profile) and the story's section "Against the goals" |
//! | [`brief`] | `brief.md`, a digest for coding agents within a token budget, and the check that it still describes `HEAD` |
//! | [`sink`] | where results go: the [`Sink`](sink::Sink) trait, the folder `analyze` writes, the gateway sink and the run log it ships |
//! | [`analysis_json`] | the contents of `analysis.json`: configuration, counts, stage timings and metrics |
//! | [`record`] | the commit records, shared with the gateway through `gitview-core` |
//!
//! The parts that decide things ([`extract::numstat`], [`enrich`], [`chunk`], [`story`], the
//! commit order in `gitview_git::walk`, URL validation in [`run`]) are pure functions tested
//! without I/O, and the git edge ([`extract`]) is tested against real `git` in `tests/`.
//!
//! Each stage's error type lives beside the stage and says whether another attempt can help;
//! the pipeline's ([`pipeline::PipelineError`]) and each face's ([`analyze::AnalyzeError`],
//! [`run::RunError`]) wrap them. The runner's exit code carries that class to the operator:
//! invalid input (a bad run config, a URL we refuse, a revision that does not exist) exits with
//! [`EXIT_INVALID_INPUT`](gitview_crds::wire::EXIT_INVALID_INPUT) and is never retried;
//! everything else exits 1 and may be retried.
#![forbid(unsafe_code)]

// The two faces.
pub mod analyze;
pub mod brief;
pub mod clone_cache;
pub mod run;

// The pipeline and its stages (the table above has them in the order they run).
pub mod chunk;
pub mod earlier;
pub mod enrich;
pub mod extract;
pub mod goals;
pub mod pipeline;
pub mod report;
pub mod scrub;
pub mod sink;
pub mod story;
pub mod summarize;
pub mod tags;

// What the stages hand on.
pub mod analysis_json;
pub mod record;

#[cfg(test)]
mod testing;
