//! Storylines: threads of work across a history's phases, each with its category, lifecycle,
//! commits and authors.
//!
//! Merge commits are left out throughout: a merge repeats work its parents did.
//!
//! **Candidate threads**, each a set of commits:
//! - *scope*: the commits with the same conventional-commit scope (at least 2);
//! - *reference*: the commits naming the same reference (`#123`, `ABC-12`; at least 2);
//! - *term*: a word of at least [`TERM_MIN_LETTERS`] letters (letters only, lower-cased, not in
//!   [`STOPWORDS`]) in at least [`TERM_MIN_SUBJECTS`] subjects on at least [`TERM_MIN_DAYS`]
//!   distinct (UTC) days; a conventional-commit prefix of one of [`CONVENTIONAL_TYPES`]
//!   (`feat(parser)!:`) is not read;
//! - a scope's, reference's or term's thread is its *densest window*: when its commits span more than
//!   [`BURST_MAX_SPAN_PERCENT`] % of the history's time span and more than [`WINDOW_MIN_DAYS`]
//!   days, those of the window of that length holding the most of them, if that is at least
//!   two thirds of them (a word used all along, such
//!   as `diff` in git's history, is a topic of the whole history, not a thread of work in it);
//! - *area*: a burst of commits in a directory, top-level (`src`) or two levels (`src/auth`;
//!   not a second level that only holds the first's files, one of [`CONTAINERS`] such as
//!   `history/src`):
//!   the commits touching it, split where [`BURST_GAP_DAYS`] days pass without one; a run of at
//!   least [`BURST_MIN_COMMITS`] commits spanning at most [`BURST_MAX_SPAN_PERCENT`] % of the
//!   history's time span and holding at least half of the directory's commits is a burst (a
//!   directory worked on all along is no thread).
//!
//! Of each kind the [`CANDIDATES_PER_KIND`] largest are kept (commits, then title). They are
//! **merged** largest first (then scope, reference, term, area; the deeper directory; then
//! title): a candidate joins the first storyline whose commits it shares with a Jaccard index of
//! at least 0.5, or whose first candidate is of another kind, names the same thing (the term
//! `history`, the scope `history` and the directory `history` or `lib/history`) and shares a
//! commit with it; else it starts one, titled by it. Storylines of at least
//! [`Limits::min_commits`] commits are kept, the [`Limits::max`] largest (commits, then the
//! first commit earliest in walk order, then title), one per title (the largest of those whose
//! titles differ only in case).
//!
//! **Category** ([`category`]), by the first rule that holds, `n` being its commits:
//! 1. *security*: at least a third of the subjects say security, secure, cve, vuln(s),
//!    vulnerability, xss, csrf, auth, authn, authz, authentication, authenticate, authorization
//!    or authorize;
//! 2. *migration*: at least a third say migrat…, upgrad…, port(s|ed|ing) or move(s|d)/moving to;
//! 3. *performance*: at least a third say perf, performance, speed…, faster or optimi…;
//! 4. *bug campaign*: more than half of its [`signalled`] commits (those not of class `chore`,
//!    enrich's class for what it could not tell, which signals nothing) are of class `fix`;
//! 5. *refactoring*: more than half of them are `refactor`;
//! 6. *docs*: more than half of them are `docs`;
//! 7. *testing*: more than half of them are `test`;
//! 8. *infrastructure*: more than half of them are `build` or say ci, deps, dependency or
//!    dependencies;
//! 9. *feature* otherwise.
//!
//! **Lifecycle** ([`lifecycle`]), relative to the history's time span (from its oldest to its
//! newest commit time, times of 0 left out), *recent* meaning within the last
//! [`RECENT_PERCENT`] % of it, by the first rule that holds:
//! 1. *emerging*: the span is not empty and the thread's first commit is recent;
//! 2. *active*: its last commit is recent;
//! 3. *completed*: its last commit closes it (class `docs`, or a subject word in
//!    [`CLOSING_WORDS`]), or it had at least [`COMPLETED_MIN_COMMITS`] commits;
//! 4. *stalled*: it had at least [`STALLED_MIN_COMMITS`] commits (and stopped without a close);
//! 5. *abandoned*: fewer (only with [`Limits::min_commits`] below 3).
//!
//! One threshold tells recent from not: a thread of 3 or 4 commits with none in the last 10 %
//! is stalled whether it stopped 15 % or 60 % of the span before the end.
//!
//! A storyline is titled by its first candidate: a term as its subjects most often spell it
//! (`README`, lower case on a tie).
//!
//! Its **phases** are the indices of the given commit ranges holding any of its commits. It
//! lists its first and last [`LISTED_COMMITS`] commits (no commit twice), its
//! [`LISTED_AUTHORS`] most frequent authors, the count of each class.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crate::history::{AuthorId, Commit, History};
pub use crate::subjects::CONVENTIONAL_TYPES;

