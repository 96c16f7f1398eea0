//! The whole run over any [`Sink`]: walk → extract → enrich → scrub → write commits in
//! batches → chunk → summarize (with the cache) → story and brief → artifacts → finish.
//!
//! Commits stream: each record is extracted, enriched, scrubbed and handed to the sink in
//! batches of [`PipelineOptions::batch_size`], and only its [`CommitFacts`] stay in memory for
//! the later stages. Nothing reaches the sink before the range is resolved, so bad input
//! writes nothing. Progress (stage, done, total, elapsed time) goes to `tracing` and to
//! [`Sink::progress`]; per-stage metrics end up in the [`AnalysisSummary`] given to
//! [`Sink::finish`].
//!
//! [`run_pipeline`] reads as that sequence: each step is a method of the run under way, which
//! holds the sink and the timings and metrics; the summarize step is in `summaries.rs`.

mod model;
#[cfg(test)]
mod model_tests;
mod summaries;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::analysis_json::{
    AnalysisConfig, AnalysisSummary, ChunkMetrics, Counts, RunnerInfo, StageMetrics, StoryMetrics,
    Timings,
};
use crate::brief::{self, BriefInput};
use crate::chunk::{self, Chunk, Phase};
use crate::earlier::{self, Earlier};
use crate::enrich::{self, CommitFacts};
use crate::extract::{ExtractError, ExtractOptions, Extracted, ParallelExtract, default_threads};
use crate::report::ReportInput;
use crate::scrub;
use crate::sink::{EnrichedCommit, Progress, RunInfo, Sink, SinkError, Stage, files};
use crate::story::{self, PhaseRecord, StoryInput};
use crate::summarize::{CacheError, SummarizeError, Summarizer, SummaryCache};
use crate::tags::{self, TagError, TagIndex};
use gitview_core::story::StoryCoverage;
use gitview_crds::v1alpha1::{CriticalSettings, ModelBudget, ModelPrice};
use gitview_history::narrative::{Analyses, render_markdown};
use gitview_history::{CommitLabels, History};
use model::{Counting, ModelRun, OverviewInput};

/// Media type of `story.md`.
pub const MARKDOWN: &str = "text/markdown; charset=utf-8";
/// Media type of `index.html`.
pub const HTML: &str = "text/html; charset=utf-8";
/// Media type of `timeline.json`.
pub const JSON: &str = "application/json";

/// How a run goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineOptions {
    /// Exclude commits reachable from this revision.
    pub since: Option<String>,
    /// The last commit included.
    pub until: String,
    pub extract: ExtractOptions,
    /// Redact secrets and hash emails before anything reaches the sink.
    pub scrub: bool,
    /// Tokens per chunk.
    pub token_budget: usize,
    /// Version of the prompts (part of the summary cache key).
    pub prompt_version: String,
    /// Commits per [`Sink::commits`] call.
    pub batch_size: usize,
    /// Report extract progress every this many commits (0: only at the end).
    pub progress_every: u64,
    /// Threads extracting commits (each with its own repository handle); at least 1.
    pub threads: usize,
    /// Tokens of `brief.md`.
    pub brief_tokens: usize,
    /// Which parts get a model call (`Balanced` when unset; nothing without a model).
    pub budget: Option<ModelBudget>,
    /// Model prices, for the estimated cost in `analysis.json`.
    pub prices: Vec<ModelPrice>,
    /// Critical mode: the goals the story measures the history against.
    pub critical: Option<CriticalSettings>,
    /// Also write `index.html`, the report page ([`crate::report`]): `analyze` does, and so
    /// does a pod's run (the gateway's web UI frames it); a page the gateway refuses (too
    /// large for a gateway without object storage) is left out, logged, and the run goes on.
    pub report_page: bool,
    /// With [`Self::report_page`], also write `report.html` and `graph.json`: the page for
    /// the gateway's web UI, whose commit graph fetches its rows in windows, and the graph they
    /// are cut from. A pod's run does; `analyze` writes the one self-contained page.
    pub graph_windows: bool,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        let stages = gitview_crds::v1alpha1::StageSettings::default();
        Self {
            since: None,
            until: "HEAD".into(),
            extract: ExtractOptions::default(),
            scrub: false,
            token_budget: usize::try_from(stages.chunk.token_budget).unwrap_or(6000),
            prompt_version: stages.summarize.prompt_version,
            batch_size: 500,
            progress_every: 1000,
            threads: default_threads(),
            brief_tokens: brief::DEFAULT_TOKENS,
            budget: None,
            prices: Vec::new(),
            critical: None,
            report_page: false,
            graph_windows: false,
        }
    }
}

