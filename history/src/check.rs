//! The claim checker: every sentence a model writes about a history, checked against the facts,
//! so a sentence that fails is dropped or marked ([`Checked::kept_text`]), never silently
//! kept, and the share of sentences that pass (the *faithfulness figure*) is reported.
//!
//! [`check`] reads Markdown prose (paragraphs and list items), cuts it into sentences
//! ([`sentences`]) and checks each against the [`Scope`] it speaks of: a range of commit
//! indices (a phase, or the whole history) and the release tags of that range. A sentence
//! passes when no rule fails; it fails with every [`Failure`] found, each naming what the
//! sentence said and the fact it was checked against. The rules:
//!
//! 1. **Commit ids.** A hex token of 7–40 digits, in a code span (any case) or bare (lower
//!    case, with at least one digit and one letter, so words like `defaced` and plain numbers
//!    are not read as ids) must be the prefix of exactly one commit *in the scope*. One that
//!    names no commit of the history is [`Failure::UnknownCommit`]; one that names commits of
//!    the history but none in the scope is [`Failure::CommitOutOfScope`]; one that names
//!    several commits in the scope is [`Failure::AmbiguousCommit`]. A prefix unique within the
//!    scope passes even if it also names a commit outside it.
//! 2. **Numbers.** A number written in digits (`12`, `1,234`) directly before a counted noun,
//!    with at most one of the words *new, distinct, different, unique, individual, human,
//!    total* between (`12 commits`, `12 new commits`, `1,234 lines`, `added 40 lines`, `40
//!    lines deleted`), must equal the figure over the scope or over something the sentence
//!    names: a commit it cites, a path or directory in a code span, an author of the scope
//!    named in it (so `Ada made 9 commits` and ``` `src` (3 files) ``` pass when true).
//!    Counted: *commits* (merges included), *authors/contributors/committers/developers/people*
//!    (distinct authors, with or without bots: both readings are common), *bots*, *files*
//!    (distinct paths touched), *lines added/inserted*, *lines deleted/removed*, *lines
//!    changed/modified/touched* (added + deleted); bare *lines* may be any of the three. Files
//!    and lines count non-merge commits, as the narrative does. Not checked: numbers in words
//!    (`three commits`), numbers next to other nouns, numbers with other words between,
//!    percentages, hours, `N files added/deleted`.
//! 3. **Dates.** ISO dates (`2024-03-05`) and `March 5, 2024`, `5 March 2024` must fall
//!    within the UTC days of the scope's earliest and latest dated commit, inclusive;
//!    `March 2024` must be a month of that span ([`Failure::DateOutOfRange`]). Bare years
//!    are not checked.
//! 4. **Names.** Kept conservative, since a false failure costs more than a miss: a run of
//!    one to three capitalised words after *by, from, thanks to, author(ed) (by), credit(ed)
//!    to, written by*, or before a verb of work (*added, fixed, wrote, removed, made, led,
//!    …*) is read as a name. Leading stop words (*The, Phase, March, GitHub, …*) are dropped;
//!    a candidate whose first word occurs in the scope's subjects or any path is project
//!    vocabulary, not a name. A name passes when it is, case-insensitively, the name of an
//!    author of the scope, or shares the first name with one, or (one word) is any word of
//!    one's name; else [`Failure::AuthorOutOfScope`] when it matches an author of the history
//!    outside the scope, or [`Failure::UnknownAuthor`].
//! 5. **Versions.** `v1.2`, `v1.2.3`, `1.2.0`, `v2.0.0-rc.1` (a bare number needs two dots,
//!    so decimals such as `3.5` are not versions) must be a release tag of the scope, compared
//!    without a leading `v` or prefix (`release-1.2.0`); a shorter version names its release
//!    line (`v1.2` passes for `v1.2.0`). Else [`Failure::UnreleasedVersion`].
//!
//! Dates, names and numbers are read outside code spans; ids and versions also inside them.
//! Each verdict names the commits a sentence cites and the numbers that held
//! ([`SentenceVerdict::figures`]), so a kept sentence carries its evidence.

use std::collections::{BTreeSet, HashSet};
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::sync::LazyLock;

use gitview_core::time::utc_date;
use regex::Regex;
use serde::Serialize;

use crate::history::{Commit, History};
use crate::narrative::PhaseSpan;

