//! `gitview-runner analyze`: the laptop face. Extracts a local repository's history into a
//! directory, with no cluster, database or model involved:
//!
//! * `commits.jsonl` — one [`CommitRecord`](crate::record::CommitRecord) per line, in
//!   `git log` order, streamed as each commit is extracted;
//! * `analysis.json` — an [`AnalysisSummary`]: the configuration used, counts, stage timings and
//!   the runner version. Written last: its presence means the run completed.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::AnalyzeError;
use crate::extract::{self, ExtractOptions, Extractor};
use crate::output::{self, JsonlWriter};
use crate::record::CommitRecord;

/// File name of the commit records in the output directory.
pub const COMMITS_FILE: &str = "commits.jsonl";
/// File name of the summary in the output directory.
pub const ANALYSIS_FILE: &str = "analysis.json";

/// What to analyze and where to put it.
#[derive(Clone, Debug)]
pub struct AnalyzeRequest {
    /// A working copy (or a directory in one) or a bare repository.
    pub path: PathBuf,
    /// Exclude commits reachable from this revision.
    pub since: Option<String>,
    /// The last commit included.
    pub until: String,
    /// Created if missing.
    pub out_dir: PathBuf,
    pub options: ExtractOptions,
    /// Log progress every this many commits (0: never).
    pub progress_every: u64,
}

/// The contents of `analysis.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSummary {
    pub runner: RunnerInfo,
    pub config: AnalysisConfig,
    pub counts: Counts,
    pub timings_ms: Timings,
}

/// Which build produced the output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerInfo {
    pub name: String,
    pub version: String,
}

impl RunnerInfo {
    /// This binary.
    pub fn current() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// The configuration of a run, with its revisions resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisConfig {
    /// The path as given.
    pub path: String,
    /// The repository's git directory, as found from `path`.
    pub git_dir: String,
    pub since: Option<String>,
    pub until: String,
    pub since_commit: Option<String>,
    pub until_commit: String,
    pub mailmap: bool,
    pub renames: bool,
    pub first_parent_merge_diffs: bool,
}

/// Totals over all commit records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub commits: u64,
    pub merge_commits: u64,
    /// File entries over all commits (a file changed in two commits counts twice).
    pub files_changed: u64,
    /// File entries whose counts are `null` (binary).
    pub binary_files_changed: u64,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub renames: u64,
}

impl Counts {
    /// Adds one commit.
    pub fn add(&mut self, record: &CommitRecord) {
        self.commits += 1;
        self.merge_commits += u64::from(record.parents.len() > 1);
        self.files_changed += record.files.len() as u64;
        for file in &record.files {
            self.binary_files_changed += u64::from(file.added.is_none());
            self.lines_added += file.added.unwrap_or(0);
            self.lines_deleted += file.deleted.unwrap_or(0);
        }
        self.renames += record.renames.len() as u64;
    }
}

/// Wall-clock time of each stage, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Opening the repository.
    pub open: u64,
    /// Resolving the range and walking it in `git log` order.
    pub walk: u64,
    /// Reading, diffing and writing every commit.
    pub extract: u64,
    pub total: u64,
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs the analysis and writes both files; returns the summary.
pub fn analyze(request: &AnalyzeRequest) -> Result<AnalysisSummary, AnalyzeError> {
    let started = Instant::now();
    let repo = extract::open(&request.path)?;
    let open_ms = millis(started);

    let walk_started = Instant::now();
    let plan = extract::plan(&repo, request.since.as_deref(), &request.until)?;
    let walk_ms = millis(walk_started);
    let total = plan.commits.len();
    tracing::info!(commits = total, until = %plan.until, since = ?plan.since.map(|id| id.to_string()), "walked history");

    let extract_started = Instant::now();
    std::fs::create_dir_all(&request.out_dir).map_err(|source| crate::error::OutputError::Io {
        path: request.out_dir.clone(),
        source,
    })?;
    let mut writer = JsonlWriter::create(&request.out_dir.join(COMMITS_FILE))?;
    let mut extractor = Extractor::new(&repo, request.options.clone())?;
    let mut counts = Counts::default();
    for (done, &id) in plan.commits.iter().enumerate() {
        let record = extractor.commit(id)?;
        counts.add(&record);
        writer.write(&record)?;
        let done = done as u64 + 1;
        if request.progress_every > 0 && done.is_multiple_of(request.progress_every) {
            tracing::info!(done, total, "extracting");
        }
    }
    writer.finish()?;
    let extract_ms = millis(extract_started);

    let summary = AnalysisSummary {
        runner: RunnerInfo::current(),
        config: AnalysisConfig {
            path: request.path.display().to_string(),
            git_dir: repo.git_dir().display().to_string(),
            since: request.since.clone(),
            until: request.until.clone(),
            since_commit: plan.since.map(|id| id.to_string()),
            until_commit: plan.until.to_string(),
            mailmap: request.options.mailmap,
            renames: request.options.renames,
            first_parent_merge_diffs: request.options.first_parent_merge_diffs,
        },
        counts,
        timings_ms: Timings {
            open: open_ms,
            walk: walk_ms,
            extract: extract_ms,
            total: millis(started),
        },
    };
    output::write_json(&request.out_dir.join(ANALYSIS_FILE), &summary)?;
    tracing::info!(
        commits = summary.counts.commits,
        files_changed = summary.counts.files_changed,
        ms = summary.timings_ms.total,
        out = %request.out_dir.display(),
        "analysis written"
    );
    Ok(summary)
}