/// A term is at least this many letters.
pub const TERM_MIN_LETTERS: usize = 4;
/// A term is in at least this many subjects …
pub const TERM_MIN_SUBJECTS: usize = 3;
/// … on at least this many distinct days.
pub const TERM_MIN_DAYS: usize = 2;
/// A directory's commits split into runs where this many days pass without one.
pub const BURST_GAP_DAYS: i64 = 14;
/// A burst is a run of at least this many commits …
pub const BURST_MIN_COMMITS: usize = 3;
/// … spanning at most this share (percent) of the history's time span.
pub const BURST_MAX_SPAN_PERCENT: i64 = 25;
/// A term's or scope's thread may span this many days whatever the history's span: in a
/// young history a thread can run all along.
pub const WINDOW_MIN_DAYS: i64 = 365;
/// The largest candidates kept of each kind before merging.
pub const CANDIDATES_PER_KIND: usize = 64;
/// Recent: within this share (percent) of the history's time span before its end.
pub const RECENT_PERCENT: i64 = 10;
/// A thread that stopped after this many commits is completed.
pub const COMPLETED_MIN_COMMITS: usize = 5;
/// A thread that stopped after this many commits (and fewer than [`COMPLETED_MIN_COMMITS`])
/// without a close is stalled; with fewer, abandoned.
pub const STALLED_MIN_COMMITS: usize = 3;
/// First and last commits listed.
pub const LISTED_COMMITS: usize = 3;
/// Authors listed.
pub const LISTED_AUTHORS: usize = 5;

/// Subject words that close a thread when its last commit says one.
pub const CLOSING_WORDS: &[&str] = &[
    "complete",
    "completed",
    "completes",
    "done",
    "final",
    "finalise",
    "finalize",
    "finish",
    "finished",
    "finishes",
    "release",
    "released",
];

/// Words no term thread is made of: common English, the verbs every history uses (git's
/// `teach`, `avoid`, `convert` among them), tests, issues and release chores (`draft`,
/// `batch`, a translation's `round`) (sorted: looked up by binary search).
#[rustfmt::skip]
pub const STOPWORDS: &[&str] = &[
    "about", "above", "added", "adding", "adds", "after", "again", "against", "allow", "allows",
    "also", "avoid", "based", "batch", "been", "before", "being", "below", "better", "between",
    "both", "branch", "bump", "bumps", "cannot", "change", "changed", "changes", "changing",
    "code", "commit", "commits", "convert", "could", "does", "doing", "done", "down", "draft",
    "during", "each", "either", "else", "ensure", "even", "every", "file", "files", "first",
    "fixed", "fixes", "fixing", "from", "further", "handle", "have", "having", "here", "implement",
    "improve", "improved", "improves", "improving", "initial", "into", "introduce", "issue",
    "issues", "just", "like", "made", "make", "makes", "merge", "merged", "merging", "minor",
    "misc", "more", "most", "much", "must", "need", "needs", "only", "other", "over", "prepare",
    "pull", "remove", "removed", "removes", "removing", "request", "round", "same", "should",
    "small", "some", "still", "stop", "stuff", "such", "support", "teach", "test", "testing",
    "tests", "than", "that", "their", "them", "then", "there", "these", "they", "this", "those",
    "through", "tweak", "tweaks", "typo", "typos", "under", "until", "update", "updated",
    "updates", "updating", "upon", "used", "uses", "using", "various", "version", "very", "were",
    "what", "when", "where", "which", "while", "will", "with", "within", "without", "work",
    "working", "works", "would", "your",
];

