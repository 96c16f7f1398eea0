//! `brief.md`: what a coding agent about to change the code should know from the history, in
//! a token budget, written without a model.
//!
//! The brief opens with a marker line, `<!-- gitview-brief v1 head=<full id> -->`, that names
//! the commit it describes ([`parse_marker`]; `gitview-runner brief --check` compares it with
//! `HEAD`, see [`check`]), the repository's name and what the brief covers. Then, in priority
//! order:
//!
//! 1. **Layout**: the top-level areas with their lines, commits, main author and bus factor
//!    (`gitview_history::ownership`);
//! 2. **Hotspots and coupled files**: the files changed more than once with the most recent
//!    churn, and "change X →
//!    check Y" for files that change together (`hotspots`, `coupling`);
//! 3. **Under way**: storylines still active or just begun (`storylines`);
//! 4. **Recent direction**: the last phase — dates, counts, the areas it changed most, its
//!    kinds of change, the dependencies it added and dropped (`evolution`), its latest
//!    commits;
//! 5. **Conventions**: conventional commits (types, scopes) or subject prefixes, merges,
//!    references to issues;
//! 6. **Gone or moved**: directory moves ("`src/` is now `crates/core/src/`"), retired
//!    directories and large deleted files an agent might still look for (`moves`,
//!    `deletions`).
//!
//! Every item names the commits it rests on (short ids). Text from the repository is escaped
//! ([`escape_markdown`]) or set as a code span, so no subject or path can forge the marker, a
//! heading or a link: the marker is only ever read from the first line.
//!
//! **The budget** ([`fit`]): tokens are counted with the chunk stage's tokenizer
//! ([`count_tokens`], `o200k_base`) over the whole text, so the brief never exceeds it. The
//! marker line is always written; the title and lead follow while they fit; then sections are
//! added whole while they fit, then the items of the first section that does not fit, one by
//! one while they fit, and nothing after it; a last line names the sections left out, if it
//! fits too.
//!
//! The brief lives in the runner rather than in `gitview-history` because it needs the
//! runner's tokenizer, its phases and its conventional-commit parser (the enrich stage's).

mod check;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use gitview_core::story::{escape_markdown, grouped};
use gitview_core::time::utc_date;
use gitview_history::narrative::Analyses;
use gitview_history::storylines::{self, Category, Lifecycle};
use gitview_history::{
    ChangeKind, History, coupling, deletions, evolution, hotspots, moves, ownership,
};
use regex::Regex;

use crate::chunk::{Phase, count_tokens};
use crate::enrich::{CommitFacts, ROOT_AREA, parse_conventional};

pub use check::{CheckError, Freshness, check};

/// The budget when none is given, in `o200k_base` tokens.
pub const DEFAULT_TOKENS: usize = 2000;

/// How the marker line begins; the full commit id and [`MARKER_END`] follow.
pub const MARKER_START: &str = "<!-- gitview-brief v1 head=";
/// How the marker line ends.
pub const MARKER_END: &str = " -->";

/// How many items a section lists at most.
const LISTED: usize = 5;
/// How many areas the layout lists at most.
const LAYOUT_AREAS: usize = 8;

/// What the brief is about.
#[derive(Clone, Copy, Debug)]
pub struct BriefInput<'a> {
    /// The repository's name.
    pub title: &'a str,
    /// The full id of the last commit of the range (`HEAD` when analyzed as usual).
    pub head: &'a str,
    /// The excluded end of the range (`--since`), if any.
    pub since: Option<&'a str>,
    /// Chronological (oldest first).
    pub facts: &'a [CommitFacts],
    /// The same commits, oldest first.
    pub history: &'a History,
    /// The phases over `facts`.
    pub phases: &'a [Phase],
    /// The history's analyses over those phases (the story's, computed once).
    pub analyses: &'a Analyses,
}

/// A section of the brief: a heading and its items (one line each, without the list marker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub heading: &'static str,
    pub items: Vec<String>,
}

