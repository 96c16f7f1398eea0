//! The whole run over any [`Sink`]: walk → extract → enrich → scrub → write commits in
//! batches → chunk → summarize (with the cache) → story → artifacts → finish.
//!
//! Commits stream: each record is extracted, enriched, scrubbed and handed to the sink in
//! batches of [`PipelineOptions::batch_size`], and only its [`CommitFacts`] stay in memory for
//! the later stages. Nothing reaches the sink before the range is resolved, so bad input
//! writes nothing. Progress (stage, done, total, elapsed time) goes to `tracing` and to
//! [`Sink::progress`]; per-stage metrics end up in the [`AnalysisSummary`] given to
//! [`Sink::finish`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::analysis_json::{
    AnalysisConfig, AnalysisSummary, ChunkMetrics, Counts, RunnerInfo, StageMetrics, StoryMetrics,
    SummarizeMetrics, Timings,
};
use crate::chunk::{self, Chunk, Phase};
use crate::enrich::{self, CommitFacts};
use crate::extract::{ExtractError, ExtractOptions, ParallelExtract, default_threads};
use crate::scrub;
use crate::sink::{EnrichedCommit, Progress, RunInfo, Sink, SinkError, Stage, files};
use crate::story::{self, ChunkRecord, PhaseRecord, StoryInput};
use crate::summarize::{
    self, CacheError, CombineInput, SummarizeError, Summarizer, SummarizerInfo, Summary,
    SummaryCache, SummaryInput,
};
use crate::tags::{self, TagError, TagIndex};

/// Media type of `story.md`.
pub const MARKDOWN: &str = "text/markdown; charset=utf-8";
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

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Summarize progress at most this often (and always for the last chunk): a model takes
/// seconds per chunk, so each is reported, but the extractive summarizer does hundreds a second,
/// and each report is a log line and, in a pod, a call to the gateway.
const SUMMARIZE_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Whether to report summarize progress after `done` of `total` chunks, `since` the last report.
fn summarize_progress_due(done: u64, total: u64, since: Duration) -> bool {
    done == total || since >= SUMMARIZE_PROGRESS_EVERY
}

