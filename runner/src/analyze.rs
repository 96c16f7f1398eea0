//! `gitview-runner analyze`: the laptop face. Runs the whole [`pipeline`](crate::pipeline) on a
//! local repository into a directory ([`DirSink`]), on embedded defaults — no cluster, database
//! or model involved unless a model summarizer (chat-completions, Anthropic Messages) is asked
//! for:
//!
//! * `commits.jsonl` — one [`EnrichedCommit`](crate::sink::EnrichedCommit) per line, in
//!   `git log` order, streamed as each commit is extracted;
//! * `phases.json`, `story.md`, `story.json`, `timeline.json` — the phases with their
//!   summaries, the story (as text and as data) and the monthly figures;
//! * `brief.md` — a digest for coding agents within `brief_tokens` ([`crate::brief`]);
//! * `index.html` — the report page ([`crate::report`]): the story with each sentence linked
//!   to its commits, the phases, monthly activity, storylines, hotspots, ownership and
//!   authors, in one file that opens from disk;
//! * `analysis.json` — an [`AnalysisSummary`]: the configuration used, counts, stage timings and
//!   metrics, the runner and summarizer versions. Written last: its presence means the run
//!   completed.

use std::path::PathBuf;
use std::time::Instant;

use crate::analysis_json::AnalysisSummary;
use crate::earlier::{self, Earlier};
use crate::extract::{self, ExtractError, ExtractOptions};
use crate::pipeline::{PipelineOptions, Source, run_pipeline};
use crate::sink::DirSink;
use crate::sink::output::OutputError;
use crate::summarize::anthropic::{self, AnthropicSummarizer};
use crate::summarize::budget::ModelBudget;
use crate::summarize::chat::{ChatConfig, ChatSummarizer};
use crate::summarize::endpoint::ModelConfig;
use crate::summarize::{DirCache, Extractive, Summarizer, cost};
use gitview_crds::v1alpha1::CriticalSettings;

/// File name of the commit records in the output directory.
pub const COMMITS_FILE: &str = crate::sink::files::COMMITS;
/// File name of the summary in the output directory.
pub const ANALYSIS_FILE: &str = crate::sink::files::ANALYSIS;
/// Where summaries are cached when no cache directory is given, inside the output directory.
pub const DEFAULT_CACHE_DIR: &str = ".summary-cache";

/// Which summarizer `analyze` uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SummarizerChoice {
    /// Offline and deterministic.
    #[default]
    Extractive,
    /// An OpenAI-compatible chat-completions endpoint.
    Chat {
        base_url: String,
        model: String,
        /// A file holding the API key (none: no `Authorization` header).
        api_key_file: Option<PathBuf>,
    },
    /// Anthropic's Messages API.
    Anthropic {
        /// None: [`anthropic::DEFAULT_BASE_URL`].
        base_url: Option<String>,
        model: String,
        /// A file holding the API key (none: no `x-api-key` header).
        api_key_file: Option<PathBuf>,
    },
}

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
    /// Redact secrets and hash emails in everything written.
    pub scrub: bool,
    /// Tokens per chunk handed to the summarizer.
    pub token_budget: usize,
    pub summarizer: SummarizerChoice,
    /// Summary cache (default: `OUT/.summary-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Extraction threads (default: [`default_threads`](extract::default_threads)).
    pub threads: Option<usize>,
    /// Tokens of `brief.md` (default [`brief::DEFAULT_TOKENS`](crate::brief::DEFAULT_TOKENS)).
    pub brief_tokens: usize,
    /// Bring `out_dir` up to date: extract only the commits since the analysis already there
    /// ended, and tell the whole history again ([`crate::earlier`]). Excludes `since`.
    pub update: bool,
    /// Which parts get a model call (default `Balanced` with a model).
    pub budget: Option<ModelBudget>,
    /// A price file ([`cost::read_prices`]) for the estimated cost.
    pub prices_file: Option<PathBuf>,
    /// Critical mode: the story measures the history against the goals of this file.
    pub critical: Option<CriticalRequest>,
}