/// What a text speaks of: a range of commit indices and the release tags of its commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope<'a> {
    /// Indices into [`History::commits`]; clamped to the history.
    pub range: Range<usize>,
    /// Release tags of the range's commits, as written (`v1.2.0`).
    pub releases: &'a [String],
}

impl<'a> Scope<'a> {
    /// The whole history, with every release.
    pub fn whole(history: &History, releases: &'a [String]) -> Self {
        Self {
            range: 0..history.commits.len(),
            releases,
        }
    }

    /// A phase as the runner cut it.
    pub fn phase(phase: &'a PhaseSpan) -> Self {
        Self {
            range: phase.range.clone(),
            releases: &phase.releases,
        }
    }
}

/// Every sentence of a text with its verdict, and the faithfulness figure.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Checked {
    pub sentences: Vec<SentenceVerdict>,
    pub passed: usize,
    pub failed: usize,
    /// `passed / (passed + failed)`; 1.0 for a text without sentences.
    pub faithfulness: f64,
    #[serde(skip)]
    source: String,
    /// Where each sentence stands in `source`.
    #[serde(skip)]
    spans: Vec<Range<usize>>,
}

/// One sentence and what the checker found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentenceVerdict {
    /// The sentence, its whitespace collapsed.
    pub text: String,
    pub verdict: Verdict,
    /// The full ids of the commits it cites that resolved in the scope.
    pub cited: Vec<String>,
    /// The numbers it states that were checked and hold (rule 2), in order.
    pub figures: Vec<CheckedFigure>,
}

/// A number a sentence states that matches the facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckedFigure {
    pub quantity: Quantity,
    pub stated: u64,
}

/// Whether a sentence holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", content = "failures", rename_all = "camelCase")]
pub enum Verdict {
    Pass,
    Fail(Vec<Failure>),
}

/// What a failing sentence said, and the fact it was checked against.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(
    tag = "rule",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Failure {
    /// `id` is the prefix of no commit of the history.
    UnknownCommit { id: String },
    /// `id` names `commit`, a commit of the history outside the scope.
    CommitOutOfScope { id: String, commit: String },
    /// `id` is the prefix of `matches` commits in the scope.
    AmbiguousCommit { id: String, matches: usize },
    /// `stated` of `quantity`, where the facts are `expected`: the scope's figure first, then
    /// those of the commits, paths and authors the sentence names.
    WrongNumber {
        stated: u64,
        quantity: Quantity,
        expected: Vec<u64>,
    },
    /// `date` (as written) falls outside the scope's days `first` to `last` (ISO).
    DateOutOfRange {
        date: String,
        first: String,
        last: String,
    },
    /// `name` is no author of the history.
    UnknownAuthor { name: String },
    /// `name` is an author of the history, but of no commit in the scope.
    AuthorOutOfScope { name: String },
    /// `version` is none of the scope's `releases`.
    UnreleasedVersion {
        version: String,
        releases: Vec<String>,
    },
}

/// What a number counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Quantity {
    Commits,
    Authors,
    Bots,
    Files,
    LinesAdded,
    LinesDeleted,
    /// Added plus deleted.
    LinesChanged,
    /// Lines without a qualifier: added, deleted or changed.
    Lines,
}

/// What [`Checked::kept_text`] does with a failing sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Leave it out (and a list item left empty with it).
    Drop,
    /// Keep it, followed by ` [unverified: <reasons>]`.
    Mark,
}

