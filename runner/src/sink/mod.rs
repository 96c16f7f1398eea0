//! Where results go: the [`Sink`] every result passes through, shaped for a remote service, and
//! [`DirSink`], the folder `analyze` writes.
//!
//! The pipeline calls [`Sink::begin`] once, then [`Sink::commits`] for each batch (numbered from
//! 0), [`Sink::progress`] whenever it has news, [`Sink::phases`] once, [`Sink::artifact`] for
//! each document (`story.md`, `story.json`, `timeline.json`, `brief.md`), and [`Sink::finish`] once, last. A retried
//! attempt may send a batch number again: a sink must not store it twice.
//!
//! The two sinks and what they need: [`DirSink`] here, writing files through [`output`];
//! [`gateway::GatewaySink`], a pod's run writing through the gateway, which also ships the
//! run's own log lines ([`runlog`]) and reads the repository's stored history back
//! ([`history`]).

pub mod gateway;
pub mod history;
pub mod output;
pub mod runlog;

use std::path::{Path, PathBuf};

use gitview_core::artifact;
use serde::{Deserialize, Serialize};

use crate::analysis_json::{AnalysisConfig, AnalysisSummary, RunnerInfo};
use crate::enrich::Enrichment;
use crate::record::CommitRecord;
use crate::story::PhaseRecord;

use output::{JsonlWriter, OutputError};

/// File names [`DirSink`] writes.
pub mod files {
    pub const COMMITS: &str = "commits.jsonl";
    pub const PHASES: &str = "phases.json";
    pub const STORY: &str = "story.md";
    /// The story as data: every sentence of `story.md` with the commits and figures it rests on.
    pub const STORY_JSON: &str = "story.json";
    pub const TIMELINE: &str = "timeline.json";
    /// A digest of the history for coding agents, within a token budget.
    pub const BRIEF: &str = "brief.md";
    /// The report page: the story with its evidence and the history's charts, self-contained.
    pub const REPORT: &str = "index.html";
    /// A pod's run only: the report page for the gateway's web UI, whose commit graph asks for
    /// its rows in windows ([`gitview_report::render_windowed`]).
    pub const REPORT_WINDOWED: &str = "report.html";
    /// A pod's run only: the whole commit graph, which the gateway cuts those windows from.
    pub const GRAPH: &str = "graph.json";
    /// Written last: its presence means the run completed.
    pub const ANALYSIS: &str = "analysis.json";
}

/// What a run is, sent once before anything else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunInfo {
    pub runner: RunnerInfo,
    pub config: AnalysisConfig,
    /// Commits in the range (known once the history is walked).
    pub total_commits: u64,
}

/// A commit record with what the enrich stage found: the record's fields plus an
/// `enrichment` object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichedCommit {
    #[serde(flatten)]
    pub record: CommitRecord,
    pub enrichment: Enrichment,
}

/// The pipeline's stages, as progress reports name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// Bringing the history from the remote (a pod's run only).
    Fetch,
    Walk,
    Extract,
    Chunk,
    Summarize,
    Story,
    Finish,
}

impl Stage {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Walk => "walk",
            Self::Extract => "extract",
            Self::Chunk => "chunk",
            Self::Summarize => "summarize",
            Self::Story => "story",
            Self::Finish => "finish",
        }
    }
}

/// How far a stage got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub stage: Stage,
    pub done: u64,
    pub total: u64,
    /// Time spent in the stage so far.
    pub elapsed_ms: u64,
}

/// Why a sink refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing a file failed (disk full, permissions): another attempt may succeed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The service could not be reached or answered with a transient failure.
    #[error("the results service is unavailable: {0}")]
    Unavailable(String),
    /// The service refused the data, or the calls came in an order the sink cannot take: no
    /// retry helps.
    #[error("the results were refused: {0}")]
    Rejected(String),
}

impl SinkError {
    /// True when another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Output(_) | Self::Unavailable(_))
    }
}