fn report(
    sink: &mut dyn Sink,
    stage: Stage,
    done: u64,
    total: u64,
    since: Instant,
) -> Result<(), SinkError> {
    let elapsed_ms = ms(since.elapsed());
    tracing::info!(stage = stage.as_str(), done, total, elapsed_ms, "progress");
    sink.progress(&Progress {
        stage,
        done,
        total,
        elapsed_ms,
    })
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

/// Runs every stage and hands the results to `sink`; returns what was given to
/// [`Sink::finish`].
pub fn run_pipeline(
    source: &Source<'_>,
    options: &PipelineOptions,
    summarizer: &mut dyn Summarizer,
    cache: &mut dyn SummaryCache,
    sink: &mut dyn Sink,
) -> Result<AnalysisSummary, PipelineError> {
    let repo = source.repo;
    let mut timings = Timings {
        open: source.open_ms,
        ..Timings::default()
    };
    let mut stages = StageMetrics::default();
    chunk::warm_up_tokenizer();

    // The extraction workers start on the first commits while the walk lists the rest.
    let walk_started = Instant::now();
    let (plan, mut extractors) = ParallelExtract::plan_and_spawn(
        repo,
        options.since.as_deref(),
        &options.until,
        &options.extract,
        options.threads,
    )?;
    let tag_list = tags::read_tags(repo)?;
    let tag_index = TagIndex::new(&tag_list);
    timings.walk = ms(walk_started.elapsed());
    let total = plan.commits.len() as u64;
    tracing::info!(commits = total, until = %plan.until, since = ?plan.since.map(|id| id.to_string()), tags = tag_list.len(), "walked history");

    let config = AnalysisConfig {
        path: source.location.clone(),
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
    sink.begin(&RunInfo {
        runner: RunnerInfo::current(),
        config: config.clone(),
        total_commits: total,
    })?;
    report(sink, Stage::Walk, total, total, walk_started)?;

    // Extract, enrich, scrub and write, one commit at a time. Meanwhile another thread loads
    // the tokenizer and counts the tokens of each commit's chunk line (a second core is
    // otherwise idle: extraction is single-threaded).
    let (lines, counter) = token_counter();
    let stream_started = Instant::now();
    let (mut t_extract, mut t_enrich, mut t_scrub, mut t_write) = Default::default();
    let mut counts = Counts::default();
    let mut facts: Vec<CommitFacts> = Vec::with_capacity(plan.commits.len());
    let batch_size = options.batch_size.max(1);
    let mut batch: Vec<EnrichedCommit> = Vec::with_capacity(batch_size.min(plan.commits.len()));
    let mut batches = 0u64;
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    for done in 0..plan.commits.len() {
        let t = Instant::now();
        let mut record = extractors.next(done)?;
        t_extract += t.elapsed();
        counts.add(&record);

        let t = Instant::now();
        let enrichment = enrich::enrich(&record, tag_index.of(&record.id));
        *classes
            .entry(enrichment.class.as_str().to_owned())
            .or_default() += 1;
        stages.enrich.bots += u64::from(enrichment.bot);
        stages.enrich.references += enrichment.references.len() as u64;
        stages.enrich.release_commits += u64::from(!enrichment.releases.is_empty());
        t_enrich += t.elapsed();

        if options.scrub {
            let t = Instant::now();
            let found = scrub::scrub_record(&mut record);
            stages.scrub.secrets += found.secrets;
            stages.scrub.emails += found.emails;
            t_scrub += t.elapsed();
        }
        let commit_facts = CommitFacts::new(&record, &enrichment);
        // A closed channel means the counter died; its join below reports it.
        let _ = lines.send(chunk::commit_line(&commit_facts));
        facts.push(commit_facts);
        batch.push(EnrichedCommit { record, enrichment });
        if batch.len() >= batch_size {
            let t = Instant::now();
            sink.commits(batches, &batch)?;
            t_write += t.elapsed();
            batches += 1;
            batch.clear();
        }
        let done = done as u64 + 1;
        if options.progress_every > 0 && done.is_multiple_of(options.progress_every) {
            report(sink, Stage::Extract, done, total, stream_started)?;
        }
    }
    if !batch.is_empty() {
        let t = Instant::now();
        sink.commits(batches, &batch)?;
        t_write += t.elapsed();
        batches += 1;
    }
    drop(batch);
    report(sink, Stage::Extract, total, total, stream_started)?;
    timings.extract = ms(t_extract);
    timings.enrich = ms(t_enrich);
    timings.scrub = ms(t_scrub);
    timings.write = ms(t_write);
    stages.enrich.classes = classes;
    stages.scrub.enabled = options.scrub;
    stages.write.batches = batches;
    stages.write.batch_size = batch_size as u64;

    // Chunk.
    let chunk_started = Instant::now();
    drop(lines);
    let mut line_tokens = counter.join().expect("the token counter does not panic");
    facts.reverse(); // chronological
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
    let all_chunks: u64 = chunks.iter().map(|c| c.len() as u64).sum();
    stages.chunk = ChunkMetrics {
        tokenizer: chunk::TOKENIZER.into(),
        token_budget: options.token_budget as u64,
        rule: phases.first().map(|p| p.rule),
        phases: phases.len() as u64,
        chunks: all_chunks,
        tokens: chunks.iter().flatten().map(|c| c.tokens as u64).sum(),
        truncated: chunks.iter().flatten().filter(|c| c.truncated).count() as u64,
    };
    timings.chunk = ms(chunk_started.elapsed());
    report(sink, Stage::Chunk, all_chunks, all_chunks, chunk_started)?;

    // Summarize, through the cache.
    let summarize_started = Instant::now();
    let mut last_report = summarize_started;
    let info = summarizer.info();
    let mut metrics = SummarizeMetrics {
        summarizer: Some(info.clone()),
        prompt_version: options.prompt_version.clone(),
        chunks: all_chunks,
        ..SummarizeMetrics::default()
    };
    let mut records = Vec::with_capacity(phases.len());
    let mut done = 0;
    let mut reducer = Reducer {
        summarizer,
        cache,
        info: &info,
        prompt_version: &options.prompt_version,
        budget: options.token_budget,
        facts: &facts,
    };
    for (phase, phase_chunks) in phases.iter().zip(&chunks) {
        let mut parts = Vec::with_capacity(phase_chunks.len());
        let mut chunk_records = Vec::with_capacity(phase_chunks.len());
        for chunk in phase_chunks {
            let key = summarize::cache_key(&chunk.text, &options.prompt_version, &info);
            let (summary, cached) = match reducer.cache.get(&key)? {
                Some(summary) => {
                    metrics.cache_hits += 1;
                    (summary, true)
                }
                None => {
                    metrics.cache_misses += 1;
                    let summary = reducer.summarizer.summarize(&SummaryInput {
                        phase,
                        chunk,
                        facts: &facts[chunk.start..chunk.end],
                    })?;
                    if let Some(usage) = summary.usage {
                        metrics.usage.add(usage);
                    }
                    reducer.cache.put(&key, &summary)?;
                    (summary, false)
                }
            };
            chunk_records.push(ChunkRecord {
                index: chunk.index,
                first_commit: facts[chunk.start].id.clone(),
                last_commit: facts[chunk.end - 1].id.clone(),
                commits: (chunk.end - chunk.start) as u64,
                tokens: chunk.tokens as u64,
                truncated: chunk.truncated,
                content_hash: chunk.content_hash(),
                cached,
                summary: summary.text.clone(),
                usage: summary.usage,
            });
            parts.push(Part {
                start: chunk.start,
                end: chunk.end,
                summary,
            });
            done += 1;
            if summarize_progress_due(done, all_chunks, last_report.elapsed()) {
                report(sink, Stage::Summarize, done, all_chunks, summarize_started)?;
                last_report = Instant::now();
            }
        }
        let summary = reducer.reduce(phase, parts, &mut metrics)?;
        records.push(phase_record(&facts, phase, summary, chunk_records));
    }
    stages.summarize = metrics;
    timings.summarize = ms(summarize_started.elapsed());
    sink.phases(&records)?;

    // Story and timeline.
    let story_started = Instant::now();
    let range = match &config.since {
        Some(since) => format!("{since}..{}", config.until),
        None => config.until.clone(),
    };
    let title = repository_title(repo);
    let story_text = story::story(&StoryInput {
        title: &title,
        range: &range,
        facts: &facts,
        phases: &records,
    });
    let timeline = story::timeline(&facts);
    let mut timeline_json =
        serde_json::to_vec_pretty(&timeline).expect("a timeline always serializes");
    timeline_json.push(b'\n');
    stages.story = StoryMetrics {
        milestones: story::milestones(&facts).len() as u64,
        months: timeline.months.len() as u64,
        bytes: story_text.len() as u64,
    };
    sink.artifact(files::STORY, MARKDOWN, story_text.as_bytes())?;
    sink.artifact(files::TIMELINE, JSON, &timeline_json)?;
    timings.story = ms(story_started.elapsed());
    report(sink, Stage::Story, 1, 1, story_started)?;

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

/// A thread that counts the tokens of each line it receives, in order.
fn token_counter() -> (
    std::sync::mpsc::SyncSender<String>,
    std::thread::JoinHandle<Vec<usize>>,
) {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<String>(4096);
    let counter = std::thread::spawn(move || {
        receiver
            .iter()
            .map(|line| chunk::count_tokens(&line))
            .collect()
    });
    (sender, counter)
}

/// A summary and the commits it covers.
struct Part {
    start: usize,
    end: usize,
    summary: Summary,
}

/// Combines the summaries of a phase's chunks into one, through the cache.
struct Reducer<'a> {
    summarizer: &'a mut dyn Summarizer,
    cache: &'a mut dyn SummaryCache,
    info: &'a SummarizerInfo,
    prompt_version: &'a str,
    budget: usize,
    facts: &'a [CommitFacts],
}

impl Reducer<'_> {
    /// One summary for `parts`: the part itself if there is one; otherwise groups of parts
    /// that fit the token budget (at least two each) are combined, level by level, or all at
    /// once when the summarizer takes any number.
    fn reduce(
        &mut self,
        phase: &Phase,
        mut level: Vec<Part>,
        metrics: &mut SummarizeMetrics,
    ) -> Result<Summary, PipelineError> {
        while level.len() > 1 {
            if self.summarizer.combines_any_number() {
                let all = std::mem::take(&mut level);
                level.push(self.combine(phase, all, metrics)?);
                break;
            }
            let mut next = Vec::new();
            let mut group: Vec<Part> = Vec::new();
            let mut tokens = 0;
            for part in level {
                let part_tokens = chunk::count_tokens(&part.summary.text);
                if group.len() >= 2 && tokens + part_tokens > self.budget {
                    next.push(self.combine(phase, std::mem::take(&mut group), metrics)?);
                    tokens = 0;
                }
                tokens += part_tokens;
                group.push(part);
            }
            match group.len() {
                1 => next.extend(group),
                _ => next.push(self.combine(phase, group, metrics)?),
            }
            level = next;
        }
        Ok(level
            .pop()
            .map(|part| part.summary)
            .expect("a phase has at least one chunk"))
    }

    fn combine(
        &mut self,
        phase: &Phase,
        group: Vec<Part>,
        metrics: &mut SummarizeMetrics,
    ) -> Result<Part, PipelineError> {
        let start = group.first().map_or(0, |p| p.start);
        let end = group.last().map_or(0, |p| p.end);
        let summaries: Vec<Summary> = group.into_iter().map(|p| p.summary).collect();
        let key = summarize::cache_key(
            &summarize::combine_text(&summaries),
            self.prompt_version,
            self.info,
        );
        metrics.combinations += 1;
        let summary = match self.cache.get(&key)? {
            Some(summary) => {
                metrics.combination_cache_hits += 1;
                summary
            }
            None => {
                let summary = self.summarizer.combine(&CombineInput {
                    phase,
                    parts: &summaries,
                    facts: &self.facts[start..end],
                })?;
                if let Some(usage) = summary.usage {
                    metrics.usage.add(usage);
                }
                self.cache.put(&key, &summary)?;
                summary
            }
        };
        Ok(Part {
            start,
            end,
            summary,
        })
    }
}

fn phase_record(
    facts: &[CommitFacts],
    phase: &Phase,
    summary: Summary,
    chunks: Vec<ChunkRecord>,
) -> PhaseRecord {
    let cited: BTreeSet<&String> = summary.commits.iter().collect();
    let commits = &facts[phase.start..phase.end];
    let authors: BTreeSet<&str> = commits.iter().map(|f| f.author_key.as_str()).collect();
    // Cited ids in chronological order.
    let cited_commits = commits
        .iter()
        .filter(|f| cited.contains(&f.id))
        .map(|f| f.id.clone())
        .collect();
    PhaseRecord {
        number: phase.number,
        name: phase.name.clone(),
        rule: phase.rule,
        first_commit: commits.first().map(|f| f.id.clone()).unwrap_or_default(),
        last_commit: commits.last().map(|f| f.id.clone()).unwrap_or_default(),
        start: commits.first().map(|f| f.date.clone()).unwrap_or_default(),
        end: commits.last().map(|f| f.date.clone()).unwrap_or_default(),
        commits: commits.len() as u64,
        authors: authors.len() as u64,
        lines_added: commits.iter().map(|f| f.added).sum(),
        lines_deleted: commits.iter().map(|f| f.deleted).sum(),
        releases: phase.releases.clone(),
        summary: format!("{}\n", summary.text.trim_end()),
        cited_commits,
        chunks,
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn summarize_progress_is_reported_once_a_second_and_at_the_end() {
        let second = SUMMARIZE_PROGRESS_EVERY;
        assert!(!summarize_progress_due(1, 545, Duration::from_millis(2)));
        assert!(summarize_progress_due(545, 545, Duration::ZERO));
        assert!(summarize_progress_due(3, 545, second));
        assert!(summarize_progress_due(1, 1, Duration::ZERO));
        assert!(!summarize_progress_due(
            544,
            545,
            second - Duration::from_millis(1)
        ));
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
                    "summarize": {"promptVersion": "v7"}
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
        assert_eq!((options.since, options.until.as_str()), (None, "HEAD"));
    }
}