impl Checked {
    /// The text with every failing sentence dropped or marked; passing text is kept byte for
    /// byte.
    pub fn kept_text(&self, mode: Mode) -> String {
        let mut out = String::with_capacity(self.source.len());
        let mut at = 0;
        for (span, sentence) in self.spans.iter().zip(&self.sentences) {
            let Verdict::Fail(failures) = &sentence.verdict else {
                continue;
            };
            match mode {
                Mode::Mark => {
                    out.push_str(&self.source[at..span.end]);
                    let reasons: Vec<String> = failures.iter().map(ToString::to_string).collect();
                    let _ = write!(out, " [unverified: {}]", reasons.join("; "));
                    at = span.end;
                }
                Mode::Drop => {
                    out.push_str(&self.source[at..span.start]);
                    // The blank after the sentence goes with it; a NUL marks where it stood.
                    let rest = &self.source[span.end..];
                    let blank = rest.len() - rest.trim_start_matches([' ', '\t']).len();
                    out.push('\0');
                    at = span.end + blank;
                }
            }
        }
        out.push_str(&self.source[at..]);
        if mode == Mode::Mark {
            return out;
        }
        // A line that held only dropped sentences goes too, list marker and all; paragraphs
        // emptied by drops leave no run of blank lines behind.
        let mut kept = String::with_capacity(out.len());
        let mut blank_run = false;
        for line in out.split_inclusive('\n') {
            let mut line = line.to_owned();
            if line.contains('\0') {
                line = line.replace('\0', "");
                let content = line.trim();
                if content.is_empty() || list_marker(content) == Some(content.len()) {
                    continue;
                }
                let newline = if line.ends_with('\n') { "\n" } else { "" };
                line = format!("{}{newline}", line.trim_end());
            }
            let blank = line.trim().is_empty();
            if blank && blank_run {
                continue;
            }
            blank_run = blank;
            kept.push_str(&line);
        }
        kept
    }
}

/// Checks every sentence of `text` against `history` over `scope`.
pub fn check(text: &str, history: &History, scope: &Scope<'_>) -> Checked {
    let facts = Facts::new(history, scope);
    let spans = sentences(text);
    let sentences: Vec<SentenceVerdict> = spans
        .iter()
        .map(|span| {
            let text = text[span.clone()]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let (failures, cited, figures) = facts.check(&text);
            SentenceVerdict {
                figures,
                text,
                verdict: if failures.is_empty() {
                    Verdict::Pass
                } else {
                    Verdict::Fail(failures)
                },
                cited,
            }
        })
        .collect();
    let passed = sentences
        .iter()
        .filter(|s| s.verdict == Verdict::Pass)
        .count();
    let failed = sentences.len() - passed;
    Checked {
        faithfulness: if sentences.is_empty() {
            1.0
        } else {
            passed as f64 / sentences.len() as f64
        },
        sentences,
        passed,
        failed,
        source: text.to_owned(),
        spans,
    }
}

/// Where the sentences of Markdown prose stand, in order.
///
/// Paragraphs and list items are units: a blank line, a heading, a list marker or a code fence
/// ends one, and the line breaks inside a paragraph are spaces. Headings, fenced code, tables
/// and rules hold no sentences. Within a unit a sentence ends at `.`, `!` or `?` (and any
/// closing `)`, quote or emphasis right after it) followed by whitespace or the end; so
/// `v1.2.3`, `3.5` and `e.g.` mid-word never end one, nor does anything inside a code span.
/// A `.` after *e.g, i.e, cf, vs, etc, approx, incl, resp, al, Mr, Mrs, Ms, Dr, St, No, Fig*
/// or after a single capital (an initial) ends none either.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut unit: Option<Range<usize>> = None;
    let mut fence = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start().len();
        let trimmed = content.trim();
        let is_fence = trimmed.starts_with("```") || trimmed.starts_with("~~~");
        if is_fence || fence {
            if let Some(u) = unit.take() {
                split_unit(text, u, &mut spans);
            }
            fence ^= is_fence;
            continue;
        }
        let rule = trimmed.len() >= 3
            && ["-", "*", "_"].iter().any(|c| {
                trimmed
                    .replace(' ', "")
                    .chars()
                    .all(|x| x.to_string() == *c)
            });
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('|') || rule {
            if let Some(u) = unit.take() {
                split_unit(text, u, &mut spans);
            }
            continue;
        }
        let end = start + content.trim_end().len();
        if let Some(marker) = list_marker(trimmed) {
            if let Some(u) = unit.take() {
                split_unit(text, u, &mut spans);
            }
            unit = Some(start + indent + marker..end);
        } else if let Some(u) = &mut unit {
            u.end = end;
        } else {
            unit = Some(start + indent..end);
        }
    }
    if let Some(u) = unit {
        split_unit(text, u, &mut spans);
    }
    spans
}

/// The length of a list marker and its blank at the start of a line (`- `, `* `, `+ `, `12. `).
fn list_marker(line: &str) -> Option<usize> {
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let marker = if line.starts_with(['-', '*', '+']) {
        1
    } else if digits > 0 && line[digits..].starts_with(['.', ')']) {
        digits + 1
    } else {
        return None;
    };
    let rest = &line[marker..];
    let blank = rest.len() - rest.trim_start().len();
    (blank > 0 || rest.is_empty()).then_some(marker + blank)
}

