//! The chunk stage: a history cut into phases, and each phase into chunks of text that fit the
//! summarizer's token budget — pure functions over [`CommitFacts`] in chronological order
//! (reverse `git log` order).
//!
//! ## Phases
//!
//! The first rule that gives at least two phases wins:
//!
//! 1. **Releases.** With at least two commits carrying a release tag (pre-releases don't
//!    count), each phase ends with a release commit, and commits after the last release form
//!    an "unreleased" phase. With more than [`MAX_PHASES`] releases, only major and minor
//!    releases (`x.y.0`) end phases if at least two exist; if still too many, every k-th
//!    boundary is kept so that at most [`MAX_PHASES`] phases remain.
//! 2. **Shifts in activity.** A pause of [`PAUSE_DAYS`] days or more without commits starts a
//!    phase; so does a month whose commit count is at least three times, or at most a third
//!    of, the average of the three months before (when they differ by at least
//!    [`SHIFT_MIN_COMMITS`] commits), at most one boundary per three months. Used when it
//!    gives between two and [`MAX_PHASES`] phases.
//! 3. **Time windows.** Calendar windows (UTC) of one month, a quarter, a year, or several
//!    years — the shortest that gives at most [`MAX_PHASES`] windows; empty windows are
//!    skipped. A history within one month is a single phase.
//!
//! ## Chunks
//!
//! A chunk's text is a header line (`Phase N: name`) then one line per commit:
//! `<12-hex id> <YYYY-MM-DD> <author> <class>[!] +added -deleted [areas] | subject`, in
//! chronological order. Commits are added while the text stays within the budget, counted
//! with OpenAI's `o200k_base` BPE (`bpe-openai`; the encoding of GPT-4o and later models,
//! whose vocabulary ships inside the crate so counting works offline). Other models'
//! tokenizers differ by some percent: leave headroom in the budget for them. A commit whose
//! line alone exceeds the budget gets a chunk of its own, cut to fit and marked
//! `[truncated]`.

use std::fmt::Write as _;

use gitview_core::time::utc_date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::enrich::CommitFacts;
use crate::tags::parse_release;

/// At most this many phases.
pub const MAX_PHASES: usize = 12;
/// A pause this long (in days) starts a new phase under the activity rule.
pub const PAUSE_DAYS: i64 = 90;
/// Monthly shifts smaller than this many commits never start a phase.
pub const SHIFT_MIN_COMMITS: u64 = 20;
/// The marker at the end of a cut commit line.
pub const TRUNCATED_MARK: &str = " [truncated]";

/// Which rule cut the phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PhaseRule {
    Releases,
    Activity,
    Window,
}

/// A run of consecutive commits (indices into the chronological facts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Phase {
    /// 1-based.
    pub number: usize,
    pub rule: PhaseRule,
    pub name: String,
    /// Index of the first commit.
    pub start: usize,
    /// Index after the last commit.
    pub end: usize,
    /// Release tags of the phase's commits.
    pub releases: Vec<String>,
}

impl Phase {
    /// Commits in the phase.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True for a phase without commits (never produced by [`phases`]).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// The commits of a phase as one text within the token budget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chunk {
    /// The phase's number.
    pub phase: usize,
    /// 0-based within the phase.
    pub index: usize,
    /// Index of the first commit (into the chronological facts).
    pub start: usize,
    /// Index after the last commit.
    pub end: usize,
    pub text: String,
    /// Tokens of `text` (`o200k_base`).
    pub tokens: usize,
    /// A commit line was cut to fit.
    pub truncated: bool,
}