/// What a candidate thread was made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    Scope,
    Reference,
    Term,
    Area,
}

/// What kind of work a storyline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Category {
    Security,
    Migration,
    Performance,
    BugCampaign,
    Refactoring,
    Docs,
    Testing,
    Infrastructure,
    Feature,
}

/// Where a storyline stands at the history's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Lifecycle {
    Emerging,
    Active,
    Completed,
    Stalled,
    Abandoned,
}

/// A candidate thread merged into a storyline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    pub source: Source,
    pub title: String,
    pub commits: usize,
}

/// An author of a storyline and how many of its commits are theirs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorCommits {
    pub name: String,
    pub commits: usize,
}

/// A thread of work.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Storyline {
    /// The scope, reference, term or directory of the candidate that started it; a term as
    /// its subjects most often spell it.
    pub title: String,
    pub source: Source,
    /// The candidates merged into it, the one it is titled by first.
    pub threads: Vec<Thread>,
    pub category: Category,
    /// How many of its commits carry the category's signal (for `feature`: of class
    /// `feature`).
    pub category_commits: usize,
    /// Its commits by class.
    pub classes: BTreeMap<String, usize>,
    pub lifecycle: Lifecycle,
    /// Indices of the phases holding any of its commits.
    pub phases: Vec<usize>,
    /// How many commits it has.
    pub commits: usize,
    /// Every commit of the storyline (indices into the history), oldest first.
    pub members: Vec<usize>,
    /// Its first commits (at most [`LISTED_COMMITS`]), oldest first.
    pub first_commits: Vec<String>,
    /// Its last commits (at most [`LISTED_COMMITS`], none of the first), oldest first.
    pub last_commits: Vec<String>,
    /// Its most frequent authors (at most [`LISTED_AUTHORS`]; ties: the earlier author first).
    pub authors: Vec<AuthorCommits>,
    pub author_count: usize,
    /// Author time of its oldest and newest commit.
    pub first_time: i64,
    pub last_time: i64,
}

/// How many storylines are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many storylines.
    pub max: usize,
    /// Each with at least this many commits.
    pub min_commits: usize,
}

impl Default for Limits {
    /// 12 storylines of at least 3 commits.
    fn default() -> Self {
        Self {
            max: 12,
            min_commits: 3,
        }
    }
}

/// The history's time span: its oldest and newest commit time (times of 0 left out).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: i64,
    end: i64,
}

impl Span {
    fn of(history: &History) -> Option<Self> {
        let times = history.commits.iter().map(|c| c.time).filter(|&t| t != 0);
        let start = times.clone().min()?;
        let end = times.max()?;
        Some(Self { start, end })
    }

    fn length(self) -> i64 {
        self.end - self.start
    }

    /// Times at or after this are recent.
    fn recent(self) -> i64 {
        self.end - self.length() * RECENT_PERCENT / 100
    }
}

/// A subject's words: lower-cased runs of letters and digits.
fn words(subject: &str) -> impl Iterator<Item = String> + '_ {
    subject
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The subject without a conventional-commit prefix (`feat(parser)!: `).
fn without_prefix(subject: &str) -> &str {
    let Some((head, rest)) = subject.split_once(':') else {
        return subject;
    };
    let head = head.strip_suffix('!').unwrap_or(head);
    let (kind, scope) = match head.split_once('(') {
        Some((kind, scope)) => (kind, Some(scope)),
        None => (head, None),
    };
    let kind_ok = CONVENTIONAL_TYPES.contains(&kind.to_ascii_lowercase().as_str());
    let scope_ok = scope.is_none_or(|s| s.ends_with(')') && !s[..s.len() - 1].contains(')'));
    if kind_ok && scope_ok { rest } else { subject }
}