const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "cf", "vs", "etc", "approx", "incl", "resp", "al", "mr", "mrs", "ms", "dr", "st",
    "no", "fig",
];

fn split_unit(text: &str, unit: Range<usize>, spans: &mut Vec<Range<usize>>) {
    let body = &text[unit.clone()];
    let mut push = |from: usize, to: usize| {
        let piece = &body[from..to];
        let lead = piece.len() - piece.trim_start().len();
        let trimmed = piece.trim();
        if trimmed.chars().any(char::is_alphanumeric) {
            let s = unit.start + from + lead;
            spans.push(s..s + trimmed.len());
        }
    };
    let mut code = false;
    let mut from = 0;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            code = !code;
            continue;
        }
        if code || !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let mut end = i + 1;
        while let Some(&(j, next)) = chars.peek() {
            if matches!(next, ')' | '"' | '\'' | '”' | '’' | '*' | '_') {
                end = j + next.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        if !body[end..].chars().next().is_none_or(char::is_whitespace) {
            continue;
        }
        if c == '.' {
            let word = body[from..i]
                .rsplit(|c: char| c.is_whitespace() || c == '(')
                .next()
                .unwrap_or("");
            let initial = word.len() == 1 && word.chars().all(char::is_uppercase);
            if initial || ABBREVIATIONS.contains(&word.to_lowercase().as_str()) {
                continue;
            }
        }
        push(from, end);
        from = end;
    }
    push(from, body.len());
}

static CODE_SPAN: LazyLock<Regex> = LazyLock::new(|| re(r"`([^`]*)`"));
static FULL_HEX: LazyLock<Regex> = LazyLock::new(|| re(r"^[0-9a-fA-F]{7,40}$"));
static BARE_HEX: LazyLock<Regex> = LazyLock::new(|| re(r"\b[0-9a-f]{7,40}\b"));
static VERSION: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\bv?\d+(?:\.\d+)+(?:-[0-9a-z]+(?:\.[0-9a-z]+)*)?"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)(?:\b(added|inserted|deleted|removed|changed|modified|touched|wrote)\s+)?",
        r"(\d{1,3}(?:,\d{3})+|\d+)\s+",
        r"(?:(?:new|distinct|different|unique|individual|human|total)\s+)?",
        r"(commit|author|contributor|committer|developer|people|person|bot|file|line)s?\b",
        r"(?:\s+(?:of\s+code\s+)?(added|inserted|deleted|removed|changed|modified|touched))?",
    ))
});
const MONTHS: &str = r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)";
static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{4})-(\d{2})-(\d{2})\b"));
static MONTH_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?:\b(\d{{1,2}})\s+)?\b{MONTHS}\.?(?:\s+(\d{{1,2}})(?:st|nd|rd|th)?,?)?\s+(\d{{4}})\b"
    ))
});
const NAME: &str = r"(\p{Lu}[\p{L}'’\-]*(?:[ \t]+\p{Lu}[\p{L}'’\-]*){0,2})";
static NAME_AFTER: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"\b(?:[Bb]y|[Ff]rom|[Tt]hanks\s+to|[Aa]uthor(?:ed)?(?:\s+by)?:?|[Cc]redit(?:ed)?\s+to|[Ww]ritten\s+by)\s+{NAME}"
    ))
});
static NAME_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"{NAME}\s+(?:added|fixed|wrote|rewrote|removed|deleted|refactored|introduced|implemented|contributed|authored|committed|created|merged|moved|renamed|reverted|built|led|started|landed|made)\b"
    ))
});

/// Capitalised words that are no one's name.
const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "it",
    "its",
    "their",
    "his",
    "her",
    "they",
    "he",
    "she",
    "we",
    "i",
    "you",
    "one",
    "someone",
    "everyone",
    "nobody",
    "then",
    "later",
    "also",
    "and",
    "both",
    "all",
    "most",
    "each",
    "every",
    "phase",
    "phases",
    "release",
    "version",
    "commit",
    "commits",
    "day",
    "week",
    "month",
    "year",
    "q1",
    "q2",
    "q3",
    "q4",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "git",
    "github",
    "gitlab",
    "ci",
    "readme",
    "rust",
    "python",
    "go",
    "java",
    "javascript",
    "typescript",
    "docker",
    "kubernetes",
    "linux",
    "windows",
    "macos",
    "api",
    "cli",
    "ui",
    "pr",
    "prs",
    "issue",
    "issues",
    "team",
    "bot",
    "bots",
    "dependabot",
    "renovate",
    "in",
    "on",
    "at",
    "after",
    "before",
    "since",
    "until",
    "during",
    "when",
    "while",
];

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the checker's patterns are valid")
}