/// A brief fitted to its budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Brief {
    /// The Markdown.
    pub text: String,
    /// Its tokens ([`count_tokens`]).
    pub tokens: usize,
    /// The sections written whole.
    pub whole: Vec<&'static str>,
    /// The section written in part (some of its items), if any.
    pub partial: Option<&'static str>,
    /// The sections left out.
    pub left_out: Vec<&'static str>,
}

/// The brief of `input` within `budget` tokens.
pub fn brief(input: &BriefInput<'_>, budget: usize) -> Brief {
    fit(
        &marker(input.head),
        &header(input),
        &sections(input),
        budget,
    )
}

/// The first line of a brief of `head`.
pub fn marker(head: &str) -> String {
    format!("{MARKER_START}{head}{MARKER_END}")
}

/// The commit id a brief's first line names, if it is a marker.
pub fn parse_marker(text: &str) -> Option<&str> {
    let first = text.lines().next()?.trim_end();
    let id = first.strip_prefix(MARKER_START)?.strip_suffix(MARKER_END)?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// Lays out `marker`, the `header` blocks and the `sections` within `budget` tokens (see the
/// module documentation).
pub fn fit(marker: &str, header: &[String], sections: &[Section], budget: usize) -> Brief {
    let fits = |text: &str| count_tokens(text) <= budget;
    let mut text = format!("{marker}\n");
    for block in header {
        let candidate = format!("{text}{block}\n");
        if fits(&candidate) {
            text = candidate;
        }
    }
    let mut whole = Vec::new();
    let mut partial = None;
    let mut left_out = Vec::new();
    let mut rest = sections.iter();
    for section in rest.by_ref() {
        let candidate = format!("{text}{}", render_section(section.heading, &section.items));
        if fits(&candidate) {
            text = candidate;
            whole.push(section.heading);
            continue;
        }
        let mut taken = 0;
        for n in 1..=section.items.len() {
            if !fits(&format!(
                "{text}{}",
                render_section(section.heading, &section.items[..n])
            )) {
                break;
            }
            taken = n;
        }
        if taken > 0 {
            text.push_str(&render_section(section.heading, &section.items[..taken]));
            partial = Some(section.heading);
        } else {
            left_out.push(section.heading);
        }
        break;
    }
    left_out.extend(rest.map(|s| s.heading));
    if partial.is_some() || !left_out.is_empty() {
        let mut note = format!("\n*Cut to the budget of {} tokens", grouped(budget as u64));
        if let Some(heading) = partial {
            let _ = write!(note, "; {heading} in part");
        }
        if !left_out.is_empty() {
            let _ = write!(note, "; left out: {}", left_out.join(", "));
        }
        note.push_str(". `story.md` tells everything.*\n");
        let candidate = format!("{text}{note}");
        if fits(&candidate) {
            text = candidate;
        }
    }
    Brief {
        tokens: count_tokens(&text),
        text,
        whole,
        partial,
        left_out,
    }
}

fn render_section(heading: &str, items: &[String]) -> String {
    let mut out = format!("\n## {heading}\n\n");
    for item in items {
        let _ = writeln!(out, "- {item}");
    }
    out
}

/// The title and the lead: what the brief describes.
pub fn header(input: &BriefInput<'_>) -> Vec<String> {
    let title = format!(
        "# {}: a brief for coding agents",
        escape_markdown(input.title)
    );
    let (Some(first), Some(last)) = (input.facts.first(), input.facts.last()) else {
        return vec![
            title,
            format!(
                "\nDescribes `{}`; the range analyzed has no commits.",
                input.head
            ),
        ];
    };
    let authors: HashSet<&str> = input
        .facts
        .iter()
        .filter(|f| !f.bot)
        .map(|f| f.author_key.as_str())
        .collect();
    let range = input.since.map_or_else(String::new, |since| {
        format!(" (only the commits since {})", code(since))
    });
    vec![
        title,
        format!(
            "\nDescribes `{}` of {} (UTC): {} by {} from {} to {}{range}. Written from the git \
             history without a model; each line names the commits it rests on. \
             `gitview-runner brief --check` tells when it is stale.",
            input.head,
            date(last.time),
            count(input.facts.len(), "commit"),
            count(authors.len(), "author"),
            date(first.time),
            date(last.time),
        ),
    ]
}

/// Every section with something to say, in priority order.
pub fn sections(input: &BriefInput<'_>) -> Vec<Section> {
    let history = input.history;
    if history.commits.is_empty() {
        return Vec::new();
    }
    let analyses = input.analyses;
    [
        Section {
            heading: "Layout",
            items: layout(&analyses.ownership),
        },
        Section {
            heading: "Hotspots and coupled files",
            items: hot_and_coupled(&analyses.hotspots, &analyses.coupling),
        },
        Section {
            heading: "Under way",
            items: under_way(&analyses.storylines),
        },
        Section {
            heading: "Recent direction",
            items: recent(input),
        },
        Section {
            heading: "Conventions",
            items: conventions(history),
        },
        Section {
            heading: "Gone or moved",
            items: gone(history, &analyses.moves, &analyses.deletions),
        },
    ]
    .into_iter()
    .filter(|s| !s.items.is_empty())
    .collect()
}

fn layout(ownership: &ownership::Ownership) -> Vec<String> {
    ownership
        .areas
        .iter()
        .take(LAYOUT_AREAS)
        .map(|area| {
            let name = if area.area == "." {
                "Files at the root".to_owned()
            } else {
                code(&format!("{}/", area.area))
            };
            let mut text = format!(
                "{name}: {}, {}",
                count(usize::try_from(area.lines).unwrap_or(usize::MAX), "line"),
                count(area.commits as usize, "commit")
            );
            if let Some(main) = &area.main {
                let _ = write!(
                    text,
                    "; main author {} ({} %), bus factor {} ({})",
                    escape_markdown(&main.name),
                    (main.share * 100.0).round() as i64,
                    area.bus_factor.count,
                    cite(&[&main.first_commit, &main.last_commit])
                );
            }
            text
        })
        .collect()
}

fn hot_and_coupled(hotspots: &hotspots::Hotspots, coupling: &coupling::Coupling) -> Vec<String> {
    // A file changed once is not hot, however large the change.
    let mut items: Vec<String> = hotspots
        .files
        .iter()
        .filter(|h| h.commits >= 2)
        .take(LISTED)
        .map(|h| {
            format!(
                "Hot: {}, {}, {} lines changed (last {})",
                code(&h.path),
                count(h.commits as usize, "commit"),
                grouped(h.churn),
                cite(&[&h.last_commit])
            )
        })
        .collect();
    for pair in coupling.pairs.iter().take(LISTED) {
        // From the file that more often brings the other along.
        let (from, to, commits) = if pair.confidence_a_to_b >= pair.confidence_b_to_a {
            (&pair.a, &pair.b, pair.commits_a)
        } else {
            (&pair.b, &pair.a, pair.commits_b)
        };
        let evidence: Vec<&str> = pair.evidence.iter().take(2).map(String::as_str).collect();
        items.push(format!(
            "Change {} → check {}: together in {} of its {commits} commits ({})",
            code(from),
            code(to),
            pair.support,
            cite(&evidence)
        ));
    }
    items
}

fn under_way(lines: &[storylines::Storyline]) -> Vec<String> {
    let mut open: Vec<&storylines::Storyline> = lines
        .iter()
        .filter(|s| matches!(s.lifecycle, Lifecycle::Active | Lifecycle::Emerging))
        .collect();
    open.sort_by_key(|s| std::cmp::Reverse(s.last_time));
    open.iter()
        .take(LISTED)
        .map(|s| {
            let title = match s.source {
                storylines::Source::Area => code(&s.title),
                _ => escape_markdown(&s.title),
            };
            let names: Vec<String> = s
                .authors
                .iter()
                .take(2)
                .map(|a| escape_markdown(&a.name))
                .collect();
            // The last commits are the latest (oldest first); a short storyline has only first ones.
            let pool = if s.last_commits.is_empty() {
                &s.first_commits
            } else {
                &s.last_commits
            };
            let latest: Vec<&str> = pool.iter().rev().take(2).map(String::as_str).collect();
            format!(
                "**{title}** ({}, {}): {} from {} to {} by {} ({})",
                category(s.category),
                if s.lifecycle == Lifecycle::Active {
                    "active"
                } else {
                    "just begun"
                },
                count(s.commits, "commit"),
                date(s.first_time),
                date(s.last_time),
                names.join(", "),
                cite(&latest)
            )
        })
        .collect()
}

fn recent(input: &BriefInput<'_>) -> Vec<String> {
    let Some(phase) = input.phases.last() else {
        return Vec::new();
    };
    let Some(facts) = input
        .facts
        .get(phase.start..phase.end)
        .filter(|f| !f.is_empty())
    else {
        return Vec::new();
    };
    let (first, last) = (&facts[0], &facts[facts.len() - 1]);
    let authors: HashSet<&str> = facts.iter().map(|f| f.author_key.as_str()).collect();
    let (added, deleted) = facts
        .iter()
        .fold((0, 0), |(a, d), f| (a + f.added, d + f.deleted));
    let mut items = vec![format!(
        "Last phase, {} “{}”: {} to {}, {} by {}, +{} −{} lines ({})",
        phase.number,
        escape_markdown(&phase.name),
        date(first.time),
        date(last.time),
        count(facts.len(), "commit"),
        count(authors.len(), "author"),
        grouped(added),
        grouped(deleted),
        cite(&[&first.id, &last.id])
    )];
    // Areas by commits (ties: the more recently changed first), each with its latest commit.
    let mut areas: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, f) in facts.iter().enumerate() {
        for area in &f.areas {
            let entry = areas.entry(area.as_str()).or_default();
            *entry = (entry.0 + 1, i);
        }
    }
    let mut areas: Vec<(&str, usize, usize)> =
        areas.into_iter().map(|(a, (n, i))| (a, n, i)).collect();
    areas.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(b.0)));
    if !areas.is_empty() {
        let named: Vec<String> = areas
            .iter()
            .take(4)
            .map(|&(area, n, i)| {
                let name = if area == ROOT_AREA {
                    "root files".to_owned()
                } else {
                    code(&format!("{area}/"))
                };
                format!("{name} {n} (latest {})", cite(&[&facts[i].id]))
            })
            .collect();
        items.push(format!("Most changed: {}", named.join(", ")));
    }
    let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
    for f in facts.iter().filter(|f| !f.merge) {
        *classes.entry(f.class.as_str()).or_default() += 1;
    }
    let mut classes: Vec<(&str, usize)> = classes.into_iter().collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !classes.is_empty() {
        let named: Vec<String> = classes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        items.push(format!("Kinds of change: {}", named.join(", ")));
    }
    let changed = input
        .analyses
        .dependencies
        .phases
        .get(input.phases.len() - 1)
        .filter(|p| !p.added.is_empty() || !p.removed.is_empty());
    if let Some(changed) = changed {
        // "Cargo `a`, `b`; npm `c` and 3 more", by ecosystem in order of appearance.
        let list = |events: &[evolution::DependencyEvent]| -> String {
            let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
            for e in events.iter().take(LISTED) {
                let label = e.ecosystem.label();
                match groups.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, names)) => names.push(code(&e.name)),
                    None => groups.push((label, vec![code(&e.name)])),
                }
            }
            let mut text: Vec<String> = groups
                .into_iter()
                .map(|(label, names)| format!("{label} {}", names.join(", ")))
                .collect();
            if events.len() > LISTED {
                text.push(format!("{} more", events.len() - LISTED));
            }
            text.join(", ")
        };
        let mut parts = Vec::new();
        if !changed.added.is_empty() {
            parts.push(format!("added {}", list(&changed.added)));
        }
        if !changed.removed.is_empty() {
            parts.push(format!("dropped {}", list(&changed.removed)));
        }
        let ids: Vec<&str> = changed
            .added
            .iter()
            .take(3)
            .chain(changed.removed.iter().take(2))
            .map(|e| e.commit.as_str())
            .collect();
        items.push(format!(
            "Dependencies: {} ({})",
            parts.join("; "),
            cite(&ids)
        ));
    }
    for f in facts.iter().rev().filter(|f| !f.merge).take(3) {
        items.push(format!(
            "Latest: “{}” ({}, {})",
            escape_markdown(&f.subject),
            cite(&[&f.id]),
            date(f.time)
        ));
    }
    items
}

