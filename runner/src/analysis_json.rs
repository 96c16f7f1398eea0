//! The contents of `analysis.json`: what a run was asked (its configuration, revisions
//! resolved), what it found (counts), how long each stage took, what each stage did, and which
//! build made it. [`AnalysisSummary`] is what the pipeline hands to
//! [`Sink::finish`](crate::sink::Sink::finish); a pod's run sends it to the gateway as the run's
//! `metrics`, and its [`ModelVersions`] as `modelVersions`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chunk::PhaseRule;
use crate::record::CommitRecord;
use crate::summarize::{SummarizerInfo, TokenUsage};

/// The contents of `analysis.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisSummary {
    pub runner: RunnerInfo,
    pub config: AnalysisConfig,
    pub counts: Counts,
    pub timings_ms: Timings,
    /// What each stage after extract did.
    #[serde(default)]
    pub stages: StageMetrics,
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

/// What made a run's cuts, summaries and story, as the gateway records it (`modelVersions`):
/// the versions that tell whether two runs' prose is comparable. Metrics are not versions;
/// they are in `metrics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelVersions {
    /// The runner build.
    pub runner: RunnerInfo,
    /// Kind, model and logic version of the summarizer, when the summarize stage ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summarizer: Option<SummarizerInfo>,
    pub prompt_version: String,
    /// The tokenizer's encoding the chunks were cut with.
    pub tokenizer: String,
}

impl AnalysisSummary {
    /// The versions of what made this run's output.
    pub fn model_versions(&self) -> ModelVersions {
        ModelVersions {
            runner: self.runner.clone(),
            summarizer: self.stages.summarize.summarizer.clone(),
            prompt_version: self.stages.summarize.prompt_version.clone(),
            tokenizer: self.stages.chunk.tokenizer.clone(),
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
    /// Secrets redacted and emails hashed.
    #[serde(default)]
    pub scrub: bool,
    #[serde(default)]
    pub token_budget: u64,
    #[serde(default)]
    pub prompt_version: String,
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

/// Wall-clock time of each stage, in milliseconds. Extract, enrich, scrub and write run
/// interleaved, one commit at a time; each counts its own share.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Timings {
    /// Opening the repository.
    pub open: u64,
    /// Resolving the range, walking it in `git log` order, and reading the tags.
    pub walk: u64,
    /// Reading and diffing every commit.
    pub extract: u64,
    pub enrich: u64,
    pub scrub: u64,
    /// Handing commit batches to the sink.
    pub write: u64,
    pub chunk: u64,
    pub summarize: u64,
    /// The story stage, the report page included.
    pub story: u64,
    /// Filling and rendering `index.html` (part of `story`).
    pub report: u64,
    /// Reading the history before the range that earlier runs stored (an update).
    pub earlier: u64,
    pub total: u64,
}

/// Metrics of the stages after extract.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StageMetrics {
    pub enrich: EnrichMetrics,
    pub scrub: ScrubMetrics,
    pub write: WriteMetrics,
    pub chunk: ChunkMetrics,
    pub summarize: SummarizeMetrics,
    pub story: StoryMetrics,
}

/// What the enrich stage found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnrichMetrics {
    /// Commits per class.
    pub classes: BTreeMap<String, u64>,
    /// Commits by bots.
    pub bots: u64,
    /// References found (tickets, issues, pull and merge requests).
    pub references: u64,
    /// Commits carrying a release tag.
    pub release_commits: u64,
}

/// What the scrub stage changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScrubMetrics {
    pub enabled: bool,
    pub secrets: u64,
    pub emails: u64,
}

/// How commits were written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WriteMetrics {
    pub batches: u64,
    pub batch_size: u64,
}

/// How the history was cut.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChunkMetrics {
    /// The tokenizer's encoding.
    pub tokenizer: String,
    pub token_budget: u64,
    /// The rule that cut the phases.
    pub rule: Option<PhaseRule>,
    pub phases: u64,
    pub chunks: u64,
    /// Tokens over all chunks.
    pub tokens: u64,
    /// Chunks whose single commit was cut to fit.
    pub truncated: u64,
}