/// Critical mode's inputs on a laptop.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CriticalRequest {
    /// One goal per line, or a Markdown list ([`crate::goals::read_goals`]).
    pub goals_file: PathBuf,
    /// Further instructions to the model.
    pub directives: Option<String>,
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
    #[error(transparent)]
    Goals(#[from] crate::goals::GoalsError),
    #[error("no cache directory for cloned repositories: set GITVIEW_CACHE_DIR or HOME")]
    NoCacheDir,
    #[error(transparent)]
    Earlier(#[from] earlier::EarlierError),
    #[error("cannot update {out:?}: {reason}; run `analyze` without --update to start afresh")]
    CannotUpdate { out: PathBuf, reason: String },
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
            Self::NoCacheDir | Self::Goals(_) | Self::Earlier(_) | Self::CannotUpdate { .. } => {
                true
            }
        }
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Opens a local repository, or clones (then fetches on later runs) a URL into the cache of
/// cloned repositories ([`gitview_git::fetch::default_cache_root`]); returns it with the location to
/// record, credentials removed.
fn open_or_clone(path: &std::path::Path) -> Result<(gix::Repository, String), AnalyzeError> {
    let Some(url) = path
        .to_str()
        .filter(|location| extract::looks_like_url(location))
    else {
        return Ok((extract::open(path)?, path.display().to_string()));
    };
    let location = gitview_core::remote::redact(url);
    let root = gitview_git::fetch::default_cache_root().ok_or(AnalyzeError::NoCacheDir)?;
    tracing::info!(url = %location, cache = %root.display(), "fetching");
    let fetched = gitview_git::fetch::fetch_cached(
        &root,
        url,
        None,
        gitview_git::fetch::Credentials::none(),
    )?;
    Ok((extract::open(&fetched.git_dir)?, location))
}

/// Runs the analysis and writes every file; returns the summary.
pub fn analyze(request: &AnalyzeRequest) -> Result<AnalysisSummary, AnalyzeError> {
    let started = Instant::now();
    // The inputs read from files first: a wrong one fails before any work.
    let critical = match &request.critical {
        Some(critical) => Some(CriticalSettings {
            goals: crate::goals::read_goals(&critical.goals_file)?,
            directives: critical.directives.clone(),
        }),
        None => None,
    };
    let prices = match &request.prices_file {
        Some(path) => cost::read_prices(path)?,
        None => Vec::new(),
    };
    let critical_block = critical
        .as_ref()
        .map(|c| crate::summarize::critical_block(&c.goals, c.directives.as_deref()));
    let (repo, location) = open_or_clone(&request.path)?;
    let open_ms = millis(started);

    let mut summarizer: Box<dyn Summarizer> = match &request.summarizer {
        SummarizerChoice::Extractive => Box::new(Extractive),
        SummarizerChoice::Chat {
            base_url,
            model,
            api_key_file,
        } => {
            let mut config = ChatConfig::new(base_url, model);
            config.critical = critical_block.clone();
            if let Some(path) = api_key_file {
                config = config.with_api_key_file(path)?;
            }
            Box::new(ChatSummarizer::new(config)?)
        }
        SummarizerChoice::Anthropic {
            base_url,
            model,
            api_key_file,
        } => {
            let base_url = base_url.as_deref().unwrap_or(anthropic::DEFAULT_BASE_URL);
            let mut config = ModelConfig::new(base_url, model);
            config.critical = critical_block.clone();
            if let Some(path) = api_key_file {
                config = config.with_api_key_file(path)?;
            }
            Box::new(AnthropicSummarizer::new(config)?)
        }
    };
    let cache_dir = request
        .cache_dir
        .clone()
        .unwrap_or_else(|| request.out_dir.join(DEFAULT_CACHE_DIR));
    let mut cache = DirCache::new(&cache_dir);
    let (since, earlier) = if request.update {
        let (since, earlier) = earlier_run(&repo, request)?;
        (Some(since), earlier)
    } else {
        (request.since.clone(), Earlier::none())
    };
    let mut sink = DirSink::new(&request.out_dir);
    let options = PipelineOptions {
        since,
        until: request.until.clone(),
        extract: request.options.clone(),
        scrub: request.scrub,
        token_budget: request.token_budget,
        batch_size: PipelineOptions::default().batch_size,
        progress_every: request.progress_every,
        threads: request.threads.unwrap_or_else(extract::default_threads),
        brief_tokens: request.brief_tokens,
        budget: request.budget,
        prices,
        critical,
        report_page: true,
        ..PipelineOptions::default()
    };
    let source = Source {
        repo: &repo,
        location,
        started,
        open_ms,
        earlier,
    };
    let summary = run_pipeline(
        &source,
        &options,
        summarizer.as_mut(),
        &mut cache,
        &mut sink,
    )?;
    tracing::info!(
        commits = summary.counts.commits,
        files_changed = summary.counts.files_changed,
        ms = summary.timings_ms.total,
        out = %request.out_dir.display(),
        "analysis written"
    );
    Ok(summary)
}

/// What `--update` builds on: the analysis already in the output directory, checked to be of
/// this repository, with the same scrubbing, and ending at an ancestor of `until`; returns
/// where it ended (the new range's `since`) and its commits.
fn earlier_run(
    repo: &gix::Repository,
    request: &AnalyzeRequest,
) -> Result<(String, Earlier), AnalyzeError> {
    let cannot = |reason: String| AnalyzeError::CannotUpdate {
        out: request.out_dir.clone(),
        reason,
    };
    if request.since.is_some() {
        return Err(cannot(
            "--update starts where the earlier analysis ended, so --since cannot be given".into(),
        ));
    }
    let (previous, earlier) = earlier::from_output(&request.out_dir)?;
    let same_dir = |a: &std::path::Path, b: &std::path::Path| {
        std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
    };
    if !same_dir(
        repo.git_dir(),
        std::path::Path::new(&previous.config.git_dir),
    ) {
        return Err(cannot(format!(
            "it holds an analysis of {}, not of {}",
            previous.config.git_dir,
            repo.git_dir().display()
        )));
    }
    if previous.config.scrub != request.scrub {
        return Err(cannot(format!(
            "the analysis there was written {} --scrub",
            if previous.config.scrub {
                "with"
            } else {
                "without"
            }
        )));
    }
    let until = extract::resolve_commit(repo, &request.until)?;
    let ended = &previous.config.until_commit;
    let ended_id = gix::ObjectId::from_hex(ended.as_bytes())
        .map_err(|_| cannot(format!("its untilCommit {ended:?} is not a commit id")))?;
    let base = repo.merge_base(ended_id, until).map_err(|err| {
        cannot(format!(
            "{ended} and {} share no history: {err}",
            request.until
        ))
    })?;
    if base.map(gix::Id::detach) != Some(ended_id) {
        return Err(cannot(format!(
            "it ended at {ended}, which is not in the history of {} (was the history rewritten?)",
            request.until
        )));
    }
    Ok((ended.clone(), earlier))
}