impl PipelineOptions {
    /// The options of a pod run: the profile's stage settings and the account's scrub policy.
    /// The range (`since`, `until`) stays `HEAD` with nothing excluded: it depends on the mode
    /// and, for incremental runs, on the gateway, so the caller sets it.
    pub fn from_run_config(config: &gitview_crds::wire::RunConfig) -> Self {
        let stages = &config.profile.stages;
        let defaults = Self::default();
        Self {
            extract: ExtractOptions {
                mailmap: stages.extract.mailmap,
                renames: true,
                first_parent_merge_diffs: stages.extract.first_parent_merge_diffs,
            },
            scrub: config.scrub_pii,
            token_budget: usize::try_from(stages.chunk.token_budget)
                .unwrap_or(defaults.token_budget),
            prompt_version: stages.summarize.prompt_version.clone(),
            budget: stages.summarize.budget,
            prices: stages.summarize.prices.clone(),
            critical: stages.summarize.critical.clone(),
            brief_tokens: usize::try_from(stages.story.brief_tokens)
                .unwrap_or(defaults.brief_tokens),
            report_page: true,
            graph_windows: true,
            ..defaults
        }
    }
}

/// The repository a run reads.
#[derive(Debug)]
pub struct Source<'r> {
    pub repo: &'r gix::Repository,
    /// The path or URL as given (recorded in `analysis.json`).
    pub location: String,
    /// When the run started (the total time counts from here).
    pub started: Instant,
    /// Time spent opening (or cloning) the repository.
    pub open_ms: u64,
    /// The history before the range that earlier runs extracted: the story tells it with the
    /// range's commits ([`crate::earlier`]).
    pub earlier: Earlier,
}

/// Errors of a run.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Tags(#[from] TagError),
    #[error(transparent)]
    Summarize(#[from] SummarizeError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl PipelineError {
    /// True when retrying cannot help: the input itself is wrong, or was refused.
    pub fn is_invalid_input(&self) -> bool {
        match self {
            Self::Extract(err) => err.is_invalid_input(),
            Self::Summarize(err) => !err.is_retryable(),
            Self::Sink(err) => !err.is_retryable(),
            Self::Tags(_) | Self::Cache(_) => false,
        }
    }
}

/// Runs every stage and hands the results to `sink`; returns what was given to
/// [`Sink::finish`].
pub fn run_pipeline(
    source: &Source<'_>,
    options: &PipelineOptions,
    summarizer: &mut dyn Summarizer,
    cache: &mut dyn SummaryCache,
    sink: &mut dyn Sink,
) -> Result<AnalysisSummary, PipelineError> {
    let mut run = Run::new(source, options, sink);
    chunk::warm_up_tokenizer();
    let walked = run.walk()?;
    let streamed = run.stream(walked.commits, walked.extractors, &walked.tags)?;
    let cut = run.chunk(
        streamed.facts,
        streamed.history,
        streamed.tokens,
        streamed.missing_parents,
    )?;
    let commits: Vec<u64> = cut
        .phases
        .iter()
        .map(|p| (p.end - p.start) as u64)
        .collect();
    let mut model = ModelRun::new(&summarizer.info(), options.budget, &commits);
    let mut summarizer = Counting {
        inner: summarizer,
        calls: 0,
    };
    let phases = run.summarize(&cut, &mut summarizer, cache, &mut model)?;
    run.story(&walked.config, &cut, &phases, &mut summarizer, &mut model)?;
    if let Some(mut model) = model {
        let usage = run.stages.summarize.usage;
        model.metrics.calls = summarizer.calls;
        model.used(usage);
        run.stages.summarize.model = Some(model.finish(&options.prices));
    }
    run.finish(walked.config, streamed.counts)
}

/// A run under way: what every stage reads (the source, the options) and writes (the sink, and
/// the timings and metrics that end up in `analysis.json`).
struct Run<'a> {
    source: &'a Source<'a>,
    options: &'a PipelineOptions,
    sink: &'a mut dyn Sink,
    timings: Timings,
    stages: StageMetrics,
}

/// What the walk hands on.
struct Walked {
    /// The run's configuration, revisions resolved.
    config: AnalysisConfig,
    /// Commits in the range.
    commits: usize,
    /// The workers extracting them, in the walk's order.
    extractors: ParallelExtract,
    tags: TagIndex,
}

/// What the streaming stages keep of every commit, in `git log` order.
struct Streamed {
    facts: Vec<CommitFacts>,
    /// The same commits with their files, for the story's analyses.
    history: History,
    counts: Counts,
    /// The tokens of each commit's chunk line, still being counted.
    tokens: TokenCounter,
    /// Commits whose parents are not all in the history (0: the whole history).
    missing_parents: u64,
}

/// The history cut: its commits oldest first, its phases, and each phase's chunks.
struct Cut {
    facts: Vec<CommitFacts>,
    /// Oldest first, like `facts`.
    history: History,
    phases: Vec<Phase>,
    chunks: Vec<Vec<Chunk>>,
    /// Commits whose parents are not all in the history (0: the whole history).
    missing_parents: u64,
}

impl Cut {
    /// Chunks over all phases.
    fn chunk_count(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).sum()
    }
}