/// Receives every result of a run.
pub trait Sink {
    /// Once, first.
    fn begin(&mut self, run: &RunInfo) -> Result<(), SinkError>;
    /// Batches count from 0; a retried attempt may send the same batch again and it must not
    /// be written twice.
    fn commits(&mut self, batch: u64, commits: &[EnrichedCommit]) -> Result<(), SinkError>;
    /// The phases, with their summaries.
    fn phases(&mut self, phases: &[PhaseRecord]) -> Result<(), SinkError>;
    /// A document, such as `story.md` (`text/markdown`) or `timeline.json`.
    fn artifact(&mut self, name: &str, media_type: &str, bytes: &[u8]) -> Result<(), SinkError>;
    /// Stage, done, total.
    fn progress(&mut self, progress: &Progress) -> Result<(), SinkError>;
    /// Once, last.
    fn finish(&mut self, summary: &AnalysisSummary) -> Result<(), SinkError>;
}

/// Writes a run into a directory: `commits.jsonl`, `phases.json`, the artifacts by name, and
/// `analysis.json` last. Every file appears under its final name only when complete.
#[derive(Debug)]
pub struct DirSink {
    dir: PathBuf,
    commits: Option<JsonlWriter>,
    next_batch: u64,
}

impl DirSink {
    /// A sink writing into `dir` (created by [`Sink::begin`]).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            commits: None,
            next_batch: 0,
        }
    }

    fn writer(&mut self) -> Result<&mut JsonlWriter, SinkError> {
        self.commits
            .as_mut()
            .ok_or_else(|| SinkError::Rejected("commits sent before begin or after finish".into()))
    }
}

impl Sink for DirSink {
    fn begin(&mut self, _run: &RunInfo) -> Result<(), SinkError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| OutputError::Io {
            path: self.dir.clone(),
            source,
        })?;
        // A directory reused from an earlier run must not look complete while this one runs.
        let analysis = self.dir.join(files::ANALYSIS);
        match std::fs::remove_file(&analysis) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(OutputError::Io {
                    path: analysis,
                    source: err,
                }
                .into());
            }
            _ => {}
        }
        self.commits = Some(JsonlWriter::create(&self.dir.join(files::COMMITS))?);
        self.next_batch = 0;
        Ok(())
    }

    fn commits(&mut self, batch: u64, commits: &[EnrichedCommit]) -> Result<(), SinkError> {
        if batch < self.next_batch {
            tracing::debug!(batch, "batch already written");
            return Ok(());
        }
        if batch > self.next_batch {
            return Err(SinkError::Rejected(format!(
                "batch {batch} arrived before batch {}",
                self.next_batch
            )));
        }
        let writer = self.writer()?;
        for commit in commits {
            writer.write(commit)?;
        }
        self.next_batch += 1;
        Ok(())
    }

    fn phases(&mut self, phases: &[PhaseRecord]) -> Result<(), SinkError> {
        output::write_json(&self.dir.join(files::PHASES), &phases)?;
        Ok(())
    }

    fn artifact(&mut self, name: &str, _media_type: &str, bytes: &[u8]) -> Result<(), SinkError> {
        // The gateway's rule too: a plain file name, not one of the sink's own files.
        if !artifact::is_valid_name(name) {
            return Err(SinkError::Rejected(format!(
                "invalid artifact name {name:?}: use {}",
                artifact::NAME_RULE
            )));
        }
        output::write_bytes(&self.dir.join(name), bytes)?;
        Ok(())
    }

    fn progress(&mut self, _progress: &Progress) -> Result<(), SinkError> {
        // The pipeline logs progress; a folder has nowhere else to show it.
        Ok(())
    }

    fn finish(&mut self, summary: &AnalysisSummary) -> Result<(), SinkError> {
        let writer = self
            .commits
            .take()
            .ok_or_else(|| SinkError::Rejected("finish without begin".into()))?;
        writer.finish()?;
        output::write_json(&self.dir.join(files::ANALYSIS), summary)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The artifact rule keeps artifacts off the sink's own files: they must be the files it
    /// reserves.
    #[test]
    fn the_sink_s_own_files_are_the_reserved_names() {
        assert_eq!(
            [files::COMMITS, files::PHASES, files::ANALYSIS],
            artifact::RESERVED_NAMES
        );
        assert!(artifact::is_valid_name(files::STORY) && artifact::is_valid_name(files::TIMELINE));
        assert!(artifact::is_valid_name(files::STORY_JSON));
        assert!(artifact::is_valid_name(files::REPORT));
        assert!(artifact::is_valid_name(files::REPORT_WINDOWED));
        assert!(artifact::is_valid_name(files::GRAPH));
        assert!(artifact::is_valid_name(files::BRIEF));
    }
}
