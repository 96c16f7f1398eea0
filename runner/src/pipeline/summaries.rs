//! The summarize stage as the pipeline runs it: every chunk's summary, through the cache;
//! then one summary per phase, combined from its chunks' summaries ([`Reducer`]); then the
//! phases, as [`PhaseRecord`]s, to the sink.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::model::{self, Counting, ModelRun};
use super::{Cut, PipelineError, Run, ms};
use gitview_history::check::{self, Mode, Scope};
use gitview_history::narrative::PhaseSpan;

use crate::analysis_json::SummarizeMetrics;
use crate::chunk::{self, Phase};
use crate::enrich::CommitFacts;
use crate::sink::Stage;
use crate::story::{ChunkRecord, PhaseRecord};
use crate::summarize::{
    self, CombineInput, Extractive, Summarizer, SummarizerInfo, Summary, SummaryCache, SummaryInput,
};

/// Summarize progress at most this often (and always for the last chunk): a model takes
/// seconds per chunk, so each is reported, but the extractive summarizer does hundreds a second,
/// and each report is a log line and, in a pod, a call to the gateway.
const SUMMARIZE_PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Whether to report summarize progress after `done` of `total` chunks, `since` the last report.
fn summarize_progress_due(done: u64, total: u64, since: Duration) -> bool {
    done == total || since >= SUMMARIZE_PROGRESS_EVERY
}

impl Run<'_> {
    /// Summarizes every chunk, through the cache, then each phase from its chunks' summaries,
    /// and hands the phases to the sink. A phase the budget gives the model is summarized by
    /// it and checked; one it does not, or whose model summary fails, extractively.
    pub(super) fn summarize(
        &mut self,
        cut: &Cut,
        summarizer: &mut Counting<'_>,
        cache: &mut dyn SummaryCache,
        model: &mut Option<ModelRun>,
    ) -> Result<Vec<PhaseRecord>, PipelineError> {
        let options = self.options;
        let Cut {
            facts,
            history,
            phases,
            chunks,
            ..
        } = cut;
        let all_chunks = cut.chunk_count();
        let mut progress = SummarizeProgress {
            started: Instant::now(),
            last_report: Instant::now(),
            done: 0,
            total: all_chunks,
        };
        let info = summarizer.info();
        let mut metrics = SummarizeMetrics {
            summarizer: Some(info.clone()),
            prompt_version: options.prompt_version.clone(),
            chunks: all_chunks,
            ..SummarizeMetrics::default()
        };
        let mut records = Vec::with_capacity(phases.len());
        // A remote cache looks every chunk's key up at once: with a model, those of the phases
        // the budget gives it (the others are told without the cache, below).
        let keys: Vec<String> = phases
            .iter()
            .zip(chunks)
            .filter(|(phase, _)| {
                model
                    .as_ref()
                    .is_none_or(|m| m.plan.phases.contains(&phase.number))
            })
            .flat_map(|(_, phase_chunks)| phase_chunks)
            .map(|chunk| summarize::cache_key(&chunk.text, &options.prompt_version, &info))
            .collect();
        cache.prefetch(&keys)?;
        for (phase, phase_chunks) in phases.iter().zip(chunks) {
            let done_before = progress.done;
            let mut written = None;
            if let Some(model) = model.as_mut()
                && model.writes_phase(phase.number)
            {
                let part = model::phase_part(phase.number);
                let result = self.summarize_phase(
                    cut,
                    phase,
                    phase_chunks,
                    &mut *summarizer,
                    cache,
                    &mut metrics,
                    &mut progress,
                );
                if let Some((mut summary, chunk_records)) = model.answer(&part, result)? {
                    let span = PhaseSpan {
                        number: phase.number,
                        name: phase.name.clone(),
                        range: phase.start..phase.end,
                        releases: phase.releases.clone(),
                    };
                    let checked = check::check(&summary.text, history, &Scope::phase(&span));
                    metrics.checked.add(&checked);
                    match model::phase_summary_fails(&checked) {
                        Some(reason) => model.omit(&part, reason),
                        None => {
                            summary.text = checked.kept_text(Mode::Mark);
                            written = Some((summary, chunk_records));
                        }
                    }
                }
            }
            let (summary, chunk_records) = match written {
                Some(written) => written,
                // A run without a model: the extractive summarizer, through the cache.
                None if model.is_none() => self.summarize_phase(
                    cut,
                    phase,
                    phase_chunks,
                    &mut Extractive,
                    cache,
                    &mut metrics,
                    &mut progress,
                )?,
                None => {
                    // Told without the model: extractively, which takes no time, outside the
                    // cache (the account's cache in a pod is the model's) and the metrics
                    // (which count the model's lookups and combinations); its chunks are
                    // counted again for the progress.
                    progress.done = done_before;
                    self.summarize_phase(
                        cut,
                        phase,
                        phase_chunks,
                        &mut Extractive,
                        &mut summarize::NoCache,
                        &mut SummarizeMetrics::default(),
                        &mut progress,
                    )?
                }
            };
            records.push(phase_record(facts, phase, summary, chunk_records));
        }
        self.stages.summarize = metrics;
        self.timings.summarize = ms(progress.started.elapsed());
        self.sink.phases(&records)?;
        Ok(records)
    }

    /// One phase's summary by `summarizer`: its chunks' summaries (through the cache), combined;
    /// with the chunks' records.
    #[expect(
        clippy::too_many_arguments,
        reason = "the stage's state, passed as it is"
    )]
    fn summarize_phase(
        &mut self,
        cut: &Cut,
        phase: &Phase,
        phase_chunks: &[chunk::Chunk],
        summarizer: &mut dyn Summarizer,
        cache: &mut dyn SummaryCache,
        metrics: &mut SummarizeMetrics,
        progress: &mut SummarizeProgress,
    ) -> Result<(Summary, Vec<ChunkRecord>), PipelineError> {
        let options = self.options;
        let facts = &cut.facts;
        let info = summarizer.info();
        let mut parts = Vec::with_capacity(phase_chunks.len());
        let mut chunk_records = Vec::with_capacity(phase_chunks.len());
        let mut reducer = Reducer {
            summarizer,
            cache,
            info: &info,
            prompt_version: &options.prompt_version,
            budget: options.token_budget,
            facts,
        };
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
            progress.done += 1;
            if summarize_progress_due(
                progress.done,
                progress.total,
                progress.last_report.elapsed(),
            ) {
                self.report(
                    Stage::Summarize,
                    progress.done,
                    progress.total,
                    progress.started,
                )?;
                progress.last_report = Instant::now();
            }
        }
        let summary = reducer.reduce(phase, parts, metrics)?;
        Ok((summary, chunk_records))
    }
}

/// How far the summarize stage got, for its progress reports.
struct SummarizeProgress {
    started: Instant,
    last_report: Instant,
    done: u64,
    total: u64,
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
}