impl Chunk {
    /// sha256 of the text, hex: what identifies a chunk's content.
    pub fn content_hash(&self) -> String {
        hex(&Sha256::digest(self.text.as_bytes()))
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Tokens of `text` in the `o200k_base` encoding.
pub fn count_tokens(text: &str) -> usize {
    bpe_openai::o200k_base().count(text)
}

/// Loads the tokenizer on a thread of its own, so the chunk stage finds it ready: loading the
/// `o200k_base` tables (deserialized, built when the crate was compiled) takes about 80 ms,
/// as long as extracting a small repository.
pub fn warm_up_tokenizer() {
    // A failed spawn only means the chunk stage builds it itself.
    let _ = std::thread::Builder::new()
        .name("tokenizer".to_owned())
        .spawn(|| {
            bpe_openai::o200k_base();
        });
}

/// The name of the tokenizer [`count_tokens`] uses.
pub const TOKENIZER: &str = "o200k_base";

/// Cuts `facts` (chronological) into phases by the rules in the module documentation.
pub fn phases(facts: &[CommitFacts]) -> Vec<Phase> {
    if facts.is_empty() {
        return Vec::new();
    }
    if let Some(phases) = release_phases(facts) {
        return phases;
    }
    if let Some(phases) = activity_phases(facts) {
        return phases;
    }
    window_phases(facts)
}

fn is_release(name: &str) -> bool {
    parse_release(name).is_some_and(|r| !r.is_prerelease())
}

fn release_phases(facts: &[CommitFacts]) -> Option<Vec<Phase>> {
    let releases: Vec<usize> = (0..facts.len())
        .filter(|&i| facts[i].releases.iter().any(|name| is_release(name)))
        .collect();
    if releases.len() < 2 {
        return None;
    }
    let mut ends = releases.clone();
    if ends.len() > MAX_PHASES {
        let major_minor: Vec<usize> = releases
            .iter()
            .copied()
            .filter(|&i| {
                facts[i]
                    .releases
                    .iter()
                    .filter_map(|name| parse_release(name))
                    .any(|r| r.is_major_or_minor())
            })
            .collect();
        if major_minor.len() >= 2 {
            ends = major_minor;
        }
    }
    // Leave room for the unreleased tail.
    let limit = MAX_PHASES - 1;
    if ends.len() > limit {
        let step = ends.len().div_ceil(limit);
        let last = *ends.last().expect("at least two");
        ends = ends.iter().copied().step_by(step).collect();
        if ends.last() != Some(&last) {
            ends.push(last);
        }
        while ends.len() > limit {
            ends.remove(ends.len() - 2);
        }
    }
    let label = |i: usize| -> String {
        facts[i]
            .releases
            .iter()
            .find(|name| is_release(name))
            .cloned()
            .unwrap_or_default()
    };
    let mut phases = Vec::new();
    let mut start = 0;
    let mut previous: Option<String> = None;
    for &end in &ends {
        let this = label(end);
        let name = match &previous {
            None => format!("up to {this}"),
            Some(previous) => format!("{previous} → {this}"),
        };
        phases.push((name, start, end + 1));
        start = end + 1;
        previous = Some(this);
    }
    if start < facts.len() {
        let previous = previous.unwrap_or_default();
        phases.push((format!("after {previous} (unreleased)"), start, facts.len()));
    }
    Some(number(facts, PhaseRule::Releases, phases))
}

fn number(facts: &[CommitFacts], rule: PhaseRule, cuts: Vec<(String, usize, usize)>) -> Vec<Phase> {
    cuts.into_iter()
        .enumerate()
        .map(|(i, (name, start, end))| Phase {
            number: i + 1,
            rule,
            name,
            start,
            end,
            releases: facts[start..end]
                .iter()
                .flat_map(|f| f.releases.iter().cloned())
                .collect(),
        })
        .collect()
}

/// Months since year 0 (UTC) of a time.
fn month_index(time: i64) -> i64 {
    let date = utc_date(time);
    i64::from(date.year()) * 12 + i64::from(date.month()) - 1
}

fn month_label(index: i64) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

fn day_label(time: i64) -> String {
    utc_date(time).to_string()
}

fn activity_phases(facts: &[CommitFacts]) -> Option<Vec<Phase>> {
    let months: Vec<i64> = facts.iter().map(|f| month_index(f.time)).collect();
    let first = *months.iter().min()?;
    let last = *months.iter().max()?;
    let span = usize::try_from(last - first + 1).ok()?;
    let mut counts = vec![0u64; span];
    for &m in &months {
        counts[usize::try_from(m - first).ok()?] += 1;
    }
    // Months at which a phase starts, by the shift rule.
    let mut shift_months = Vec::new();
    let mut last_boundary: Option<usize> = None;
    for m in 3..span {
        let before = counts[m - 3..m].iter().sum::<u64>() as f64 / 3.0;
        let now = counts[m] as f64;
        let shifted = (now >= before * 3.0 || now * 3.0 <= before)
            && (now - before).abs() >= SHIFT_MIN_COMMITS as f64;
        if shifted && last_boundary.is_none_or(|b| m >= b + 3) {
            shift_months.push(first + m as i64);
            last_boundary = Some(m);
        }
    }
    let mut starts = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for i in 1..facts.len() {
        let pause = facts[i].time - facts[i - 1].time >= PAUSE_DAYS * 86_400;
        // Topological order may revisit a month: a shift starts a phase once.
        let shift = months[i] != months[i - 1]
            && shift_months.contains(&months[i])
            && used.insert(months[i]);
        if pause || shift {
            starts.push(i);
        }
    }
    starts.dedup();
    if starts.is_empty() || starts.len() + 1 > MAX_PHASES {
        return None;
    }
    let mut cuts = Vec::new();
    let mut start = 0;
    for end in starts.into_iter().chain([facts.len()]) {
        let name = format!(
            "{} to {}",
            day_label(facts[start].time),
            day_label(facts[end - 1].time)
        );
        cuts.push((name, start, end));
        start = end;
    }
    Some(number(facts, PhaseRule::Activity, cuts))
}

fn window_phases(facts: &[CommitFacts]) -> Vec<Phase> {
    let months: Vec<i64> = facts.iter().map(|f| month_index(f.time)).collect();
    let first = months.iter().copied().min().unwrap_or(0);
    let last = months.iter().copied().max().unwrap_or(0);
    let mut size: i64 = 1;
    for candidate in [1, 3, 12, 24, 60, 120, 600] {
        size = candidate;
        if last.div_euclid(size) - first.div_euclid(size) < MAX_PHASES as i64 {
            break;
        }
    }
    let label = |window: i64| -> String {
        let month = window * size;
        let year = month.div_euclid(12);
        match size {
            1 => month_label(month),
            3 => format!("{year} Q{}", month.rem_euclid(12) / 3 + 1),
            12 => format!("{year}"),
            _ => format!("{year}–{}", (month + size - 1).div_euclid(12)),
        }
    };
    // Commits are in topological order, so times may go back a little: a commit stays in the
    // current window unless its window is later.
    let mut cuts: Vec<(String, usize, usize)> = Vec::new();
    let mut current = months[0].div_euclid(size);
    let mut start = 0;
    for (i, &m) in months.iter().enumerate().skip(1) {
        let window = m.div_euclid(size);
        if window > current {
            cuts.push((label(current), start, i));
            start = i;
            current = window;
        }
    }
    cuts.push((label(current), start, facts.len()));
    number(facts, PhaseRule::Window, cuts)
}

/// The line of one commit in a chunk (with its newline).
pub fn commit_line(facts: &CommitFacts) -> String {
    let mut areas = facts
        .areas
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    if facts.areas.len() > 3 {
        let _ = write!(areas, ",+{}", facts.areas.len() - 3);
    }
    format!(
        "{} {} {} {}{} +{} -{} [{}] | {}\n",
        facts.short_id(),
        day_label(facts.time),
        facts.author,
        facts.class.as_str(),
        if facts.breaking { "!" } else { "" },
        facts.added,
        facts.deleted,
        areas,
        facts.subject
    )
}

/// Cuts `phase` into chunks of at most `budget` tokens (see the module documentation).
pub fn chunk_phase(facts: &[CommitFacts], phase: &Phase, budget: usize) -> Vec<Chunk> {
    let line_tokens: Vec<usize> = facts[phase.start..phase.end]
        .iter()
        .map(|f| count_tokens(&commit_line(f)))
        .collect();
    chunk_phase_counted(facts, phase, budget, &line_tokens)
}

/// [`chunk_phase`] with the token count of each commit's line given (`line_tokens[i]` for
/// `facts[phase.start + i]`), so that they can be counted ahead, on another thread.
///
/// The header names the phase by what stays true while commits are appended to the history
/// ([`header_name`]), so an update's unchanged chunks keep their text, and their cached
/// summaries.
///
/// A chunk's count is the header's plus its lines': the BPE's pre-tokenizer never joins text
/// across a newline followed by a non-space (every line starts with a hex id), so counts of
/// lines add up exactly to the count of their concatenation (the tests check it).
pub fn chunk_phase_counted(
    facts: &[CommitFacts],
    phase: &Phase,
    budget: usize,
    line_tokens: &[usize],
) -> Vec<Chunk> {
    let header = format!("Phase {}: {}\n", phase.number, header_name(phase));
    let header_tokens = count_tokens(&header);
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut text = header.clone();
    let mut tokens = header_tokens;
    let mut start = phase.start;
    let mut flush = |text: String, tokens: usize, start: usize, end: usize, truncated: bool| {
        chunks.push(Chunk {
            phase: phase.number,
            index: chunks.len(),
            start,
            end,
            text,
            tokens,
            truncated,
        });
    };
    for (i, commit) in facts.iter().enumerate().take(phase.end).skip(phase.start) {
        let line_tokens = line_tokens[i - phase.start];
        if header_tokens + line_tokens > budget {
            if i > start {
                flush(
                    std::mem::replace(&mut text, header.clone()),
                    tokens,
                    start,
                    i,
                    false,
                );
            }
            let cut = cut_line(&header, &commit_line(commit), budget);
            let cut_tokens = count_tokens(&cut);
            flush(cut, cut_tokens, i, i + 1, true);
            text = header.clone();
            tokens = header_tokens;
            start = i + 1;
            continue;
        }
        if tokens + line_tokens > budget && i > start {
            flush(
                std::mem::replace(&mut text, header.clone()),
                tokens,
                start,
                i,
                false,
            );
            tokens = header_tokens;
            start = i;
        }
        text.push_str(&commit_line(commit));
        tokens += line_tokens;
    }
    if start < phase.end {
        flush(text, tokens, start, phase.end, false);
    }
    chunks
}

/// `header` plus the longest prefix of `line` that fits `budget` with the truncation mark.
fn cut_line(header: &str, line: &str, budget: usize) -> String {
    let body = line.trim_end_matches('\n');
    let fits = |chars: usize| -> Option<String> {
        let end = body
            .char_indices()
            .nth(chars)
            .map_or(body.len(), |(at, _)| at);
        let text = format!("{header}{}{TRUNCATED_MARK}\n", &body[..end]);
        (count_tokens(&text) <= budget).then_some(text)
    };
    // Binary search on the number of characters kept.
    let (mut low, mut high) = (0usize, body.chars().count());
    let mut best = fits(0).unwrap_or_else(|| format!("{header}{TRUNCATED_MARK}\n"));
    while low <= high {
        let mid = (low + high) / 2;
        match fits(mid) {
            Some(text) => {
                best = text;
                low = mid + 1;
            }
            None if mid == 0 => break,
            None => high = mid - 1,
        }
    }
    best
}

#[cfg(test)]
mod tests;

/// A phase as chunk headers name it: its name, but an activity phase by its first day only
/// (`from 2024-05-01`): its last day moves with every commit appended to the newest phase,
/// and with it the text of every chunk of the phase.
pub fn header_name(phase: &Phase) -> std::borrow::Cow<'_, str> {
    match phase.rule {
        PhaseRule::Activity => {
            let first = phase.name.split(" to ").next().unwrap_or(&phase.name);
            std::borrow::Cow::Owned(format!("from {first}"))
        }
        PhaseRule::Releases | PhaseRule::Window => std::borrow::Cow::Borrowed(&phase.name),
    }
}