/// How the chunks were summarized.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SummarizeMetrics {
    /// Kind, model and version of the summarizer.
    pub summarizer: Option<SummarizerInfo>,
    pub prompt_version: String,
    pub chunks: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    /// Summaries of several chunks combined into one (phases of more than one chunk).
    pub combinations: u64,
    /// Combinations taken from the cache.
    pub combination_cache_hits: u64,
    /// Tokens used by a model (zero for the extractive summarizer).
    pub usage: TokenUsage,
    /// What the claim checker found in a model's phase summaries (nothing is checked for the
    /// extractive summarizer, whose text is the facts').
    pub checked: ClaimCheck,
    /// What the model was asked, what it cost and what of it was left out; absent without a
    /// model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelMetrics>,
}

/// A model's part in a run: the budget's plan, the calls and tokens, the estimated cost, and
/// the parts left out of the story with the reason.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModelMetrics {
    pub model: String,
    /// `none`, `minimal`, `balanced` or `full` (see `summarize::budget`).
    pub budget: String,
    /// The parts the budget gave a model call: `overview`, `phase-N`.
    pub planned: Vec<String>,
    /// Calls made to the model (retries of one call not counted; cached summaries neither).
    pub calls: u64,
    /// Tokens as the provider's `usage` reported them, over every call.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: CostEstimate,
    /// The executive overview's claim check (over the whole history), when one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overview_checked: Option<ClaimCheck>,
    /// Parts the model was to write that the story tells without it, and why.
    pub omitted: Vec<Omission>,
}

/// A model's part left out of the story.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Omission {
    /// `overview` or `phase-N`.
    pub part: String,
    pub reason: String,
}

/// The estimated cost of a run's model calls: the tokens times the price table's entry for the
/// model, or null with the reason (never a guessed price).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostEstimate {
    /// In `price.currency`, rounded to a millionth; null without a price.
    pub estimated: Option<f64>,
    /// The price used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<gitview_crds::v1alpha1::ModelPrice>,
    /// Why there is no estimate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The claim checker over a model's text (`gitview_history::check`): every sentence's commits,
/// counts, dates, names and versions held against its phase; a failing sentence is kept marked
/// ` [unverified: …]`, never silently.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClaimCheck {
    /// Phase summaries checked.
    pub texts: u64,
    pub sentences: u64,
    pub passed: u64,
    pub failed: u64,
    /// `passed / sentences` in percent, rounded (the faithfulness figure); absent when nothing
    /// was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faithfulness_percent: Option<u64>,
}

impl ClaimCheck {
    /// Adds one checked text.
    pub fn add(&mut self, checked: &gitview_history::check::Checked) {
        self.texts += 1;
        self.passed += checked.passed as u64;
        self.failed += checked.failed as u64;
        self.sentences = self.passed + self.failed;
        self.faithfulness_percent = (self.passed * 100 + self.sentences / 2)
            .checked_div(self.sentences)
            .or(Some(100));
    }
}

/// What the story holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoryMetrics {
    pub milestones: u64,
    pub months: u64,
    /// Size of `story.md`.
    pub bytes: u64,
    /// Sections and claims of `story.json` (every sentence with its evidence).
    pub sections: u64,
    pub claims: u64,
    /// The budget of `brief.md` and the tokens it holds (`o200k_base`).
    pub brief_budget: u64,
    pub brief_tokens: u64,
    /// Commits the story tells of: the range's and, for an update, those earlier runs stored.
    #[serde(default)]
    pub commits: u64,
    /// Of them, from earlier runs (not extracted again).
    #[serde(default)]
    pub earlier_commits: u64,
    /// Every commit's parents are in the story: it tells the whole history, not a range.
    #[serde(default)]
    pub whole_history: bool,
}