impl<'a> Run<'a> {
    fn new(source: &'a Source<'a>, options: &'a PipelineOptions, sink: &'a mut dyn Sink) -> Self {
        Self {
            source,
            options,
            sink,
            timings: Timings {
                open: source.open_ms,
                ..Timings::default()
            },
            stages: StageMetrics::default(),
        }
    }

    /// Resolves the range and lists its commits while the extraction workers start on them,
    /// reads the tags, and tells the sink what the run is. Nothing reaches the sink before the
    /// range is resolved.
    fn walk(&mut self) -> Result<Walked, PipelineError> {
        let (repo, options) = (self.source.repo, self.options);
        // The extraction workers start on the first commits while the walk lists the rest.
        let walk_started = Instant::now();
        let (plan, extractors) = ParallelExtract::plan_and_spawn(
            repo,
            options.since.as_deref(),
            &options.until,
            &options.extract,
            options.threads,
        )?;
        let tag_list = tags::read_tags(repo)?;
        let tags = TagIndex::new(&tag_list);
        self.timings.walk = ms(walk_started.elapsed());
        let total = plan.commits.len() as u64;
        tracing::info!(commits = total, until = %plan.until, since = ?plan.since.map(|id| id.to_string()), tags = tag_list.len(), "walked history");

        let config = AnalysisConfig {
            path: self.source.location.clone(),
            git_dir: repo.git_dir().display().to_string(),
            since: options.since.clone(),
            until: options.until.clone(),
            since_commit: plan.since.map(|id| id.to_string()),
            until_commit: plan.until.to_string(),
            mailmap: options.extract.mailmap,
            renames: options.extract.renames,
            first_parent_merge_diffs: options.extract.first_parent_merge_diffs,
            scrub: options.scrub,
            token_budget: options.token_budget as u64,
            prompt_version: options.prompt_version.clone(),
        };
        self.sink.begin(&RunInfo {
            runner: RunnerInfo::current(),
            config: config.clone(),
            total_commits: total,
        })?;
        self.report(Stage::Walk, total, total, walk_started)?;
        Ok(Walked {
            config,
            commits: plan.commits.len(),
            extractors,
            tags,
        })
    }

    /// Extract, enrich, scrub and write, one commit at a time; the sink gets the commits in
    /// batches of [`PipelineOptions::batch_size`].
    fn stream(
        &mut self,
        commits: usize,
        mut extractors: ParallelExtract,
        tag_index: &TagIndex,
    ) -> Result<Streamed, PipelineError> {
        let options = self.options;
        let total = commits as u64;
        // Meanwhile another thread loads the tokenizer and counts the tokens of each commit's
        // chunk line, beside the extraction workers.
        let tokens = TokenCounter::start();
        let stream_started = Instant::now();
        let (mut t_extract, mut t_enrich, mut t_scrub, mut t_write) = Default::default();
        let mut counts = Counts::default();
        let mut told = Told::new(commits, tokens);
        let batch_size = options.batch_size.max(1);
        let mut batch: Vec<EnrichedCommit> = Vec::with_capacity(batch_size.min(commits));
        let mut batches = 0u64;
        let mut classes: BTreeMap<String, u64> = BTreeMap::new();
        let earlier = &self.source.earlier;
        // With earlier commits to merge, the range's commits wait to be ordered with them.
        let mut new_commits: Vec<EnrichedCommit> = Vec::new();
        for done in 0..commits {
            let t = Instant::now();
            let Extracted {
                mut record,
                dependencies,
            } = extractors.next(done)?;
            t_extract += t.elapsed();
            counts.add(&record);

            let t = Instant::now();
            let mut enrichment = enrich::enrich(&record, tag_index.of(&record.id));
            enrichment.dependencies = dependencies;
            *classes
                .entry(enrichment.class.as_str().to_owned())
                .or_default() += 1;
            self.stages.enrich.bots += u64::from(enrichment.bot);
            self.stages.enrich.references += enrichment.references.len() as u64;
            self.stages.enrich.release_commits += u64::from(!enrichment.releases.is_empty());
            t_enrich += t.elapsed();

            if options.scrub {
                let t = Instant::now();
                let found = scrub::scrub_record(&mut record);
                self.stages.scrub.secrets += found.secrets;
                self.stages.scrub.emails += found.emails;
                t_scrub += t.elapsed();
            }
            let commit = EnrichedCommit { record, enrichment };
            if earlier.is_empty() {
                told.push(&commit);
                batch.push(commit);
            } else if earlier.rewrite {
                // Written with the earlier ones, in the merged order.
                new_commits.push(commit);
            } else {
                new_commits.push(commit.clone());
                batch.push(commit);
            }
            if batch.len() >= batch_size {
                let t = Instant::now();
                self.sink.commits(batches, &batch)?;
                t_write += t.elapsed();
                batches += 1;
                batch.clear();
            }
            let done = done as u64 + 1;
            if options.progress_every > 0 && done.is_multiple_of(options.progress_every) {
                self.report(Stage::Extract, done, total, stream_started)?;
            }
        }
        if !batch.is_empty() {
            let t = Instant::now();
            self.sink.commits(batches, &batch)?;
            t_write += t.elapsed();
            batches += 1;
            batch.clear();
        }
        drop(batch);
        if !earlier.is_empty() {
            let t = Instant::now();
            let rewritten =
                self.tell_with_earlier(new_commits, tag_index, &mut told, &mut batches)?;
            self.timings.earlier = ms(t.elapsed());
            tracing::info!(
                commits = self.stages.story.earlier_commits,
                rewritten,
                ms = self.timings.earlier,
                "read the history before the range"
            );
        }
        self.report(Stage::Extract, total, total, stream_started)?;
        self.timings.extract = ms(t_extract);
        self.timings.enrich = ms(t_enrich);
        self.timings.scrub = ms(t_scrub);
        self.timings.write = ms(t_write);
        self.stages.enrich.classes = classes;
        self.stages.scrub.enabled = options.scrub;
        self.stages.write.batches = batches;
        self.stages.write.batch_size = batch_size as u64;
        let missing_parents = earlier::missing_parents(
            told.parents
                .iter()
                .map(|(id, p)| (id.as_str(), p.as_slice())),
        );
        Ok(Streamed {
            facts: told.facts,
            history: told.history,
            counts,
            tokens: told.tokens,
            missing_parents,
        })
    }

