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
//! The heuristic class ([`classify`]), in order: a `Revert "…"` subject is `revert`; a merge is
//! `chore`; a subject that is only a version (`Git 2.45`) is `build`; then the subject after its
//! `area:` prefixes (`builtin/add: fix …`, read by [`gitview_history::subjects`]): a prefix that
//! names documentation, tests or the build (`doc:`, `t7004:`, `ci:`, see [`prefix_class`]), else
//! the leading verb (`add`, `teach` → feature; `fix`, `avoid` → fix; `remove`, `split`, `use` →
//! refactor; …, see [`LEADING_VERBS`]), else the earliest keyword (`bug` → fix, `new` →
//! feature, …, see [`KEYWORDS`]); otherwise the files decide when all of them are
//! documentation, tests or build files; otherwise a commit that mostly adds lines is a feature
//! ([`growth_class`]); `chore` is what is left.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use gitview_core::time::epoch_seconds;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::record::{CommitRecord, FileStat, Person};
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
    /// The [`RULES`] that made it: an update reuses a stored enrichment made by today's
    /// rules rather than enriching its commit again. Empty in one stored before rules were
    /// recorded.
    #[serde(default)]
    pub rules: String,
}

/// A fingerprint of the code that enriches a commit (this module and the subject and language
/// rules it asks; `build.rs` hashes them), recorded in each [`Enrichment`]. An edit to those
/// files changes it, so a stored enrichment is reused only when today's code would make it.
pub const RULES: &str = env!("GITVIEW_ENRICH_RULES");

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
        .unwrap_or_else(|| classify(subject, record.parents.len() > 1, &record.files));
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
    let mut enrichment = Enrichment {
        class,
        conventional,
        languages: languages.into_iter().map(str::to_owned).collect(),
        references: references(&record.message),
        merge: parse_merge(subject),
        bot: is_bot(&record.author),
        churn,
        size: SizeBucket::of(record.files.len(), churn),
        areas: areas_of(record.files.iter().map(|f| f.path.as_str())),
        tags: Vec::new(),
        releases: Vec::new(),
        dependencies: DependencyChanges::default(),
        rules: RULES.to_owned(),
    };
    enrichment.set_tags(tags);
    enrichment
}

