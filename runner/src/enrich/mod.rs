//! The enrich stage: what a commit *is*, read from its record — pure functions, no I/O.
//!
//! Per commit an [`Enrichment`]: the conventional-commit header when the subject follows the
//! spec (`type(scope)!: description`, conventionalcommits.org 1.0), otherwise a heuristic
//! [`CommitClass`]; languages by path; ticket and pull/merge-request references; whether the
//! author is a bot; a size bucket from the churn; the tags and releases that name the commit.
//!
//! Later stages keep only a compact [`CommitFacts`] per commit, never the full records, so a
//! long history fits in memory: about 200 bytes per commit plus its subject.
//!
//! The heuristic class, in order: a `Revert "…"` subject is `revert`; a merge is `chore`; the
//! earliest keyword in the subject decides (`fix`, `bug` → fix; `add`, `implement` → feature;
//! `refactor`, `rename` → refactor; …, see [`KEYWORDS`]); otherwise the files decide when all of
//! them are documentation, tests or build files; otherwise `chore`.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use gitview_core::time::epoch_seconds;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::record::{CommitRecord, Person};
use crate::tags::Tag;

/// The language of a path, by file name or extension (the history crate's table, so the
/// story's language shares and this label agree).
pub use gitview_history::languages::language_of;
/// What the extract stage found in the dependency manifests a commit changed.
pub use gitview_history::manifests::DependencyChanges;

/// What kind of change a commit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommitClass {
    Feature,
    Fix,
    Refactor,
    Docs,
    Test,
    Build,
    Chore,
    Revert,
}

impl CommitClass {
    /// Every class, in a fixed order.
    pub const ALL: [CommitClass; 8] = [
        Self::Feature,
        Self::Fix,
        Self::Refactor,
        Self::Docs,
        Self::Test,
        Self::Build,
        Self::Chore,
        Self::Revert,
    ];

    /// The lower-case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Feature => "feature",
            Self::Fix => "fix",
            Self::Refactor => "refactor",
            Self::Docs => "docs",
            Self::Test => "test",
            Self::Build => "build",
            Self::Chore => "chore",
            Self::Revert => "revert",
        }
    }
}

/// A conventional-commit header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conventional {
    /// The type as written, lower-cased (`feat`, `fix`, `chore`, …).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `!` after the type/scope, or a `BREAKING CHANGE:` footer.
    pub breaking: bool,
}

/// What a reference points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReferenceKind {
    /// `#123` (GitHub/Gitea issue or pull request; which one cannot be told from the text).
    Issue,
    /// `Merge pull request #123`, or a squash merge's trailing `(#123)`.
    PullRequest,
    /// GitLab `!123`.
    MergeRequest,
    /// A tracker key such as `ABC-123` (Jira, Linear, YouTrack).
    Ticket,
    /// `CVE-2024-12345`.
    Cve,
}

/// A reference found in a commit message.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub kind: ReferenceKind,
    /// As written: `#123`, `!45`, `ABC-123`, `CVE-2024-1`.
    pub id: String,
}

/// A merge described by its subject.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeInfo {
    /// The branch merged (`feature/x`, `owner/branch` of a pull request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The branch merged into, when the subject says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
}

/// Size of a change by churn (lines added plus deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SizeBucket {
    /// No files changed (merges, empty commits).
    Empty,
    /// ≤ 10 lines (or binary files only).
    Xs,
    /// ≤ 50 lines.
    S,
    /// ≤ 250 lines.
    M,
    /// ≤ 1000 lines.
    L,
    /// More than 1000 lines.
    Xl,
}

impl SizeBucket {
    /// The bucket of a commit with `files` entries and `churn` changed lines.
    pub fn of(files: usize, churn: u64) -> Self {
        match (files, churn) {
            (0, _) => Self::Empty,
            (_, 0..=10) => Self::Xs,
            (_, 11..=50) => Self::S,
            (_, 51..=250) => Self::M,
            (_, 251..=1000) => Self::L,
            _ => Self::Xl,
        }
    }
}