    /// Merges the range's commits with the history before it (as earlier runs stored it),
    /// lists them all as `git log` would, and tells them; a sink rewritten whole (a directory)
    /// gets them all in that order. Returns how many stored commits the range's tip does
    /// not reach (left from a rewritten history), which are left out.
    fn tell_with_earlier(
        &mut self,
        new_commits: Vec<EnrichedCommit>,
        tag_index: &TagIndex,
        told: &mut Told,
        batches: &mut u64,
    ) -> Result<u64, PipelineError> {
        let earlier = &self.source.earlier;
        let options = self.options;
        let new: std::collections::HashSet<String> =
            new_commits.iter().map(|c| c.record.id.clone()).collect();
        let mut merged: Vec<Prepared> = new_commits.into_iter().map(Prepared::new).collect();
        let first_earlier = merged.len();
        // Enriched again (or their stored enrichment taken), their facts drawn and their chunk
        // lines' tokens counted, in as many slices as there are cores: for a 100,000-commit
        // history this is most of an update's work, and none of it depends on the order.
        let again = |commits: &[earlier::EarlierCommit]| -> Vec<Prepared> {
            commits
                .iter()
                .filter(|commit| !new.contains(commit.record.id.as_str()))
                .map(|commit| {
                    let mut record = commit.record.clone();
                    let enrichment = enrich_again(commit, tag_index, earlier.stored_tags);
                    if options.scrub && !earlier.scrubbed {
                        scrub::scrub_record(&mut record);
                    }
                    Prepared::new(EnrichedCommit { record, enrichment })
                })
                .collect()
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let slice = earlier.commits.len().div_ceil(threads).max(1024);
        std::thread::scope(|scope| {
            let slices: Vec<_> = earlier
                .commits
                .chunks(slice)
                .map(|commits| scope.spawn(move || again(commits)))
                .collect();
            for enriched in slices {
                merged.extend(enriched.join().expect("enriching does not panic"));
            }
        });
        let entries: Vec<earlier::GraphEntry<'_>> = merged
            .iter()
            .map(|p| {
                let record = &p.commit.record;
                let time = gitview_core::time::epoch_seconds(&record.committer.time).unwrap_or(0);
                (record.id.as_str(), record.parents.as_slice(), time)
            })
            .collect();
        let order = earlier::log_order(&entries);
        drop(entries);
        let rewritten = (merged.len() - order.len()) as u64;
        let batch_size = options.batch_size.max(1);
        let mut batch = Vec::with_capacity(batch_size);
        for index in order {
            let prepared = &mut merged[index];
            let facts = prepared.facts.take().expect("each commit is told once");
            told.push_prepared(&prepared.commit, facts, prepared.tokens);
            if index >= first_earlier {
                self.stages.story.earlier_commits += 1;
            }
            if earlier.rewrite {
                batch.push(prepared.commit.clone());
                if batch.len() >= batch_size {
                    self.sink.commits(*batches, &batch)?;
                    *batches += 1;
                    batch.clear();
                }
            }
        }
        if !batch.is_empty() {
            self.sink.commits(*batches, &batch)?;
            *batches += 1;
        }
        Ok(rewritten)
    }

    /// Cuts the history, oldest commit first, into phases, and each phase into chunks that fit
    /// the token budget.
    fn chunk(
        &mut self,
        mut facts: Vec<CommitFacts>,
        mut history: History,
        tokens: TokenCounter,
        missing_parents: u64,
    ) -> Result<Cut, PipelineError> {
        let options = self.options;
        let chunk_started = Instant::now();
        let mut line_tokens = tokens.finish();
        facts.reverse(); // chronological
        history.reverse();
        line_tokens.reverse();
        let phases = chunk::phases(&facts);
        let chunks: Vec<Vec<Chunk>> = phases
            .iter()
            .map(|phase| {
                chunk::chunk_phase_counted(
                    &facts,
                    phase,
                    options.token_budget,
                    &line_tokens[phase.start..phase.end],
                )
            })
            .collect();
        let cut = Cut {
            facts,
            history,
            phases,
            chunks,
            missing_parents,
        };
        let all_chunks = cut.chunk_count();
        self.stages.chunk = ChunkMetrics {
            tokenizer: chunk::TOKENIZER.into(),
            token_budget: options.token_budget as u64,
            rule: cut.phases.first().map(|p| p.rule),
            phases: cut.phases.len() as u64,
            chunks: all_chunks,
            tokens: cut.chunks.iter().flatten().map(|c| c.tokens as u64).sum(),
            truncated: cut.chunks.iter().flatten().filter(|c| c.truncated).count() as u64,
        };
        self.timings.chunk = ms(chunk_started.elapsed());
        self.report(Stage::Chunk, all_chunks, all_chunks, chunk_started)?;
        Ok(cut)
    }

    /// Writes `story.md`, `story.json`, `timeline.json` and `brief.md`: the story told from
    /// the facts, with critical mode's section "Against the goals" after its first, and the
    /// model's overview, if it writes one that holds, first; and `index.html`, the report page,
    /// when [`PipelineOptions::report_page`] asks for it.
    fn story(
        &mut self,
        config: &AnalysisConfig,
        cut: &Cut,
        records: &[PhaseRecord],
        summarizer: &mut Counting<'_>,
        model: &mut Option<ModelRun>,
    ) -> Result<(), PipelineError> {
        let story_started = Instant::now();
        // An update with the history before its range tells the whole history, as a full run.
        let whole = cut.missing_parents == 0;
        let since = config.since.as_deref().filter(|_| !whole);
        let range = match since {
            Some(since) => format!("{since}..{}", config.until),
            None => config.until.clone(),
        };
        let title = story_title(self.source);
        let ranges: Vec<std::ops::Range<usize>> =
            cut.phases.iter().map(|p| p.start..p.end).collect();
        let analyses = Analyses::of(&cut.history, &ranges);
        let mut document = story::story(&StoryInput {
            title: &title,
            range: &range,
            facts: &cut.facts,
            history: &cut.history,
            analyses: &analyses,
            phases: records,
            ranges: &ranges,
        });
        let missing = cut.missing_parents;
        document.coverage = Some(StoryCoverage {
            whole_history: missing == 0,
            commits: cut.facts.len() as u64,
            first_commit: cut.facts.first().map(|f| f.id.clone()),
            last_commit: cut.facts.last().map(|f| f.id.clone()),
        });
        if let Some(critical) = &self.options.critical
            && !critical.goals.is_empty()
        {
            let at = 1.min(document.sections.len());
            document.sections.insert(
                at,
                crate::goals::against_the_goals(&critical.goals, &cut.history),
            );
        }
        if let Some(model) = model.as_mut() {
            let overview = model.overview(
                summarizer,
                &OverviewInput {
                    title: &title,
                    range: &range,
                    facts: &cut.facts,
                    history: &cut.history,
                    document: &document,
                    budget: self.options.token_budget,
                },
            )?;
            if let Some(section) = overview {
                document.sections.insert(0, section);
            }
        }
        let story_text = render_markdown(&document);
        let mut story_json =
            serde_json::to_vec_pretty(&document).expect("a story always serializes");
        story_json.push(b'\n');
        let timeline = story::timeline(&cut.facts);
        let mut timeline_json =
            serde_json::to_vec_pretty(&timeline).expect("a timeline always serializes");
        timeline_json.push(b'\n');
        let report_input = self.options.report_page.then(|| ReportInput {
            story: &document,
            range: &range,
            facts: &cut.facts,
            analyses: &analyses,
            phases: records,
            ranges: &ranges,
            timeline: &timeline,
        });
        // The report page is drawn on a thread of its own while the brief is written and the
        // other artifacts go out: on git/git it is half a second of the story stage.
        std::thread::scope(|scope| -> Result<(), PipelineError> {
            let windows = self.options.graph_windows;
            let rendering = report_input.as_ref().map(|input| {
                scope.spawn(move || {
                    let started = Instant::now();
                    let report = crate::report::report(input);
                    let pages = if windows {
                        gitview_report::render_windowed(&report)
                    } else {
                        gitview_report::Windowed {
                            whole: gitview_report::render(&report),
                            page: String::new(),
                            graph: String::new(),
                        }
                    };
                    (pages, started.elapsed())
                })
            });
            let brief = brief::brief(
                &BriefInput {
                    title: &title,
                    head: &config.until_commit,
                    since,
                    facts: &cut.facts,
                    history: &cut.history,
                    phases: &cut.phases,
                    analyses: &analyses,
                },
                self.options.brief_tokens,
            );
            self.stages.story = StoryMetrics {
                commits: cut.facts.len() as u64,
                earlier_commits: self.stages.story.earlier_commits,
                whole_history: missing == 0,
                milestones: story::milestones(&cut.facts).len() as u64,
                months: timeline.months.len() as u64,
                bytes: story_text.len() as u64,
                sections: document.sections.len() as u64,
                claims: document
                    .sections
                    .iter()
                    .map(|s| s.claims.len() as u64)
                    .sum(),
                brief_budget: self.options.brief_tokens as u64,
                brief_tokens: brief.tokens as u64,
            };
            self.sink
                .artifact(files::STORY, MARKDOWN, story_text.as_bytes())?;
            self.sink.artifact(files::STORY_JSON, JSON, &story_json)?;
            self.sink.artifact(files::TIMELINE, JSON, &timeline_json)?;
            self.sink
                .artifact(files::BRIEF, MARKDOWN, brief.text.as_bytes())?;
            if let Some(rendering) = rendering {
                let (pages, took) = rendering
                    .join()
                    .expect("drawing the report page does not panic");
                let mut written = vec![(files::REPORT, HTML, pages.whole.as_bytes())];
                if self.options.graph_windows {
                    written.push((files::GRAPH, JSON, pages.graph.as_bytes()));
                    written.push((files::REPORT_WINDOWED, HTML, pages.page.as_bytes()));
                }
                for (name, media_type, bytes) in written {
                    match self.sink.artifact(name, media_type, bytes) {
                        // The pages are a view of what the other artifacts hold: one the store
                        // refuses (too large for a gateway without object storage) does not
                        // fail the run.
                        Err(SinkError::Rejected(reason)) => tracing::warn!(
                            name,
                            bytes = bytes.len(),
                            reason,
                            "a report page was refused: the run goes on without it"
                        ),
                        other => other?,
                    }
                }
                self.timings.report = ms(took);
                tracing::info!(
                    bytes = pages.whole.len(),
                    ms = self.timings.report,
                    "report page written"
                );
            }
            Ok(())
        })?;
        self.timings.story = ms(story_started.elapsed());
        self.report(Stage::Story, 1, 1, story_started)?;
        Ok(())
    }

    /// Hands the summary to the sink, last.
    fn finish(
        self,
        config: AnalysisConfig,
        counts: Counts,
    ) -> Result<AnalysisSummary, PipelineError> {
        let Self {
            source,
            sink,
            mut timings,
            stages,
            ..
        } = self;
        timings.total = ms(source.started.elapsed());
        let summary = AnalysisSummary {
            runner: RunnerInfo::current(),
            config,
            counts,
            timings_ms: timings,
            stages,
        };
        sink.finish(&summary)?;
        tracing::info!(
            commits = summary.counts.commits,
            phases = summary.stages.chunk.phases,
            chunks = summary.stages.chunk.chunks,
            cache_hits = summary.stages.summarize.cache_hits,
            ms = summary.timings_ms.total,
            "analysis complete"
        );
        Ok(summary)
    }

    /// Logs how far `stage` got and tells the sink.
    fn report(
        &mut self,
        stage: Stage,
        done: u64,
        total: u64,
        since: Instant,
    ) -> Result<(), SinkError> {
        let elapsed_ms = ms(since.elapsed());
        tracing::info!(stage = stage.as_str(), done, total, elapsed_ms, "progress");
        self.sink.progress(&Progress {
            stage,
            done,
            total,
            elapsed_ms,
        })
    }
}

/// A commit from before the range, enriched by today's rules: its stored enrichment as it is
/// when today's rules made it ([`enrich::RULES`]), else enriched again from its record. From
/// the stored enrichment come the dependencies its manifests changed and, with `stored_tags`,
/// its tags where the repository at hand knows none ([`crate::earlier`]).
fn enrich_again(
    commit: &earlier::EarlierCommit,
    tag_index: &TagIndex,
    stored_tags: bool,
) -> enrich::Enrichment {
    let tags = tag_index.of(&commit.record.id);
    if let Some(stored) = &commit.enrichment
        && stored.rules == enrich::RULES
    {
        // Made by today's rules: what enriching it again would give, but for its tags, which
        // move; the repository's stand unless it cannot know them.
        let mut enrichment = stored.clone();
        if !(stored_tags && tags.is_empty()) {
            enrichment.set_tags(tags);
        }
        return enrichment;
    }
    let mut enrichment = enrich::enrich(&commit.record, tags);
    if let Some(stored) = &commit.enrichment {
        enrichment.dependencies = stored.dependencies.clone();
        if stored_tags && enrichment.tags.is_empty() {
            enrichment.tags = stored.tags.clone();
            enrichment.releases = stored.releases.clone();
        }
    }
    enrichment
}

/// What the later stages keep of each commit told, in `git log` order.
struct Told {
    facts: Vec<CommitFacts>,
    history: History,
    /// Each commit's parents, to tell whether the story covers the whole history.
    parents: Vec<(String, Vec<String>)>,
    tokens: TokenCounter,
}

impl Told {
    fn new(commits: usize, tokens: TokenCounter) -> Self {
        Self {
            facts: Vec::with_capacity(commits),
            history: History::new(),
            parents: Vec::with_capacity(commits),
            tokens,
        }
    }