/// The terms of a subject a term thread can be made of (see the module docs), each once; a
/// mailed patch's `[PATCH]` tag is read past.
pub fn subject_terms(subject: &str) -> Vec<String> {
    let mut terms: Vec<String> = words(without_prefix(crate::subjects::without_tags(subject)))
        .filter(|w| w.chars().count() >= TERM_MIN_LETTERS)
        .filter(|w| w.chars().all(char::is_alphabetic))
        .filter(|w| STOPWORDS.binary_search(&w.as_str()).is_err())
        .collect();
    terms.sort();
    terms.dedup();
    terms
}

/// The signals a subject carries, for the category.
#[derive(Debug, Default, Clone, Copy)]
struct Signals {
    security: bool,
    migration: bool,
    performance: bool,
    infrastructure: bool,
    closing: bool,
}

fn signals(subject: &str) -> Signals {
    let words: Vec<String> = words(subject).collect();
    let mut found = Signals::default();
    for (i, w) in words.iter().enumerate() {
        let w = w.as_str();
        found.security |= matches!(
            w,
            "security"
                | "secure"
                | "cve"
                | "vuln"
                | "vulns"
                | "vulnerability"
                | "vulnerabilities"
                | "xss"
                | "csrf"
                | "auth"
                | "authn"
                | "authz"
                | "authentication"
                | "authenticate"
                | "authorization"
                | "authorize"
        );
        let moving = matches!(w, "move" | "moves" | "moved" | "moving")
            && words.get(i + 1).is_some_and(|next| next == "to");
        found.migration |= w.starts_with("migrat")
            || w.starts_with("upgrad")
            || matches!(w, "port" | "ports" | "ported" | "porting")
            || moving;
        found.performance |= matches!(w, "perf" | "performance" | "faster")
            || w.starts_with("speed")
            || w.starts_with("optimi");
        found.infrastructure |= matches!(w, "ci" | "deps" | "dependency" | "dependencies");
        found.closing |= CLOSING_WORDS.contains(&w);
    }
    found
}

/// The category of a thread of commits (indices into [`History::commits`]; see the module
/// docs) and how many of them carry its signal.
pub fn category(history: &History, commits: &[usize]) -> (Category, usize) {
    let n = commits.len();
    let (mut security, mut migration, mut performance, mut infrastructure) = (0, 0, 0, 0);
    let mut classes: HashMap<&str, usize> = HashMap::new();
    for &index in commits {
        let commit = &history.commits[index];
        let found = signals(&commit.subject);
        security += usize::from(found.security);
        migration += usize::from(found.migration);
        performance += usize::from(found.performance);
        infrastructure += usize::from(found.infrastructure || commit.class == "build");
        *classes.entry(commit.class.as_str()).or_default() += 1;
    }
    let class = |name: &str| classes.get(name).copied().unwrap_or(0);
    let third = |count: usize| count > 0 && count * 3 >= n;
    let signalled = signalled(n, class("chore"));
    // A majority: one fix beside one feature is no bug campaign.
    let half = |count: usize| count > 0 && count * 2 > signalled;
    if third(security) {
        (Category::Security, security)
    } else if third(migration) {
        (Category::Migration, migration)
    } else if third(performance) {
        (Category::Performance, performance)
    } else if half(class("fix")) {
        (Category::BugCampaign, class("fix"))
    } else if half(class("refactor")) {
        (Category::Refactoring, class("refactor"))
    } else if half(class("docs")) {
        (Category::Docs, class("docs"))
    } else if half(class("test")) {
        (Category::Testing, class("test"))
    } else if half(infrastructure) {
        (Category::Infrastructure, infrastructure)
    } else {
        (Category::Feature, class("feature"))
    }
}