/// Everything the enrich stage adds to one commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrichment {
    pub class: CommitClass,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conventional: Option<Conventional>,
    /// Languages of the changed files, sorted.
    pub languages: Vec<String>,
    /// Ticket, issue and pull/merge-request references, in order of appearance, deduplicated.
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeInfo>,
    /// The author looks like a bot (`[bot]`, dependabot, renovate, github-actions, …).
    pub bot: bool,
    /// Lines added plus deleted (binary files count nothing).
    pub churn: u64,
    pub size: SizeBucket,
    /// Top-level directories touched (`(root)` for files at the top), sorted.
    pub areas: Vec<String>,
    /// Names of all tags naming this commit.
    pub tags: Vec<String>,
    /// The subset of `tags` that look like releases.
    pub releases: Vec<String>,
    /// Dependencies the commit added to and removed from its manifests (`Cargo.toml`,
    /// `package.json`, `go.mod`, …): the extract stage reads them from the manifests' blobs,
    /// since the record carries no contents; left out when there are none.
    #[serde(default, skip_serializing_if = "DependencyChanges::is_empty")]
    pub dependencies: DependencyChanges,
}

/// Enriches one commit; `tags` are the tags naming it.
pub fn enrich(record: &CommitRecord, tags: &[Tag]) -> Enrichment {
    let subject = subject_of(&record.message);
    let mut conventional = parse_conventional(subject);
    if let Some(header) = conventional.as_mut() {
        header.breaking |= has_breaking_footer(&record.message);
    }
    let class = conventional
        .as_ref()
        .and_then(|header| class_of_type(&header.kind))
        .unwrap_or_else(|| {
            heuristic_class(
                subject,
                record.parents.len() > 1,
                record.files.iter().map(|f| f.path.as_str()),
            )
        });
    let churn = record
        .files
        .iter()
        .map(|f| f.added.unwrap_or(0) + f.deleted.unwrap_or(0))
        .sum();
    let languages: BTreeSet<&str> = record
        .files
        .iter()
        .filter_map(|f| language_of(&f.path))
        .collect();
    Enrichment {
        class,
        conventional,
        languages: languages.into_iter().map(str::to_owned).collect(),
        references: references(&record.message),
        merge: parse_merge(subject),
        bot: is_bot(&record.author),
        churn,
        size: SizeBucket::of(record.files.len(), churn),
        areas: areas_of(record.files.iter().map(|f| f.path.as_str())),
        tags: tags.iter().map(|t| t.name.clone()).collect(),
        releases: tags
            .iter()
            .filter(|t| t.release.is_some())
            .map(|t| t.name.clone())
            .collect(),
        dependencies: DependencyChanges::default(),
    }
}

/// The first line of a message, trimmed.
pub fn subject_of(message: &str) -> &str {
    message.lines().next().unwrap_or("").trim()
}

static CONVENTIONAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z]+)(?:\(([^()\r\n]*)\))?(!)?: \S").expect("a valid regex")
});

/// Parses `type(scope)!: description`. Any alphabetic type is accepted (the spec allows
/// any); [`class_of_type`] maps the known ones.
pub fn parse_conventional(subject: &str) -> Option<Conventional> {
    let captures = CONVENTIONAL.captures(subject)?;
    let kind = captures.get(1)?.as_str().to_ascii_lowercase();
    // "Merge: x" or "Note: y" are prose, not conventional types.
    class_of_type(&kind)?;
    Some(Conventional {
        kind,
        scope: captures
            .get(2)
            .map(|m| m.as_str().trim().to_owned())
            .filter(|s| !s.is_empty()),
        breaking: captures.get(3).is_some(),
    })
}

fn has_breaking_footer(message: &str) -> bool {
    message
        .lines()
        .skip(1)
        .any(|line| line.starts_with("BREAKING CHANGE:") || line.starts_with("BREAKING-CHANGE:"))
}

/// The class of a conventional type (the Angular convention's types and common synonyms).
pub fn class_of_type(kind: &str) -> Option<CommitClass> {
    Some(match kind {
        "feat" | "feature" => CommitClass::Feature,
        "fix" | "bugfix" | "hotfix" => CommitClass::Fix,
        "refactor" | "perf" | "style" => CommitClass::Refactor,
        "docs" | "doc" => CommitClass::Docs,
        "test" | "tests" => CommitClass::Test,
        "build" | "ci" | "deps" | "release" => CommitClass::Build,
        "chore" => CommitClass::Chore,
        "revert" => CommitClass::Revert,
        _ => return None,
    })
}