/// `Area: subject` prefixes (a word, maybe with `/`, `.`, `-`), when not conventional.
static PREFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([\w./-]{1,30}): \S").expect("a valid regex"));

fn conventions(history: &History) -> Vec<String> {
    let commits: Vec<&gitview_history::Commit> =
        history.commits.iter().filter(|c| !c.merge).collect();
    let total = commits.len();
    let mut items = Vec::new();
    let mut types: BTreeMap<String, (usize, &str)> = BTreeMap::new();
    let mut scopes: BTreeMap<String, (usize, &str)> = BTreeMap::new();
    let mut prefixes: BTreeMap<String, (usize, &str)> = BTreeMap::new();
    let (mut conventional, mut prefixed) = (0, 0);
    for c in &commits {
        if let Some(header) = parse_conventional(&c.subject) {
            conventional += 1;
            bump(&mut types, header.kind, &c.id);
            if let Some(scope) = header.scope {
                bump(&mut scopes, scope.to_lowercase(), &c.id);
            }
        } else if let Some(prefix) = PREFIX.captures(&c.subject).and_then(|m| m.get(1)) {
            prefixed += 1;
            bump(&mut prefixes, prefix.as_str().to_owned(), &c.id);
        }
    }
    if total > 0 && conventional * 10 >= total {
        items.push(format!(
            "Conventional commits (`type(scope): …`): {} % of {} non-merge commits; types {}",
            percent(conventional, total),
            grouped(total as u64),
            ranked(&types, false)
        ));
        if !scopes.is_empty() {
            items.push(format!("Common scopes: {}", ranked(&scopes, true)));
        }
    }
    if total > 0 && prefixed * 10 >= total {
        items.push(format!(
            "Subjects begin with a component prefix (`Component: …`) in {} % of non-merge commits: {}",
            percent(prefixed, total),
            ranked(&prefixes, false)
        ));
    }
    if items.is_empty() && total > 0 {
        items.push(format!(
            "No common subject convention: {} % conventional, {} % with a prefix",
            percent(conventional, total),
            percent(prefixed, total)
        ));
    }
    let merges: Vec<&gitview_history::Commit> =
        history.commits.iter().filter(|c| c.merge).collect();
    match merges.last() {
        Some(latest) => items.push(format!(
            "Merges: {} of {} ({})",
            count(merges.len(), "merge commit"),
            grouped(history.commits.len() as u64),
            cite(&[&latest.id])
        )),
        None => items.push("Linear history: no merge commits".to_owned()),
    }
    let referencing: Vec<&&gitview_history::Commit> = commits
        .iter()
        .filter(|c| !c.references.is_empty())
        .collect();
    if let Some(latest) = referencing.last() {
        items.push(format!(
            "{} of {} non-merge commits {} an issue or pull request, e.g. {} ({})",
            grouped(referencing.len() as u64),
            grouped(total as u64),
            if referencing.len() == 1 {
                "cites"
            } else {
                "cite"
            },
            code(&latest.references[0]),
            cite(&[&latest.id])
        ));
    }
    items
}