/// The commits of a thread whose class says something: all but the chores (enrich's class for
/// what it could not tell), or all of them when every one is a chore.
pub fn signalled(commits: usize, chores: usize) -> usize {
    match commits.saturating_sub(chores) {
        0 => commits,
        rest => rest,
    }
}

/// Whether a commit closes a thread: class `docs` or a closing word in its subject.
fn closes(commit: &Commit) -> bool {
    commit.class == "docs" || signals(&commit.subject).closing
}

/// The lifecycle of a thread of commits (indices into [`History::commits`], oldest first; see
/// the module docs). An empty thread is abandoned.
pub fn lifecycle(history: &History, commits: &[usize]) -> Lifecycle {
    match Span::of(history) {
        Some(span) => lifecycle_in(history, span, commits),
        None => Lifecycle::Abandoned,
    }
}

fn lifecycle_in(history: &History, span: Span, commits: &[usize]) -> Lifecycle {
    let Some(&last) = commits.last() else {
        return Lifecycle::Abandoned;
    };
    let times = commits.iter().map(|&i| history.commits[i].time);
    let first_time = times.clone().min().unwrap_or(0);
    let last_time = times.max().unwrap_or(0);
    if span.length() > 0 && first_time >= span.recent() {
        Lifecycle::Emerging
    } else if last_time >= span.recent() {
        Lifecycle::Active
    } else if closes(&history.commits[last]) || commits.len() >= COMPLETED_MIN_COMMITS {
        Lifecycle::Completed
    } else if commits.len() >= STALLED_MIN_COMMITS {
        Lifecycle::Stalled
    } else {
        Lifecycle::Abandoned
    }
}

/// A candidate thread: its commits, ascending and distinct.
#[derive(Debug, Clone)]
struct Candidate {
    source: Source,
    title: String,
    commits: Vec<usize>,
}

/// Appends `index` unless it is already the last.
fn push_once(commits: &mut Vec<usize>, index: usize) {
    if commits.last() != Some(&index) {
        commits.push(index);
    }
}

/// The largest [`CANDIDATES_PER_KIND`] of one kind with at least `min` commits.
fn keep_largest(
    source: Source,
    found: HashMap<String, Vec<usize>>,
    min: usize,
    into: &mut Vec<Candidate>,
) {
    let mut kept: Vec<Candidate> = found
        .into_iter()
        .filter(|(_, commits)| commits.len() >= min)
        .map(|(title, commits)| Candidate {
            source,
            title,
            commits,
        })
        .collect();
    kept.sort_by(|a, b| {
        b.commits
            .len()
            .cmp(&a.commits.len())
            .then_with(|| a.title.cmp(&b.title))
    });
    kept.truncate(CANDIDATES_PER_KIND);
    into.extend(kept);
}