    fn push(&mut self, commit: &EnrichedCommit) {
        let EnrichedCommit { record, enrichment } = commit;
        self.history.push(record, labels(enrichment));
        self.parents
            .push((record.id.clone(), record.parents.clone()));
        let facts = CommitFacts::new(record, enrichment);
        self.tokens.count(chunk::commit_line(&facts));
        self.facts.push(facts);
    }

    /// [`Told::push`] of a commit whose facts and tokens were drawn already.
    fn push_prepared(&mut self, commit: &EnrichedCommit, facts: CommitFacts, tokens: usize) {
        let EnrichedCommit { record, enrichment } = commit;
        self.history.push(record, labels(enrichment));
        self.parents
            .push((record.id.clone(), record.parents.clone()));
        self.tokens.counted(tokens);
        self.facts.push(facts);
    }
}

/// A commit before it is told, with what telling it needs that does not depend on the order:
/// its facts and its chunk line's tokens (drawn on any thread).
struct Prepared {
    commit: EnrichedCommit,
    /// Taken when the commit is told.
    facts: Option<CommitFacts>,
    tokens: usize,
}

impl Prepared {
    fn new(commit: EnrichedCommit) -> Self {
        let facts = CommitFacts::new(&commit.record, &commit.enrichment);
        let tokens = chunk::count_tokens(&chunk::commit_line(&facts));
        Self {
            commit,
            facts: Some(facts),
            tokens,
        }
    }
}

/// What the token counter is given, in order: a line to count, or a count made elsewhere.
enum TokenInput {
    Line(String),
    Counted(usize),
}

/// A thread that counts the tokens of each line it is given, in order.
struct TokenCounter {
    lines: std::sync::mpsc::SyncSender<TokenInput>,
    counter: std::thread::JoinHandle<Vec<usize>>,
}

impl TokenCounter {
    fn start() -> Self {
        let (lines, receiver) = std::sync::mpsc::sync_channel::<TokenInput>(4096);
        let counter = std::thread::spawn(move || {
            receiver
                .iter()
                .map(|counting| match counting {
                    TokenInput::Line(line) => chunk::count_tokens(&line),
                    TokenInput::Counted(tokens) => tokens,
                })
                .collect()
        });
        Self { lines, counter }
    }