/// Counts `key`, remembering its latest commit.
fn bump<'a>(counts: &mut BTreeMap<String, (usize, &'a str)>, key: String, id: &'a str) {
    let entry = counts.entry(key).or_insert((0, id));
    *entry = (entry.0 + 1, id);
}

/// The five most frequent keys with their counts and the latest commit of the first.
fn ranked(counts: &BTreeMap<String, (usize, &str)>, as_code: bool) -> String {
    let mut sorted: Vec<(&String, &(usize, &str))> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
    let named: Vec<String> = sorted
        .iter()
        .take(LISTED)
        .map(|(key, (n, _))| {
            let key = if as_code {
                code(key)
            } else {
                escape_markdown(key)
            };
            format!("{key} {n}")
        })
        .collect();
    match sorted.first() {
        Some((_, (_, latest))) => format!("{} ({})", named.join(", "), cite(&[latest])),
        None => String::new(),
    }
}

fn gone(
    history: &History,
    moved: &[moves::MoveRecord],
    deletions: &deletions::Deletions,
) -> Vec<String> {
    let live = live_paths(history);
    let exists = |dir: &str| live.iter().any(|p| p.starts_with(dir));
    let mut items = Vec::new();
    for m in moved.iter().take(LISTED) {
        let first = m.commits.first().map(String::as_str).unwrap_or_default();
        let to = if m.to.is_empty() {
            "the root".to_owned()
        } else {
            code(&m.to)
        };
        let files = count(m.files, "file");
        items.push(if m.from.is_empty() {
            format!("Root files moved to {to} ({files}; {})", cite(&[first]))
        } else if exists(&m.from) {
            format!(
                "{files} of {} moved to {to}; {} is still there ({})",
                code(&m.from),
                code(&m.from),
                cite(&[first])
            )
        } else {
            format!(
                "{} is now {to} ({files} moved; {})",
                code(&m.from),
                cite(&[first])
            )
        });
    }
    let mut retired: Vec<String> = Vec::new();
    for d in deletions.directories.iter().take(LISTED) {
        let dir = format!("{}/", d.path.trim_end_matches('/'));
        let mut text = format!(
            "{} is gone: removed in {} ({}, {})",
            code(&dir),
            cite(&[&d.last_commit]),
            date(d.last_time),
            count(d.files, "file")
        );
        if let Some(r) = &d.replacement {
            let _ = write!(text, "; its successor looks like {}", code(&r.path));
        }
        items.push(text);
        retired.push(dir);
    }
    for f in deletions
        .files
        .iter()
        .filter(|f| !f.restored && !retired.iter().any(|d| f.path.starts_with(d)))
        .take(3)
    {
        let mut text = format!(
            "{} was deleted in {} ({}, {} lines)",
            code(&f.path),
            cite(&[&f.commit]),
            date(f.time),
            grouped(f.lines)
        );
        if let Some(r) = &f.replacement {
            let _ = write!(text, "; its successor looks like {}", code(&r.path));
        }
        items.push(text);
    }
    items
}