/// Subject keywords and the class each suggests. The earliest keyword in a subject wins.
pub const KEYWORDS: &[(&str, CommitClass)] = &[
    ("fix", CommitClass::Fix),
    ("fixes", CommitClass::Fix),
    ("fixed", CommitClass::Fix),
    ("fixing", CommitClass::Fix),
    ("bug", CommitClass::Fix),
    ("bugfix", CommitClass::Fix),
    ("hotfix", CommitClass::Fix),
    ("crash", CommitClass::Fix),
    ("correct", CommitClass::Fix),
    ("repair", CommitClass::Fix),
    ("patch", CommitClass::Fix),
    ("add", CommitClass::Feature),
    ("adds", CommitClass::Feature),
    ("added", CommitClass::Feature),
    ("adding", CommitClass::Feature),
    ("implement", CommitClass::Feature),
    ("implements", CommitClass::Feature),
    ("introduce", CommitClass::Feature),
    ("introduces", CommitClass::Feature),
    ("support", CommitClass::Feature),
    ("feature", CommitClass::Feature),
    ("new", CommitClass::Feature),
    ("allow", CommitClass::Feature),
    ("enable", CommitClass::Feature),
    ("refactor", CommitClass::Refactor),
    ("refactoring", CommitClass::Refactor),
    ("rename", CommitClass::Refactor),
    ("move", CommitClass::Refactor),
    ("simplify", CommitClass::Refactor),
    ("cleanup", CommitClass::Refactor),
    ("restructure", CommitClass::Refactor),
    ("reorganize", CommitClass::Refactor),
    ("extract", CommitClass::Refactor),
    ("optimize", CommitClass::Refactor),
    ("docs", CommitClass::Docs),
    ("doc", CommitClass::Docs),
    ("documentation", CommitClass::Docs),
    ("document", CommitClass::Docs),
    ("readme", CommitClass::Docs),
    ("typo", CommitClass::Docs),
    ("changelog", CommitClass::Docs),
    ("test", CommitClass::Test),
    ("tests", CommitClass::Test),
    ("testing", CommitClass::Test),
    ("build", CommitClass::Build),
    ("ci", CommitClass::Build),
    ("bump", CommitClass::Build),
    ("upgrade", CommitClass::Build),
    ("dependency", CommitClass::Build),
    ("dependencies", CommitClass::Build),
    ("deps", CommitClass::Build),
    ("release", CommitClass::Build),
    ("version", CommitClass::Build),
];

/// Classifies a subject without a conventional header.
pub fn heuristic_class<'p>(
    subject: &str,
    merge: bool,
    paths: impl Iterator<Item = &'p str>,
) -> CommitClass {
    let lower = subject.to_lowercase();
    if lower.starts_with("revert ") || lower.starts_with("revert:") {
        return CommitClass::Revert;
    }
    if merge || lower.starts_with("merge ") {
        return CommitClass::Chore;
    }
    let keyword = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .find_map(|word| {
            KEYWORDS
                .iter()
                .find(|(keyword, _)| *keyword == word)
                .map(|&(_, class)| class)
        });
    if let Some(class) = keyword {
        return class;
    }
    let mut kinds = paths.map(path_class).peekable();
    if kinds.peek().is_none() {
        return CommitClass::Chore;
    }
    let first = kinds.next().flatten();
    match first {
        Some(class) if kinds.all(|k| k == Some(class)) => class,
        _ => CommitClass::Chore,
    }
}

/// The class a path alone suggests: documentation, tests or build files.
fn path_class(path: &str) -> Option<CommitClass> {
    let lower = path.to_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let dirs: Vec<&str> = lower.split('/').rev().skip(1).collect();
    if dirs
        .iter()
        .any(|d| matches!(*d, "test" | "tests" | "spec" | "__tests__" | "testdata"))
        || name.contains("_test.")
        || name.contains(".test.")
        || name.contains(".spec.")
        || name.starts_with("test_")
    {
        return Some(CommitClass::Test);
    }
    if dirs
        .iter()
        .any(|d| matches!(*d, "docs" | "doc" | "documentation"))
        || name.ends_with(".md")
        || name.ends_with(".rst")
        || name.ends_with(".adoc")
        || matches!(
            name,
            "readme" | "readme.txt" | "changelog" | "license" | "authors"
        )
    {
        return Some(CommitClass::Docs);
    }
    if lower.starts_with(".github/workflows/")
        || lower.starts_with(".gitlab-ci")
        || lower.starts_with(".circleci/")
        || matches!(
            name,
            "cargo.toml"
                | "cargo.lock"
                | "package.json"
                | "package-lock.json"
                | "yarn.lock"
                | "pnpm-lock.yaml"
                | "go.mod"
                | "go.sum"
                | "makefile"
                | "cmakelists.txt"
                | "dockerfile"
                | "build.gradle"
                | "pom.xml"
                | "pyproject.toml"
                | "requirements.txt"
                | "setup.py"
                | "gemfile"
                | "gemfile.lock"
                | "build.rs"
        )
    {
        return Some(CommitClass::Build);
    }
    None
}