fn candidates(history: &History, span: Span) -> Vec<Candidate> {
    let mut scopes: HashMap<String, Vec<usize>> = HashMap::new();
    let mut references: HashMap<String, Vec<usize>> = HashMap::new();
    // Per term: its commits and its days (each pushed when it differs from the last).
    let mut terms: HashMap<String, (Vec<usize>, Vec<i64>)> = HashMap::new();
    let mut areas: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, commit) in history.commits.iter().enumerate() {
        if commit.merge {
            continue;
        }
        if let Some(scope) = &commit.scope {
            push_once(scopes.entry(scope.clone()).or_default(), index);
        }
        for reference in &commit.references {
            push_once(references.entry(reference.clone()).or_default(), index);
        }
        let day = commit.time.div_euclid(86_400);
        for term in subject_terms(&commit.subject) {
            let (commits, days) = terms.entry(term).or_default();
            push_once(commits, index);
            if days.last() != Some(&day) {
                days.push(day);
            }
        }
        for change in &commit.changes {
            let path = history.path(change.path);
            let mut slashes = path.match_indices('/').map(|(end, _)| &path[..end]);
            for (depth, dir) in slashes.by_ref().take(2).enumerate() {
                // `history/src` holds what `history` holds and names nothing more.
                if depth == 1 && is_container(dir) {
                    continue;
                }
                push_once(areas.entry(dir).or_default(), index);
            }
        }
    }
    let mut found = Vec::new();
    let scopes = scopes
        .into_iter()
        .filter_map(|(scope, commits)| Some((scope, densest(history, span, commits)?)))
        .collect();
    keep_largest(Source::Scope, scopes, 2, &mut found);
    let references = references
        .into_iter()
        .filter_map(|(reference, commits)| Some((reference, densest(history, span, commits)?)))
        .collect();
    keep_largest(Source::Reference, references, 2, &mut found);
    let terms = terms
        .into_iter()
        .filter(|(_, (commits, _))| commits.len() >= TERM_MIN_SUBJECTS)
        .filter_map(|(term, (commits, mut days))| {
            days.sort_unstable();
            days.dedup();
            (days.len() >= TERM_MIN_DAYS).then_some((term, commits))
        })
        .filter_map(|(term, commits)| Some((term, densest(history, span, commits)?)))
        .collect();
    keep_largest(Source::Term, terms, TERM_MIN_SUBJECTS, &mut found);
    let mut bursts: Vec<Candidate> = Vec::new();
    if span.length() > 0 {
        for (dir, commits) in areas {
            bursts.extend(
                runs(history, &commits)
                    .into_iter()
                    .filter(|run| run.len() >= BURST_MIN_COMMITS)
                    // A burst is most of the directory's work, not a stretch of it.
                    .filter(|run| run.len() * 2 >= commits.len())
                    .filter(|run| {
                        let times = run.iter().map(|&i| history.commits[i].time);
                        let run_span = times.clone().max().unwrap_or(0) - times.min().unwrap_or(0);
                        run_span * 100 <= span.length() * BURST_MAX_SPAN_PERCENT
                    })
                    .map(|run| Candidate {
                        source: Source::Area,
                        title: dir.to_owned(),
                        commits: run.to_vec(),
                    }),
            );
        }
    }
    bursts.sort_by(|a, b| {
        b.commits
            .len()
            .cmp(&a.commits.len())
            .then_with(|| a.title.cmp(&b.title))
            .then(a.commits[0].cmp(&b.commits[0]))
    });
    bursts.truncate(CANDIDATES_PER_KIND);
    found.extend(bursts);
    found
}

/// Directory names that hold a component's files without naming anything (`history/src`).
pub const CONTAINERS: &[&str] = &[
    "include", "internal", "lib", "pkg", "source", "sources", "src",
];

/// Whether a directory's last component is one of [`CONTAINERS`].
fn is_container(dir: &str) -> bool {
    let last = dir.rsplit('/').next().unwrap_or(dir);
    CONTAINERS.contains(&last.to_ascii_lowercase().as_str())
}

/// What a candidate names, to tell two kinds of candidate about the same thing: its title
/// lower-cased, the last component of a directory or scope path, without an extension
/// (`history`, `builtin/add.c` → `add`).
fn name_of(candidate: &Candidate) -> String {
    let lower = candidate.title.to_lowercase();
    let last = lower.rsplit('/').next().unwrap_or(&lower);
    match candidate.source {
        Source::Reference => lower.clone(),
        _ => last.split('.').next().unwrap_or(last).to_owned(),
    }
}

/// Whether a candidate joins a storyline: it shares most commits with it ([`share_most`]), or
/// it is of another kind than the storyline's first candidate and names the same thing
/// ([`name_of`]: the term `history` and the directory `history`), and shares a commit with it.
fn joins(commits: &[usize], threads: &[Candidate], candidate: &Candidate) -> bool {
    if share_most(commits, &candidate.commits) {
        return true;
    }
    let first = &threads[0];
    first.source != candidate.source
        && name_of(first) == name_of(candidate)
        && candidate
            .commits
            .iter()
            .any(|c| commits.binary_search(c).is_ok())
}