impl Enrichment {
    /// Names the commit's `tags` (and those of them that are releases) instead of its own.
    pub fn set_tags(&mut self, tags: &[Tag]) {
        self.tags = tags.iter().map(|t| t.name.clone()).collect();
        self.releases = tags
            .iter()
            .filter(|t| t.release.is_some())
            .map(|t| t.name.clone())
            .collect();
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

/// Subject keywords and the class each suggests. The earliest keyword in a subject (after its
/// `area:` prefixes, when its first word is no [`LEADING_VERBS`]) wins.
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

/// The leading words of a subject proper (after its `area:` prefixes) and the class each
/// says: the verbs git's, Linux's and most projects' subjects start with. Only the first word
/// is read against this table (`use`, `move` or `handle` later in a subject say nothing);
/// `don't …`/`do not …` read as `avoid`. A removal (`remove`, `drop`, `delete`) is a
/// refactoring: there is no class of its own for it, and it is neither a feature nor a fix.
#[rustfmt::skip]
pub const LEADING_VERBS: &[(&str, CommitClass)] = &[
    ("accept", CommitClass::Feature), ("add", CommitClass::Feature),
    ("added", CommitClass::Feature), ("adding", CommitClass::Feature),
    ("adds", CommitClass::Feature), ("allow", CommitClass::Feature),
    ("allows", CommitClass::Feature), ("create", CommitClass::Feature),
    ("enable", CommitClass::Feature), ("expose", CommitClass::Feature),
    ("extend", CommitClass::Feature), ("implement", CommitClass::Feature),
    ("implements", CommitClass::Feature), ("introduce", CommitClass::Feature),
    ("introduces", CommitClass::Feature), ("learn", CommitClass::Feature),
    ("let", CommitClass::Feature), ("new", CommitClass::Feature),
    ("provide", CommitClass::Feature), ("support", CommitClass::Feature),
    ("teach", CommitClass::Feature), ("wire", CommitClass::Feature),
    ("avoid", CommitClass::Fix), ("correct", CommitClass::Fix),
    ("ensure", CommitClass::Fix), ("fix", CommitClass::Fix),
    ("fixed", CommitClass::Fix), ("fixes", CommitClass::Fix),
    ("fixing", CommitClass::Fix), ("guard", CommitClass::Fix),
    ("handle", CommitClass::Fix),
    ("honor", CommitClass::Fix), ("honour", CommitClass::Fix),
    ("plug", CommitClass::Fix), ("prevent", CommitClass::Fix),
    ("repair", CommitClass::Fix), ("respect", CommitClass::Fix),
    ("stop", CommitClass::Fix), ("unbreak", CommitClass::Fix),
    ("work", CommitClass::Fix),
    ("cleanup", CommitClass::Refactor), ("clean", CommitClass::Refactor),
    ("consolidate", CommitClass::Refactor), ("convert", CommitClass::Refactor),
    ("dedup", CommitClass::Refactor), ("deduplicate", CommitClass::Refactor),
    ("delete", CommitClass::Refactor), ("drop", CommitClass::Refactor),
    ("extract", CommitClass::Refactor), ("factor", CommitClass::Refactor),
    ("format", CommitClass::Refactor), ("inline", CommitClass::Refactor),
    ("modernize", CommitClass::Refactor), ("reformat", CommitClass::Refactor),
    ("move", CommitClass::Refactor), ("optimize", CommitClass::Refactor),
    ("refactor", CommitClass::Refactor), ("reimplement", CommitClass::Refactor),
    ("remove", CommitClass::Refactor), ("rename", CommitClass::Refactor),
    ("reindent", CommitClass::Refactor), ("reorder", CommitClass::Refactor),
    ("reorganize", CommitClass::Refactor),
    ("replace", CommitClass::Refactor), ("restructure", CommitClass::Refactor),
    ("rewrite", CommitClass::Refactor), ("simplify", CommitClass::Refactor),
    ("split", CommitClass::Refactor), ("tidy", CommitClass::Refactor),
    ("unify", CommitClass::Refactor), ("use", CommitClass::Refactor),
    ("clarify", CommitClass::Docs), ("describe", CommitClass::Docs),
    ("doc", CommitClass::Docs), ("docs", CommitClass::Docs),
    ("document", CommitClass::Docs), ("explain", CommitClass::Docs),
    ("mention", CommitClass::Docs), ("reword", CommitClass::Docs),
    ("typo", CommitClass::Docs),
    ("demonstrate", CommitClass::Test), ("test", CommitClass::Test),
    ("tests", CommitClass::Test),
    ("bump", CommitClass::Build), ("upgrade", CommitClass::Build),
];

/// The class an `area:` prefix names by itself, like a conventional type: documentation
/// (`doc`, `Documentation/…`, `README`, a `.md` file), tests (`t`, `t7004`, `tests`, `e2e`) or
/// the build (`ci`, `build`, `Makefile`, …); any of its words (`mktag tests`) or its first path
/// component may name it.
pub fn prefix_class(prefix: &str) -> Option<CommitClass> {
    let lower = prefix.to_lowercase();
    let words = lower
        .split_whitespace()
        .flat_map(|word| [word, word.split('/').next().unwrap_or(word)]);
    for word in words {
        let stem = word
            .trim_start_matches('.')
            .split('.')
            .next()
            .unwrap_or_default()
            .trim_matches(|c: char| !c.is_alphanumeric());
        // git's test scripts: `t7004`, `t3206-range-diff`.
        let is_test_script = stem.len() >= 5
            && stem.starts_with('t')
            && stem.as_bytes()[1..5].iter().all(u8::is_ascii_digit);
        if matches!(
            stem,
            "doc" | "docs" | "documentation" | "readme" | "changelog" | "relnotes" | "manual"
        ) || word.ends_with(".md")
            || word.ends_with(".adoc")
            || word.ends_with(".rst")
        {
            return Some(CommitClass::Docs);
        }
        if is_test_script
            || matches!(
                stem,
                "t" | "test" | "tests" | "testsuite" | "testing" | "e2e" | "selftests"
            )
        {
            return Some(CommitClass::Test);
        }
        if matches!(
            stem,
            "ci" | "build"
                | "deps"
                | "makefile"
                | "cmake"
                | "meson"
                | "gitlab-ci"
                | "github"
                | "workflows"
                | "dockerfile"
        ) {
            return Some(CommitClass::Build);
        }
    }
    None
}

/// The class a subject's first word says ([`LEADING_VERBS`]).
pub fn leading_verb_class(text: &str) -> Option<CommitClass> {
    let lower = text.trim_start().to_lowercase().replace('’', "'");
    if lower.starts_with("don't ") || lower.starts_with("do not ") {
        return Some(CommitClass::Fix);
    }
    let first = lower
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .filter(|w| !w.is_empty())?;
    LEADING_VERBS
        .iter()
        .find(|(verb, _)| *verb == first)
        .map(|&(_, class)| class)
}

static RELEASE_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:[a-z][\w.-]*\s+)?v?\d+(?:\.\d+)+(?:[-.]?(?:rc|alpha|beta|pre)\.?\d*)?$")
        .expect("a valid regex")
});