/// Top-level areas of `paths`: the first path component for files in a directory, `(root)`
/// for files at the top; sorted and deduplicated.
pub fn areas_of<'p>(paths: impl Iterator<Item = &'p str>) -> Vec<String> {
    let areas: BTreeSet<&str> = paths
        .map(|path| path.split_once('/').map_or(ROOT_AREA, |(top, _)| top))
        .collect();
    areas.into_iter().map(str::to_owned).collect()
}

/// The area of files at the repository's top level.
pub const ROOT_AREA: &str = "(root)";

static ISSUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[\s(\[,;:])(?:GH-|#)(\d{1,9})\b").expect("a valid regex"));
static MERGE_REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s(\[,;:]|[\w.-]/[\w.-]+)!(\d{1,9})\b").expect("a valid regex")
});
static TICKET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b([A-Z][A-Z0-9]{1,9})-(\d{1,7})\b").expect("a valid regex"));
static CVE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bCVE-\d{4}-\d{4,7}\b").expect("a valid regex"));
static PULL_MERGE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Merge pull request #(\d+) from (\S+)").expect("a valid regex"));
static SQUASHED_PR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(#(\d+)\)\s*$").expect("a valid regex"));
static BRANCH_MERGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Merge (?:remote-tracking )?branch '([^']+)'(?: of \S+)?(?: into '?([^'\s]+)'?)?")
        .expect("a valid regex")
});

/// Words shaped like tracker keys that are not tickets (`UTF-8`, `SHA-256`, `X86-64`, …).
const NOT_TICKETS: &[&str] = &[
    "UTF", "UCS", "SHA", "MD", "ISO", "RFC", "X86", "AES", "RSA", "TLS", "SSL", "HTTP", "IPV",
    "GPL", "LGPL", "AGPL", "CRC", "PEP", "CVE", "WIN", "ARM", "AMD", "ES", "ECMA", "GH", "BASE",
    "LATIN", "CP", "KOI8", "EUC", "GB", "BIG",
];

/// Ticket, issue, pull- and merge-request references in a message, in order of appearance,
/// deduplicated.
pub fn references(message: &str) -> Vec<Reference> {
    let subject = subject_of(message);
    let mut found: Vec<(usize, Reference)> = Vec::new();
    let pull = PULL_MERGE
        .captures(subject)
        .or_else(|| SQUASHED_PR.captures(subject))
        .and_then(|c| c.get(1))
        .map(|m| format!("#{}", m.as_str()));
    for c in ISSUE.captures_iter(message) {
        let number = c.get(1).expect("group 1 always participates");
        let id = format!("#{}", number.as_str());
        let kind = if pull.as_deref() == Some(id.as_str()) {
            ReferenceKind::PullRequest
        } else {
            ReferenceKind::Issue
        };
        found.push((number.start(), Reference { kind, id }));
    }
    for c in MERGE_REQUEST.captures_iter(message) {
        let number = c.get(1).expect("group 1 always participates");
        found.push((
            number.start(),
            Reference {
                kind: ReferenceKind::MergeRequest,
                id: format!("!{}", number.as_str()),
            },
        ));
    }
    for m in CVE.find_iter(message) {
        found.push((
            m.start(),
            Reference {
                kind: ReferenceKind::Cve,
                id: m.as_str().to_owned(),
            },
        ));
    }
    for c in TICKET.captures_iter(message) {
        let key = c.get(1).expect("group 1 always participates").as_str();
        if NOT_TICKETS.contains(&key) {
            continue;
        }
        let whole = c.get(0).expect("the whole match");
        found.push((
            whole.start(),
            Reference {
                kind: ReferenceKind::Ticket,
                id: whole.as_str().to_owned(),
            },
        ));
    }
    found.sort_by_key(|(at, _)| *at);
    let mut seen = BTreeSet::new();
    found
        .into_iter()
        .map(|(_, reference)| reference)
        .filter(|reference| seen.insert(reference.clone()))
        .collect()
}