/// The paths that exist after the last commit.
fn live_paths(history: &History) -> HashSet<&str> {
    let mut live = HashSet::new();
    for commit in history.commits.iter().filter(|c| !c.merge) {
        for change in &commit.changes {
            let path = history.path(change.path);
            if change.kind == ChangeKind::Deleted {
                live.remove(path);
            } else {
                live.insert(path);
            }
        }
    }
    live
}

fn category(category: Category) -> &'static str {
    match category {
        Category::Security => "security",
        Category::Migration => "migration",
        Category::Performance => "performance",
        Category::BugCampaign => "bug fixes",
        Category::Refactoring => "refactoring",
        Category::Docs => "docs",
        Category::Testing => "tests",
        Category::Infrastructure => "infrastructure",
        Category::Feature => "feature",
    }
}

/// Text as a code span, or escaped when it holds what a span cannot.
fn code(text: &str) -> String {
    if text.is_empty() || text.contains(['`', '\n', '\r']) {
        escape_markdown(text)
    } else {
        format!("`{text}`")
    }
}

/// Commit ids as short code spans, `, `-separated (the story's 7 digits).
fn cite(ids: &[&str]) -> String {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| !id.is_empty() && seen.insert(**id))
        .map(|id| format!("`{}`", id.get(..7).unwrap_or(id)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn date(seconds: i64) -> String {
    utc_date(seconds).to_string()
}

fn count(n: usize, noun: &str) -> String {
    format!(
        "{} {noun}{}",
        grouped(n as u64),
        if n == 1 { "" } else { "s" }
    )
}

fn percent(part: usize, whole: usize) -> usize {
    (part * 100 + whole / 2).checked_div(whole).unwrap_or(0)
}

#[cfg(test)]
mod tests;