/// How a term is most often written in the subjects of `commits` (`README`, `Gateway`),
/// lower case on a tie; the term itself when no subject has it.
fn spelling(history: &History, commits: &[usize], term: &str) -> String {
    let mut spellings: BTreeMap<&str, usize> = BTreeMap::new();
    for &index in commits {
        let subject = &history.commits[index].subject;
        for word in subject.split(|c: char| !c.is_alphanumeric()) {
            if word.to_lowercase() == term {
                *spellings.entry(word).or_default() += 1;
            }
        }
    }
    let most = spellings.values().copied().max().unwrap_or(0);
    if spellings.get(term) == Some(&most) {
        return term.to_owned();
    }
    spellings
        .into_iter()
        .find(|&(_, n)| n == most)
        .map_or_else(|| term.to_owned(), |(word, _)| word.to_owned())
}

/// A term's, reference's or scope's thread: its commits within the window of [`BURST_MAX_SPAN_PERCENT`] %
/// of the history's time span (at least [`WINDOW_MIN_DAYS`]) that holds the most of them (the
/// earliest of equals), when that is at least two thirds of them; `None` for a word or scope used all along, a topic of the
/// whole history rather than a thread of work in it. Ascending, as given.
fn densest(history: &History, span: Span, commits: Vec<usize>) -> Option<Vec<usize>> {
    let window = (span.length() * BURST_MAX_SPAN_PERCENT / 100).max(WINDOW_MIN_DAYS * 86_400);
    let time = |i: usize| history.commits[i].time;
    let mut by_time = commits.clone();
    by_time.sort_by_key(|&i| (time(i), i));
    let (first, last) = (*by_time.first()?, *by_time.last()?);
    if time(last) - time(first) <= window {
        return Some(commits);
    }
    let (mut best, mut best_start, mut start) = (0, 0, 0);
    for end in 0..by_time.len() {
        while time(by_time[end]) - time(by_time[start]) > window {
            start += 1;
        }
        if end + 1 - start > best {
            (best, best_start) = (end + 1 - start, start);
        }
    }
    if best * 3 < commits.len() * 2 {
        return None;
    }
    let mut kept = by_time[best_start..best_start + best].to_vec();
    kept.sort_unstable();
    Some(kept)
}

/// A directory's commits split where more than [`BURST_GAP_DAYS`] days pass without one.
fn runs<'c>(history: &History, commits: &'c [usize]) -> Vec<&'c [usize]> {
    let gap = BURST_GAP_DAYS * 86_400;
    let mut runs = Vec::new();
    let mut start = 0;
    // The latest time of the run so far: a commit written long before it was merged (an older
    // time later in the walk) neither splits a run nor makes the next commit look like one
    // after a gap.
    let mut latest = commits.first().map_or(0, |&c| history.commits[c].time);
    for i in 1..=commits.len() {
        let time = commits.get(i).map(|&c| history.commits[c].time);
        if time.is_none_or(|t| t - latest > gap) {
            runs.push(&commits[start..i]);
            start = i;
            latest = time.unwrap_or(latest);
        } else if let Some(t) = time {
            latest = latest.max(t);
        }
    }
    runs
}