/// What a sentence may name a figure of.
#[derive(Debug, Default)]
struct Figures {
    commits: u64,
    people: u64,
    authors: u64,
    bots: u64,
    files: u64,
    added: u64,
    deleted: u64,
}

impl Figures {
    /// Over `commits`, or over their changes under `path` (a file, a directory, or `.` for the
    /// files at the root).
    fn of<'c>(
        history: &History,
        commits: impl Iterator<Item = &'c Commit>,
        path: Option<&str>,
    ) -> Self {
        let mut f = Figures::default();
        let mut authors = HashSet::new();
        let mut files = HashSet::new();
        for commit in commits {
            let mut touched = path.is_none();
            for change in commit.changes.iter().filter(|c| {
                path.is_none_or(|p| {
                    let name = history.path(c.path);
                    if p == "." {
                        return !name.contains('/');
                    }
                    name == p || name.strip_prefix(p).is_some_and(|r| r.starts_with('/'))
                })
            }) {
                touched = true;
                if !commit.merge {
                    files.insert(change.path);
                    f.added += change.added;
                    f.deleted += change.deleted;
                }
            }
            if touched {
                f.commits += 1;
                authors.insert(commit.author);
            }
        }
        f.authors = authors.len() as u64;
        f.bots = authors
            .iter()
            .filter(|a| history.author_of(**a).bot)
            .count() as u64;
        f.people = f.authors - f.bots;
        f.files = files.len() as u64;
        f
    }

    fn values(&self, quantity: Quantity) -> Vec<u64> {
        let (added, deleted) = (self.added, self.deleted);
        match quantity {
            Quantity::Commits => vec![self.commits],
            Quantity::Authors => vec![self.people, self.authors],
            Quantity::Bots => vec![self.bots],
            Quantity::Files => vec![self.files],
            Quantity::LinesAdded => vec![added],
            Quantity::LinesDeleted => vec![deleted],
            Quantity::LinesChanged => vec![added + deleted],
            Quantity::Lines => vec![added, deleted, added + deleted],
        }
    }
}