    fn count(&self, line: String) {
        // A closed channel means the counter died; `finish` reports it.
        let _ = self.lines.send(TokenInput::Line(line));
    }

    /// The next line's count, made already.
    fn counted(&self, tokens: usize) {
        let _ = self.lines.send(TokenInput::Counted(tokens));
    }

    /// The count of every line, in the order given.
    fn finish(self) -> Vec<usize> {
        drop(self.lines);
        self.counter
            .join()
            .expect("the token counter does not panic")
    }
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What the story is titled: the repository's name from its URL (`org/repo`), or for a local
/// repository its directory's ([`repository_title`]). In a pod the repository is a clone in a
/// cache directory, whose name says nothing.
fn story_title(source: &Source<'_>) -> String {
    if crate::extract::looks_like_url(&source.location)
        && let Ok(url) = gitview_core::remote::RepositoryUrl::parse(&source.location)
    {
        let name = url.name();
        if !name.is_empty() {
            return name;
        }
    }
    repository_title(source.repo)
}

/// The enrich stage's labels of a commit, in their stored spelling, for the history's
/// analyses.
fn labels(enrichment: &enrich::Enrichment) -> CommitLabels {
    CommitLabels {
        class: enrichment.class.as_str().to_owned(),
        scope: enrichment
            .conventional
            .as_ref()
            .and_then(|c| c.scope.as_ref())
            .map(|s| s.to_lowercase()),
        references: enrichment.references.iter().map(|r| r.id.clone()).collect(),
        bot: enrichment.bot,
        dependencies: enrichment.dependencies.clone(),
    }
}

/// A name for the repository: its working tree's directory, or the git directory's name
/// without `.git`. Relative paths (`analyze .`) are resolved first, so `.` is named after the
/// directory it stands for.
pub fn repository_title(repo: &gix::Repository) -> String {
    let dir: &Path = repo.workdir().unwrap_or_else(|| repo.git_dir());
    let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let name = absolute
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name.strip_suffix(".git").unwrap_or(&name);
    if name.is_empty() {
        "repository".into()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::record::{CommitRecord, FileStat, FileStatus, Person};
    use crate::tags::{Tag, parse_release};

    fn earlier_commit(stored: Option<enrich::Enrichment>) -> earlier::EarlierCommit {
        let person = Person {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            time: "2024-05-01T09:30:00+02:00".into(),
            canonical: None,
        };
        earlier::EarlierCommit {
            record: CommitRecord {
                id: "ab".repeat(20),
                parents: vec![],
                author: person.clone(),
                committer: person,
                message: "fix: off by one\n".into(),
                files: vec![FileStat {
                    path: "src/lib.rs".into(),
                    added: Some(1),
                    deleted: Some(1),
                    status: FileStatus::Modified,
                }],
                renames: vec![],
            },
            enrichment: stored,
        }
    }

    fn tag(name: &str) -> Tag {
        Tag {
            name: name.into(),
            commit: "ab".repeat(20),
            annotated: true,
            release: parse_release(name),
        }
    }

    #[test]
    fn a_stored_enrichment_stands_when_todays_rules_made_it() {
        let none = TagIndex::new(&[]);
        let fresh = enrich::enrich(&earlier_commit(None).record, &[]);
        assert_eq!(fresh.class.as_str(), "fix");
        assert_eq!(fresh.rules, enrich::RULES);
        // A stored enrichment made by today's rules is taken as it is (a class the rules would
        // not give shows it was not made again)...
        let mut stored = fresh.clone();
        stored.class = enrich::CommitClass::Feature;
        stored.tags = vec!["v1.0.0".into()];
        stored.releases = vec!["v1.0.0".into()];
        let commit = earlier_commit(Some(stored.clone()));
        assert_eq!(enrich_again(&commit, &none, true), stored);
        // ...but for its tags: the repository's stand, unless it cannot know them.
        let again = enrich_again(&commit, &none, false);
        assert_eq!((again.class, again.tags.len()), (stored.class, 0));
        let tagged = TagIndex::new(&[tag("v2.0.0"), tag("nightly")]);
        let again = enrich_again(&commit, &tagged, true);
        assert_eq!(again.tags, ["v2.0.0", "nightly"]);
        assert_eq!(again.releases, ["v2.0.0"]);
        // One made by other rules (or before rules were recorded) is made again, keeping its
        // dependencies and, where the repository knows none, its tags.
        for rules in ["", "0000000000000000"] {
            let mut old = stored.clone();
            old.rules = rules.into();
            old.dependencies = serde_json::from_value(serde_json::json!({
                "added": [{"ecosystem": "cargo", "manifest": "Cargo.toml", "name": "clap"}]
            }))
            .unwrap();
            let again = enrich_again(&earlier_commit(Some(old.clone())), &none, true);
            assert_eq!(again.class.as_str(), "fix", "made again");
            assert_eq!(again.rules, enrich::RULES);
            assert_eq!(again.dependencies, old.dependencies);
            assert_eq!(again.tags, ["v1.0.0"]);
        }
    }

    #[test]
    fn run_configs_set_the_stage_options() {
        let config: gitview_crds::wire::RunConfig = serde_json::from_value(serde_json::json!({
            "version": 1,
            "analysis": {"namespace": "a", "name": "b", "uid": "c"},
            "attempt": 1,
            "account": "acct",
            "repository": {"url": "https://example.com/r.git"},
            "mode": {"type": "Full"},
            "profile": {
                "name": "p", "runnerImage": "r:1", "canary": false, "summarizer": "Extractive",
                "stages": {
                    "extract": {"mailmap": false, "firstParentMergeDiffs": true},
                    "chunk": {"tokenBudget": 1234},
                    "summarize": {"promptVersion": "v7", "budget": "Full",
                                  "prices": [{"model": "m", "inputPerMillionTokens": "1",
                                              "outputPerMillionTokens": "2"}],
                                  "critical": {"goals": ["Fewer bugs"]}},
                    "story": {"briefTokens": 777}
                }
            },
            "gatewayUrl": "http://gateway",
            "scrubPii": true,
            "deadline": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        let options = PipelineOptions::from_run_config(&config);
        assert!(options.scrub);
        assert!(!options.extract.mailmap && options.extract.first_parent_merge_diffs);
        assert_eq!(options.token_budget, 1234);
        assert_eq!(options.prompt_version, "v7");
        assert_eq!(options.brief_tokens, 777);
        assert_eq!(options.budget, Some(ModelBudget::Full));
        assert_eq!(options.prices[0].output_per_million_tokens, "2");
        assert_eq!(
            options.critical.map(|c| c.goals),
            Some(vec!["Fewer bugs".to_owned()])
        );
        assert_eq!((options.since, options.until.as_str()), (None, "HEAD"));
    }
}