/// Whether a subject is only a version, with or without a name: `Git 2.45`, `v1.2.0`,
/// `Release 1.3-rc1` — a release commit.
pub fn is_release_subject(subject: &str) -> bool {
    RELEASE_SUBJECT.is_match(subject.trim())
}

/// The class a subject alone says, in order: `revert`; `chore` for a merge; `build` for a
/// release ([`is_release_subject`]); the class an `area:` prefix names ([`prefix_class`]);
/// the leading verb after the prefixes ([`leading_verb_class`]); the earliest of
/// [`KEYWORDS`] after the prefixes. `None` when it says nothing.
pub fn subject_class(subject: &str, merge: bool) -> Option<CommitClass> {
    let subject = gitview_history::subjects::without_tags(subject);
    let lower = subject.to_lowercase();
    if lower.starts_with("revert ") || lower.starts_with("revert:") {
        return Some(CommitClass::Revert);
    }
    if merge || lower.starts_with("merge ") {
        return Some(CommitClass::Chore);
    }
    if is_release_subject(subject) {
        return Some(CommitClass::Build);
    }
    let (areas, rest) = gitview_history::subjects::prefixes(subject);
    if let Some(class) = areas.iter().find_map(|area| prefix_class(area)) {
        return Some(class);
    }
    if let Some(class) = leading_verb_class(rest) {
        return Some(class);
    }
    rest.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .find_map(|word| {
            KEYWORDS
                .iter()
                .find(|(keyword, _)| *keyword == word)
                .map(|&(_, class)| class)
        })
}

/// The class the paths say when all of them are documentation, tests or build files.
pub fn paths_class<'p>(paths: impl Iterator<Item = &'p str>) -> Option<CommitClass> {
    let mut kinds = paths.map(path_class);
    let first = kinds.next()??;
    kinds.all(|k| k == Some(first)).then_some(first)
}

/// A commit adding at least this many lines …
pub const GROWTH_MIN_LINES: u64 = 20;
/// … of which at least this share (percent) of its changed lines, is a feature when nothing
/// else says what it is.
pub const GROWTH_MIN_PERCENT: u64 = 80;

/// `feature` for a commit that mostly adds code ([`GROWTH_MIN_LINES`],
/// [`GROWTH_MIN_PERCENT`]): a subject such as `Gateway: per-key rate limits` names what
/// arrived without a verb.
pub fn growth_class(added: u64, deleted: u64) -> Option<CommitClass> {
    let churn = added + deleted;
    (added >= GROWTH_MIN_LINES && added * 100 >= churn * GROWTH_MIN_PERCENT)
        .then_some(CommitClass::Feature)
}

/// Classifies a commit without a conventional header: [`subject_class`], else
/// [`paths_class`], else `chore`. The enrich stage then also reads the lines
/// ([`classify`]).
pub fn heuristic_class<'p>(
    subject: &str,
    merge: bool,
    paths: impl Iterator<Item = &'p str>,
) -> CommitClass {
    subject_class(subject, merge)
        .or_else(|| paths_class(paths))
        .unwrap_or(CommitClass::Chore)
}

/// The enrich stage's class of a commit without a conventional header: [`subject_class`],
/// else [`paths_class`], else [`growth_class`], else `chore` — what is left.
pub fn classify(subject: &str, merge: bool, files: &[FileStat]) -> CommitClass {
    subject_class(subject, merge)
        .or_else(|| paths_class(files.iter().map(|f| f.path.as_str())))
        .or_else(|| {
            let added = files.iter().filter_map(|f| f.added).sum();
            let deleted = files.iter().filter_map(|f| f.deleted).sum();
            growth_class(added, deleted)
        })
        .unwrap_or(CommitClass::Chore)
}

/// The class a path alone suggests: documentation, tests or build files.
fn path_class(path: &str) -> Option<CommitClass> {
    let lower = path.to_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let dirs: Vec<&str> = lower.split('/').rev().skip(1).collect();
    if dirs.iter().any(|d| {
        matches!(
            *d,
            "t" | "test" | "tests" | "spec" | "__tests__" | "testdata"
        )
    }) || name.contains("_test.")
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
    /// Full ids, first parent first (the report page's commit graph).
    pub parents: Vec<String>,
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
            parents: record.parents.clone(),
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