/// Whether two ascending sets share at least half of their union (Jaccard ≥ 0.5).
fn share_most(a: &[usize], b: &[usize]) -> bool {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    // Jaccard ≤ small / large.
    if small.is_empty() || small.len() * 2 < large.len() {
        return false;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < small.len() && j < large.len() {
        match small[i].cmp(&large[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared * 2 >= small.len() + large.len() - shared
}

fn union(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut all: Vec<usize> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// How deep a directory candidate is (0 for the other kinds): the deeper of two alike names the
/// storyline.
fn depth(candidate: &Candidate) -> usize {
    match candidate.source {
        Source::Area => candidate.title.matches('/').count(),
        _ => 0,
    }
}

/// Storylines with the default [`Limits`] (12, of at least 3 commits).
pub fn storylines(history: &History, phases: &[Range<usize>]) -> Vec<Storyline> {
    storylines_with(history, phases, Limits::default())
}

/// Storylines of a history whose phases are `phases` (ranges of commit indices; see the module
/// docs).
pub fn storylines_with(
    history: &History,
    phases: &[Range<usize>],
    limits: Limits,
) -> Vec<Storyline> {
    let Some(span) = Span::of(history) else {
        return Vec::new();
    };
    let mut candidates = candidates(history, span);
    candidates.sort_by(|a, b| {
        b.commits
            .len()
            .cmp(&a.commits.len())
            .then(a.source.cmp(&b.source))
            .then_with(|| depth(b).cmp(&depth(a)))
            .then_with(|| a.title.cmp(&b.title))
            .then(a.commits[0].cmp(&b.commits[0]))
    });
    // (the commits, the candidates merged), in order of creation.
    let mut merged: Vec<(Vec<usize>, Vec<Candidate>)> = Vec::new();
    for candidate in candidates {
        match merged
            .iter_mut()
            .find(|(commits, threads)| joins(commits, threads, &candidate))
        {
            Some((commits, threads)) => {
                *commits = union(commits, &candidate.commits);
                threads.push(candidate);
            }
            None => merged.push((candidate.commits.clone(), vec![candidate])),
        }
    }
    merged.retain(|(commits, _)| commits.len() >= limits.min_commits.max(1));
    merged.sort_by(|a, b| {
        b.0.len()
            .cmp(&a.0.len())
            .then(a.0[0].cmp(&b.0[0]))
            .then_with(|| a.1[0].title.cmp(&b.1[0].title))
    });
    // Two bursts in one directory, or a scope and a directory of one name, would be told under
    // the same title: the largest is told.
    let mut titles = std::collections::HashSet::new();
    merged.retain(|(_, threads)| titles.insert(threads[0].title.to_lowercase()));
    merged.truncate(limits.max);
    merged
        .into_iter()
        .map(|(commits, threads)| storyline(history, span, phases, &commits, threads))
        .collect()
}

fn storyline(
    history: &History,
    span: Span,
    phases: &[Range<usize>],
    commits: &[usize],
    threads: Vec<Candidate>,
) -> Storyline {
    let (category, category_commits) = category(history, commits);
    let mut classes = BTreeMap::new();
    let mut authors: HashMap<AuthorId, usize> = HashMap::new();
    for &index in commits {
        let commit = &history.commits[index];
        *classes.entry(commit.class.clone()).or_default() += 1;
        *authors.entry(commit.author).or_default() += 1;
    }
    let mut authors: Vec<(AuthorId, usize)> = authors.into_iter().collect();
    authors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let id = |&index: &usize| history.commits[index].id.clone();
    let first = commits.len().min(LISTED_COMMITS);
    let last = (commits.len() - first).min(LISTED_COMMITS);
    let times = commits.iter().map(|&i| history.commits[i].time);
    Storyline {
        title: match threads[0].source {
            Source::Term => spelling(history, commits, &threads[0].title),
            _ => threads[0].title.clone(),
        },
        source: threads[0].source,
        threads: threads
            .into_iter()
            .map(|t| Thread {
                source: t.source,
                title: t.title,
                commits: t.commits.len(),
            })
            .collect(),
        category,
        category_commits,
        classes,
        lifecycle: lifecycle_in(history, span, commits),
        phases: phases
            .iter()
            .enumerate()
            .filter(|(_, range)| {
                let at = commits.partition_point(|&c| c < range.start);
                commits.get(at).is_some_and(|&c| c < range.end)
            })
            .map(|(i, _)| i)
            .collect(),
        commits: commits.len(),
        members: commits.to_vec(),
        first_commits: commits[..first].iter().map(id).collect(),
        last_commits: commits[commits.len() - last..].iter().map(id).collect(),
        author_count: authors.len(),
        authors: authors
            .into_iter()
            .take(LISTED_AUTHORS)
            .map(|(author, commits)| AuthorCommits {
                name: history.author_of(author).name.clone(),
                commits,
            })
            .collect(),
        first_time: times.clone().min().unwrap_or(0),
        last_time: times.max().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests;