/// The branches of a merge subject (`Merge pull request #1 from o/b`, `Merge branch 'x' into
/// 'y'`, `Merge remote-tracking branch 'origin/x'`); `None` for other subjects.
pub fn parse_merge(subject: &str) -> Option<MergeInfo> {
    if let Some(c) = PULL_MERGE.captures(subject) {
        return Some(MergeInfo {
            branch: c.get(2).map(|m| m.as_str().to_owned()),
            into: None,
        });
    }
    let c = BRANCH_MERGE.captures(subject)?;
    Some(MergeInfo {
        branch: c.get(1).map(|m| m.as_str().to_owned()),
        into: c.get(2).map(|m| m.as_str().to_owned()),
    })
}

/// Well-known bot account names (lower case).
const BOTS: &[&str] = &[
    "dependabot",
    "dependabot-preview",
    "renovate",
    "renovate-bot",
    "renovatebot",
    "github-actions",
    "greenkeeper",
    "snyk-bot",
    "pre-commit-ci",
    "mergify",
    "imgbot",
    "allcontributors",
    "semantic-release-bot",
    "codecov",
    "pyup-bot",
    "gitlab-bot",
    "copilot",
    "k8s-ci-robot",
    "bors",
];

/// True if the author looks like a bot: `[bot]` in the name or email, or a well-known bot
/// account.
pub fn is_bot(person: &Person) -> bool {
    let names = [
        Some(person.name.as_str()),
        Some(person.email.as_str()),
        person.canonical.as_ref().map(|c| c.name.as_str()),
    ];
    names.into_iter().flatten().any(|text| {
        let lower = text.to_lowercase();
        if lower.contains("[bot]")
            || lower.ends_with("-bot")
            || lower.ends_with("bot@users.noreply.github.com")
        {
            return true;
        }
        let account = lower.split('@').next().unwrap_or(&lower);
        let account = account.rsplit('+').next().unwrap_or(account);
        BOTS.contains(&account)
    })
}

/// The compact per-commit facts later stages keep for the whole history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitFacts {
    pub id: String,
    /// Author time, seconds since the epoch (UTC).
    pub time: i64,
    /// Author time as recorded (RFC 3339 with the commit's offset).
    pub date: String,
    /// The canonical author name (mailmap applied).
    pub author: String,
    /// What distinguishes authors: the canonical email, lower-cased (hashed when scrubbed).
    pub author_key: String,
    /// The subject, at most [`SUBJECT_LIMIT`] characters.
    pub subject: String,
    pub class: CommitClass,
    pub breaking: bool,
    pub merge: bool,
    pub bot: bool,
    pub files: u32,
    pub added: u64,
    pub deleted: u64,
    pub areas: Vec<String>,
    pub releases: Vec<String>,
}

/// Subjects longer than this are cut (with `…`) in [`CommitFacts`].
pub const SUBJECT_LIMIT: usize = 200;

impl CommitFacts {
    /// The facts of a (possibly scrubbed) record and its enrichment.
    pub fn new(record: &CommitRecord, enrichment: &Enrichment) -> Self {
        let identity = record.author.canonical.as_ref();
        let author = identity.map_or(&record.author.name, |c| &c.name).clone();
        let author_key = identity
            .map_or(&record.author.email, |c| &c.email)
            .to_lowercase();
        Self {
            id: record.id.clone(),
            time: epoch_seconds(&record.author.time).unwrap_or(0),
            date: record.author.time.clone(),
            author,
            author_key,
            subject: truncate_chars(subject_of(&record.message), SUBJECT_LIMIT),
            class: enrichment.class,
            breaking: enrichment.conventional.as_ref().is_some_and(|c| c.breaking),
            merge: record.parents.len() > 1,
            bot: enrichment.bot,
            files: u32::try_from(record.files.len()).unwrap_or(u32::MAX),
            added: record.files.iter().filter_map(|f| f.added).sum(),
            deleted: record.files.iter().filter_map(|f| f.deleted).sum(),
            areas: enrichment.areas.clone(),
            releases: enrichment.releases.clone(),
        }
    }

    /// Lines added plus deleted.
    pub fn churn(&self) -> u64 {
        self.added + self.deleted
    }

    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

/// `text` cut to at most `limit` characters, ending in `…` when cut.
pub fn truncate_chars(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        None => text.to_owned(),
        Some((end, _)) => {
            let cut = text[..end].char_indices().last().map_or(0, |(at, _)| at);
            format!("{}…", &text[..cut])
        }
    }
}

#[cfg(test)]
mod tests;