/// What every sentence is checked against.
struct Facts<'a> {
    history: &'a History,
    range: Range<usize>,
    /// Every commit id of the history with its index, sorted, for prefix look-ups.
    ids: Vec<(&'a str, usize)>,
    /// The UTC days of the earliest and latest dated commit of the scope.
    days: Option<(i64, i64)>,
    /// The names of the scope's authors and of all authors, lower-cased, in words.
    scope_authors: Vec<Vec<String>>,
    all_authors: Vec<Vec<String>>,
    /// Lower-cased words of the scope's subjects and of every path.
    vocabulary: HashSet<String>,
    releases: &'a [String],
    scope: Figures,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl<'a> Facts<'a> {
    fn new(history: &'a History, scope: &Scope<'a>) -> Self {
        let end = scope.range.end.min(history.commits.len());
        let range = scope.range.start.min(end)..end;
        let commits = &history.commits[range.clone()];
        let mut ids: Vec<(&str, usize)> = history
            .commits
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        ids.sort_unstable();
        let dated = commits.iter().filter(|c| c.time != 0).map(|c| c.time);
        let days = dated
            .clone()
            .min()
            .zip(dated.max())
            .map(|(a, b)| (a.div_euclid(86_400), b.div_euclid(86_400)));
        let in_scope: BTreeSet<_> = commits.iter().map(|c| c.author).collect();
        let scope_authors = in_scope
            .iter()
            .map(|a| words(&history.author_of(*a).name))
            .collect();
        let all_authors = history.authors().map(|(_, a)| words(&a.name)).collect();
        let mut vocabulary: HashSet<String> =
            commits.iter().flat_map(|c| words(&c.subject)).collect();
        vocabulary.extend(history.paths().flat_map(|(_, p)| words(p)));
        Self {
            history,
            scope: Figures::of(history, commits.iter(), None),
            range,
            ids,
            days,
            scope_authors,
            all_authors,
            vocabulary,
            releases: scope.releases,
        }
    }

    fn in_scope(&self, index: usize) -> bool {
        self.range.contains(&index)
    }

    /// The failures of one sentence and the commits it cites.
    fn check(&self, sentence: &str) -> (Vec<Failure>, Vec<String>, Vec<CheckedFigure>) {
        let mut failures = Vec::new();
        let mut cited: Vec<usize> = Vec::new();
        // Code spans blanked out, offsets kept: dates, names and numbers are read in prose.
        let mut prose = sentence.to_owned();
        let mut spans = Vec::new();
        for m in CODE_SPAN.captures_iter(sentence) {
            let whole = m.get(0).expect("a match has a whole");
            prose.replace_range(whole.range(), &" ".repeat(whole.len()));
            spans.push(m.get(1).map_or("", |g| g.as_str()).trim());
        }
        let mut ids: Vec<String> = spans
            .iter()
            .filter(|s| FULL_HEX.is_match(s))
            .map(|s| s.to_lowercase())
            .collect();
        ids.extend(
            BARE_HEX
                .find_iter(&prose)
                .map(|m| m.as_str())
                .filter(|t| t.bytes().any(|b| b.is_ascii_digit()))
                .filter(|t| t.bytes().any(|b| b.is_ascii_alphabetic()))
                .map(str::to_owned),
        );
        for id in ids {
            match self.resolve(&id) {
                Ok(index) => {
                    if !cited.contains(&index) {
                        cited.push(index);
                    }
                }
                Err(failure) => failures.push(failure),
            }
        }
        let mut versions: Vec<&str> = spans
            .iter()
            .copied()
            .filter(|s| VERSION.find(s).is_some_and(|m| m.len() == s.len()))
            .collect();
        versions.extend(VERSION.find_iter(&prose).filter_map(|m| {
            let before = prose[..m.start()].chars().next_back();
            let after = prose[m.end()..].chars().next();
            let clean = !before.is_some_and(|c| c.is_alphanumeric() || c == '.')
                && !after.is_some_and(|c| c.is_alphanumeric());
            clean.then_some(m.as_str())
        }));
        for version in versions {
            let v = version.to_lowercase();
            let bare = v.trim_start_matches('v');
            let plain = v.starts_with('v') || bare.matches('.').count() >= 2;
            if plain && !self.released(bare) {
                failures.push(Failure::UnreleasedVersion {
                    version: version.to_owned(),
                    releases: self.releases.to_vec(),
                });
            }
        }
        self.check_dates(&prose, &mut failures);
        self.check_names(&prose, &mut failures);
        let figures = self.check_numbers(sentence, &prose, &spans, &cited, &mut failures);
        let cited = cited
            .into_iter()
            .map(|i| self.history.commits[i].id.clone())
            .collect();
        (failures, cited, figures)
    }

    /// The index of the one commit of the scope `id` is a prefix of.
    fn resolve(&self, id: &str) -> Result<usize, Failure> {
        let from = self.ids.partition_point(|(full, _)| *full < id);
        let matches: Vec<usize> = self.ids[from..]
            .iter()
            .take_while(|(full, _)| full.starts_with(id))
            .map(|(_, i)| *i)
            .collect();
        let inside: Vec<usize> = matches
            .iter()
            .copied()
            .filter(|i| self.in_scope(*i))
            .collect();
        match (inside.as_slice(), matches.first()) {
            ([one], _) => Ok(*one),
            ([], None) => Err(Failure::UnknownCommit { id: id.to_owned() }),
            ([], Some(outside)) => Err(Failure::CommitOutOfScope {
                id: id.to_owned(),
                commit: self.history.commits[*outside].id.clone(),
            }),
            (several, _) => Err(Failure::AmbiguousCommit {
                id: id.to_owned(),
                matches: several.len(),
            }),
        }
    }

    fn released(&self, bare: &str) -> bool {
        self.releases.iter().any(|tag| {
            let tag = tag.to_lowercase();
            let core = tag.trim_start_matches(|c: char| !c.is_ascii_digit());
            core == bare || core.strip_prefix(bare).is_some_and(|r| r.starts_with('.'))
        })
    }

    fn check_dates(&self, prose: &str, failures: &mut Vec<Failure>) {
        // Each date as written with its first and last day; `None` for a day no calendar has.
        let mut stated: Vec<(String, Option<(i64, i64)>)> = Vec::new();
        for c in ISO_DATE.captures_iter(prose) {
            let n = |g: usize| c[g].parse::<i64>().unwrap_or(0);
            let day = day_number(n(1), n(2), n(3));
            stated.push((c[0].to_owned(), day.map(|d| (d, d))));
        }
        for c in MONTH_DATE.captures_iter(prose) {
            let n = |g: usize| c.get(g).and_then(|m| m.as_str().parse::<i64>().ok());
            let month = month_number(&c[2]);
            let Some(year) = n(4) else { continue };
            let days = match n(1).or(n(3)) {
                Some(d) => day_number(year, month, d).map(|d| (d, d)),
                None => day_number(year, month, 1).zip(day_number(
                    year,
                    month,
                    days_in_month(year, month),
                )),
            };
            stated.push((c[0].trim().to_owned(), days));
        }
        for (date, days) in stated {
            let within = days
                .zip(self.days)
                .is_some_and(|((from, to), (first, last))| to >= first && from <= last);
            if !within {
                let iso = |d: i64| utc_date(d * 86_400).to_string();
                failures.push(Failure::DateOutOfRange {
                    date,
                    first: self.days.map_or_else(String::new, |(f, _)| iso(f)),
                    last: self.days.map_or_else(String::new, |(_, l)| iso(l)),
                });
            }
        }
    }

    fn check_names(&self, prose: &str, failures: &mut Vec<Failure>) {
        let candidates = NAME_AFTER
            .captures_iter(prose)
            .chain(NAME_BEFORE.captures_iter(prose))
            .filter_map(|c| c.get(1).map(|m| m.as_str()));
        let mut seen = HashSet::new();
        for candidate in candidates {
            let mut ws: Vec<String> = candidate
                .split_whitespace()
                .map(|w| {
                    w.trim_end_matches("'s")
                        .trim_end_matches("’s")
                        .trim_matches(['\'', '’', '-'])
                        .to_lowercase()
                })
                .collect();
            while ws.first().is_some_and(|w| STOP_WORDS.contains(&w.as_str())) {
                ws.remove(0);
            }
            while ws.last().is_some_and(|w| STOP_WORDS.contains(&w.as_str())) {
                ws.pop();
            }
            let Some(first) = ws.first() else { continue };
            if first.is_empty() || !seen.insert(ws.join(" ")) {
                continue;
            }
            let matches = |names: &[Vec<String>]| {
                names.iter().any(|name| {
                    *name == ws
                        || name.first() == Some(first)
                        || (ws.len() == 1 && name.contains(first))
                })
            };
            if matches(&self.scope_authors) {
                continue;
            }
            let shown = candidate.trim().to_owned();
            if matches(&self.all_authors) {
                failures.push(Failure::AuthorOutOfScope { name: shown });
            } else if !self.vocabulary.contains(first) {
                failures.push(Failure::UnknownAuthor { name: shown });
            }
        }
    }

    fn check_numbers(
        &self,
        sentence: &str,
        prose: &str,
        spans: &[&str],
        cited: &[usize],
        failures: &mut Vec<Failure>,
    ) -> Vec<CheckedFigure> {
        let mut held = Vec::new();
        let mut subjects: Option<Vec<Figures>> = None;
        for c in NUMBER.captures_iter(prose) {
            let number = c.get(2).expect("the number is not optional");
            let before = prose[..number.start()].chars().next_back();
            if c.get(1).is_none()
                && before.is_some_and(|ch| ch.is_alphanumeric() || ".,-/:#_".contains(ch))
            {
                continue;
            }
            let before_word = c.get(1).map(|m| m.as_str().to_lowercase());
            let after_word = c.get(4).map(|m| m.as_str().to_lowercase());
            let noun = c[3].to_lowercase();
            let qualifier = after_word.or(before_word);
            let quantity = match noun.as_str() {
                "commit" => Quantity::Commits,
                "bot" => Quantity::Bots,
                "file" => match qualifier.as_deref() {
                    None | Some("changed" | "modified" | "touched") => Quantity::Files,
                    Some(_) => continue,
                },
                "line" => match qualifier.as_deref() {
                    Some("added" | "inserted" | "wrote") => Quantity::LinesAdded,
                    Some("deleted" | "removed") => Quantity::LinesDeleted,
                    Some(_) => Quantity::LinesChanged,
                    None => Quantity::Lines,
                },
                _ => Quantity::Authors,
            };
            let Ok(stated) = number.as_str().replace(',', "").parse::<u64>() else {
                continue;
            };
            let subjects = subjects.get_or_insert_with(|| self.subjects(sentence, spans, cited));
            let mut expected = self.scope.values(quantity);
            if quantity == Quantity::Authors && expected[0] == expected[1] {
                expected.pop();
            }
            let mut all: Vec<u64> = expected.clone();
            all.extend(subjects.iter().flat_map(|f| f.values(quantity)));
            if all.contains(&stated) {
                held.push(CheckedFigure { quantity, stated });
            } else {
                let mut rest: Vec<u64> = all[expected.len()..].to_vec();
                rest.sort_unstable();
                rest.dedup();
                rest.retain(|v| !expected.contains(v));
                expected.extend(rest);
                failures.push(Failure::WrongNumber {
                    stated,
                    quantity,
                    expected,
                });
            }
        }
        held
    }

    /// The figures of what a sentence names: the commits it cites, the paths in its code spans
    /// (and the files at the root, named so in words) and the authors of the scope whose names
    /// it holds.
    fn subjects(&self, sentence: &str, spans: &[&str], cited: &[usize]) -> Vec<Figures> {
        let commits = &self.history.commits[self.range.clone()];
        let mut out: Vec<Figures> = cited
            .iter()
            .map(|&i| {
                Figures::of(
                    self.history,
                    std::iter::once(&self.history.commits[i]),
                    None,
                )
            })
            .collect();
        // The story names the files at the root in words, not as `.`.
        let root = sentence
            .to_lowercase()
            .contains("files at the root")
            .then_some(".");
        for span in spans.iter().copied().chain(root) {
            let path = if span == "." {
                "."
            } else {
                span.trim_end_matches('/')
            };
            if path.is_empty() || FULL_HEX.is_match(path) {
                continue;
            }
            let f = Figures::of(self.history, commits.iter(), Some(path));
            if f.commits > 0 {
                out.push(f);
            }
        }
        let said: HashSet<String> = words(sentence).into_iter().collect();
        let mut named: BTreeSet<_> = BTreeSet::new();
        for commit in commits {
            let name = words(&self.history.author_of(commit.author).name);
            if name.first().is_some_and(|first| said.contains(first)) {
                named.insert(commit.author);
            }
        }
        for author in named {
            out.push(Figures::of(
                self.history,
                commits.iter().filter(|c| c.author == author),
                None,
            ));
        }
        out
    }
}

fn month_number(name: &str) -> i64 {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let prefix = name.get(..3).unwrap_or(name).to_lowercase();
    NAMES
        .iter()
        .position(|n| *n == prefix)
        .map_or(0, |i| i as i64 + 1)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian), or `None` for no such day.
fn day_number(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantity::Commits => "commits",
            Quantity::Authors => "authors",
            Quantity::Bots => "bots",
            Quantity::Files => "files",
            Quantity::LinesAdded => "lines added",
            Quantity::LinesDeleted => "lines deleted",
            Quantity::LinesChanged => "lines changed",
            Quantity::Lines => "lines",
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::UnknownCommit { id } => write!(f, "no commit {id}"),
            Failure::CommitOutOfScope { id, .. } => {
                write!(f, "commit {id} is outside the range spoken of")
            }
            Failure::AmbiguousCommit { id, matches } => {
                write!(f, "{id} names {matches} commits")
            }
            Failure::WrongNumber {
                stated,
                quantity,
                expected,
            } => write!(
                f,
                "{stated} {quantity}, the facts say {}",
                expected.first().copied().unwrap_or_default()
            ),
            Failure::DateOutOfRange { date, first, last } => {
                write!(f, "{date} is outside {first} to {last}")
            }
            Failure::UnknownAuthor { name } => write!(f, "no author {name}"),
            Failure::AuthorOutOfScope { name } => {
                write!(f, "{name} wrote no commit in the range")
            }
            Failure::UnreleasedVersion { version, .. } => {
                write!(f, "{version} is no release of the range")
            }
        }
    }
}

#[cfg(test)]
mod tests;
