//! The story without a model: sentences a person reads, written from the analyses' facts by
//! rules, each a [`Claim`] that names the commits and figures it rests on.
//!
//! [`tell`] runs every analysis over a [`History`] and writes the sections in reading order:
//! *In brief* (size, span, phases, the longest storyline, who wrote most, the estimate of
//! effort, the single-author areas), *Timeline* (one line per phase: dates, commits, authors,
//! releases, the busiest area), *Storylines*, *How the code base changed* (top-level directories
//! born and retired, the languages of the lines changed and how their shares moved, the
//! dependencies each phase brought in and dropped, directory moves, the largest changes without
//! moved lines), *What was removed* (retired directories, dropped dependencies and what came in
//! their place, the largest deleted files), *Who owns what* (main authors and bus factor per area, hand-overs, owners gone
//! quiet) and *Risks* (single-author areas, hotspots, coupled files). [`render_markdown`] turns
//! the document into `story.md`. Every text that comes from the repository (names, paths,
//! subjects, tags) is escaped ([`escape_markdown`]) or set as a code span.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

use gitview_core::story::{
    Claim, Evidence, StoryDocument, StorySection, StorylineIndex, escape_markdown, grouped,
};
use gitview_core::time::utc_date;
use serde_json::{Value, json};

use crate::deletions::{self, Basis, Removal};
use crate::history::{History, area_of};
use crate::storylines::{Category, Lifecycle, Storyline};

mod technology;
use crate::{coupling, effort, evolution, hotspots, moves, ownership, storylines};

/// A phase as the runner cut it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseSpan {
    /// 1-based.
    pub number: usize,
    pub name: String,
    /// Indices of its commits in the history.
    pub range: Range<usize>,
    /// Release tags of its commits.
    pub releases: Vec<String>,
}

/// How many items a list section tells.
pub const LISTED: usize = 5;

/// The story of `history`, titled `title`, over the phases the runner cut.
pub fn tell(history: &History, title: &str, phases: &[PhaseSpan]) -> StoryDocument {
    let ranges: Vec<Range<usize>> = phases.iter().map(|p| p.range.clone()).collect();
    tell_from(history, &Analyses::of(history, &ranges), title, phases)
}

/// The story of `history` from analyses already computed over it and `phases`.
pub fn tell_from(
    history: &History,
    analyses: &Analyses,
    title: &str,
    phases: &[PhaseSpan],
) -> StoryDocument {
    let mut doc = StoryDocument {
        title: title.to_owned(),
        ..StoryDocument::default()
    };
    if history.commits.is_empty() {
        doc.sections.push(section(
            "summary",
            "In brief",
            false,
            vec![claim(
                "The repository has no commits in the range analyzed.".to_owned(),
                &[],
                json!({"commits": 0}),
            )],
        ));
        return doc;
    }
    let facts = Facts::gather(history, analyses);
    doc.storylines = storyline_index(history, &analyses.storylines);
    doc.sections = vec![
        facts.summary(title),
        facts.timeline(phases),
        facts.storylines(),
        facts.evolution(phases),
        facts.removed(phases),
        facts.owners(),
        facts.risks(),
    ]
    .into_iter()
    .filter(|s| !s.claims.is_empty())
    .collect();
    doc
}

/// `story.md` of a document: the title, then each section's claims, as a paragraph or a list.
pub fn render_markdown(doc: &StoryDocument) -> String {
    let mut out = format!("# {}\n", escape_markdown(&doc.title));
    for section in &doc.sections {
        let _ = write!(out, "\n## {}\n\n", section.heading);
        if section.list {
            for claim in &section.claims {
                let _ = writeln!(out, "- {}", claim.text);
            }
        } else {
            // Sentences run on in one paragraph; a claim of several lines (a summary's prose)
            // stands as paragraphs of its own.
            let mut previous: Option<&str> = None;
            for claim in &section.claims {
                if let Some(previous) = previous {
                    out.push_str(if previous.contains('\n') || claim.text.contains('\n') {
                        "\n\n"
                    } else {
                        " "
                    });
                }
                out.push_str(&claim.text);
                previous = Some(&claim.text);
            }
            out.push('\n');
        }
    }
    out
}

/// Every analysis the story tells, computed once over a history and its phases; the story and
/// other digests (the runner's `brief.md`) read the same results.
#[derive(Debug, Clone)]
pub struct Analyses {
    pub storylines: Vec<Storyline>,
    pub ownership: ownership::Ownership,
    pub effort: effort::Effort,
    pub coupling: coupling::Coupling,
    pub hotspots: hotspots::Hotspots,
    pub moves: Vec<moves::MoveRecord>,
    /// The three largest changes without moved lines.
    pub largest: Vec<moves::LargeChange>,
    /// The largest deletions: twice [`LISTED`], so that [`LISTED`] remain when the files of
    /// retired directories, told with their directory, are left out.
    pub deletions: deletions::Deletions,
    /// The languages of the lines changed, per phase.
    pub languages: evolution::LanguageMix,
    /// The dependencies the phases brought in and dropped.
    pub dependencies: evolution::Dependencies,
}

impl Analyses {
    /// Runs every analysis over `history`, whose phases are `ranges` (commit indices).
    pub fn of(history: &History, ranges: &[Range<usize>]) -> Self {
        Self {
            storylines: storylines::storylines(history, ranges),
            ownership: ownership::ownership(history),
            effort: effort::effort(history, ranges),
            coupling: coupling::coupling(history),
            hotspots: hotspots::hotspots(history),
            moves: moves::moves(history),
            largest: moves::largest_changes(history, 3),
            deletions: deletions::deletions(history, 2 * LISTED),
            languages: evolution::language_mix(history, ranges),
            dependencies: evolution::dependencies(history, ranges),
        }
    }
}

/// What every section reads from.
struct Facts<'a> {
    history: &'a History,
    index: HashMap<&'a str, usize>,
    analyses: &'a Analyses,
}

impl<'a> std::ops::Deref for Facts<'a> {
    type Target = Analyses;

    fn deref(&self) -> &Analyses {
        self.analyses
    }
}

impl<'a> Facts<'a> {
    fn gather(history: &'a History, analyses: &'a Analyses) -> Self {
        Self {
            history,
            index: history
                .commits
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id.as_str(), i))
                .collect(),
            analyses,
        }
    }

    /// The subject of a commit, escaped, in quotes.
    fn subject(&self, id: &str) -> String {
        let subject = self
            .index
            .get(id)
            .map_or("", |&i| self.history.commits[i].subject.as_str());
        format!("“{}”", escape_markdown(subject))
    }

    fn date_of(&self, id: &str) -> String {
        self.index
            .get(id)
            .map_or_else(String::new, |&i| date(self.history.commits[i].time))
    }

    fn summary(&self, title: &str) -> StorySection {
        let commits = &self.history.commits;
        let (first, last) = (&commits[0], &commits[commits.len() - 1]);
        let people = self.history.authors().filter(|(_, a)| !a.bot).count();
        let bots = self.history.authors().count() - people;
        let mut claims = vec![claim(
            format!(
                "{} has {} by {}{} from {} to {} ({}).",
                escape_markdown(title),
                count(commits.len(), "commit"),
                count(people, "author"),
                if bots > 0 {
                    format!(" and {}", count(bots, "bot"))
                } else {
                    String::new()
                },
                date(first.time),
                date(last.time),
                span(last.time - first.time),
            ),
            &[&first.id, &last.id],
            json!({"commits": commits.len(), "authors": people, "bots": bots}),
        )];
        if let Some(longest) = self.storylines.iter().max_by_key(|s| s.commits) {
            claims.push(claim(
                format!(
                    "The longest thread of work is {}, {} of {}; {}.",
                    storyline_title(longest),
                    category_phrase(longest),
                    count(longest.commits, "commit"),
                    lifecycle_phrase(longest.lifecycle),
                ),
                &ends(&longest.first_commits, &longest.last_commits),
                json!({"commits": longest.commits}),
            ));
        }
        if let Some(top) = self.effort.overall.authors.first() {
            let share = percent(u64::from(top.commits), commits.len() as u64);
            let text = if people == 1 && top.commits as usize == commits.len() {
                format!(
                    "Every commit is by {}: about {} hours of work by git-hours' estimate.",
                    escape_markdown(&top.name),
                    hours(self.effort.overall.hours),
                )
            } else {
                format!(
                    "{} made the most commits: {} of {} ({share} %), about {} hours of work by git-hours' estimate, of about {} hours in all.",
                    escape_markdown(&top.name),
                    grouped(u64::from(top.commits)),
                    grouped(commits.len() as u64),
                    hours(top.hours),
                    hours(self.effort.overall.hours),
                )
            };
            claims.push(claim(
                text,
                &[&top.first_commit, &top.last_commit],
                json!({"commits": top.commits, "hours": round1(top.hours), "totalHours": round1(self.effort.overall.hours), "method": self.effort.method.name}),
            ));
        }
        let single: Vec<&ownership::AreaOwnership> = self
            .ownership
            .areas
            .iter()
            .filter(|a| a.bus_factor.count == 1 && a.authors_total > 1)
            .collect();
        let shared = self
            .ownership
            .areas
            .iter()
            .filter(|a| a.authors_total > 1)
            .count();
        if !single.is_empty() {
            let names: Vec<String> = single.iter().take(LISTED).map(|a| code(&a.area)).collect();
            let text = if single.len() == 1 && shared == 1 {
                format!(
                    "The only area with several authors, {}, still rests mostly on one person.",
                    names[0]
                )
            } else {
                format!(
                    "{} of the {shared} areas with several authors still {} mostly on one person: {}.",
                    single.len(),
                    if single.len() == 1 { "rests" } else { "rest" },
                    names.join(", "),
                )
            };
            claims.push(claim(
                text,
                &[],
                json!({"areas": single.len(), "areasWithSeveralAuthors": shared}),
            ));
        }
        section("summary", "In brief", false, claims)
    }

    fn timeline(&self, phases: &[PhaseSpan]) -> StorySection {
        let commits = &self.history.commits;
        let claims = phases
            .iter()
            .filter(|p| p.range.start < p.range.end && p.range.end <= commits.len())
            .map(|phase| {
                let slice = &commits[phase.range.clone()];
                let (first, last) = time_bounds(slice);
                let mut authors: Vec<_> = slice.iter().map(|c| c.author).collect();
                authors.sort_unstable();
                authors.dedup();
                let mut churn: HashMap<&str, u64> = HashMap::new();
                for c in slice.iter().filter(|c| !c.merge) {
                    for change in &c.changes {
                        *churn
                            .entry(area_of(self.history.path(change.path)))
                            .or_default() += change.added + change.deleted;
                    }
                }
                let busiest = churn
                    .into_iter()
                    .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
                    .filter(|(_, lines)| *lines > 0);
                let dates = format!("{} to {}", date(first.time), date(last.time));
                let name = escape_markdown(&phase.name);
                let mut text = if name == dates || name == date(first.time) {
                    // A phase named by its dates: said once.
                    format!("**Phase {} — {dates}**:", phase.number)
                } else {
                    format!("**Phase {} — {name}** ({dates}):", phase.number)
                };
                let _ = write!(
                    text,
                    " {} by {}",
                    count(slice.len(), "commit"),
                    count(authors.len(), "author"),
                );
                text.push_str(&releases_phrase(&phase.releases));
                if let Some((area, lines)) = busiest {
                    let _ = write!(
                        text,
                        "; most lines changed in {} ({})",
                        if area == "." {
                            "files at the root".to_owned()
                        } else {
                            code(area)
                        },
                        count(usize::try_from(lines).unwrap_or(usize::MAX), "line")
                    );
                }
                text.push('.');
                claim(
                    text,
                    &[&first.id, &last.id],
                    json!({"commits": slice.len(), "authors": authors.len(), "releases": phase.releases.len()}),
                )
            })
            .collect();
        section("timeline", "Timeline", true, claims)
    }

    fn storylines(&self) -> StorySection {
        let claims = self
            .storylines
            .iter()
            .map(|s| {
                let names: Vec<String> = s
                    .authors
                    .iter()
                    .take(3)
                    .map(|a| escape_markdown(&a.name))
                    .collect();
                let mut text = format!(
                    "**{}** — {} of {}{} by {}{}, {} to {}{}; {}.",
                    storyline_title(s),
                    category_phrase(s),
                    count(s.commits, "commit"),
                    mixed_phrase(s),
                    names.join(", "),
                    if s.author_count > names.len() {
                        format!(" and {} more", s.author_count - names.len())
                    } else {
                        String::new()
                    },
                    date(s.first_time),
                    date(s.last_time),
                    phases_phrase(&s.phases),
                    lifecycle_phrase(s.lifecycle),
                );
                if let (Some(first), Some(last)) = (
                    s.first_commits.first(),
                    s.last_commits.last().or(s.first_commits.last()),
                ) {
                    if first == last {
                        let _ = write!(text, " It is {} ({}).", self.subject(first), short(first));
                    } else {
                        let _ = write!(
                            text,
                            " It began with {} ({}) and its latest step is {} ({}).",
                            self.subject(first),
                            short(first),
                            self.subject(last),
                            short(last)
                        );
                    }
                }
                claim(
                    text,
                    &ends(&s.first_commits, &s.last_commits),
                    json!({"commits": s.commits, "authors": s.author_count, "phases": s.phases.iter().map(|p| p + 1).collect::<Vec<_>>(), "classes": s.classes}),
                )
            })
            .collect();
        section("storylines", "Storylines", true, claims)
    }

    fn evolution(&self, phases: &[PhaseSpan]) -> StorySection {
        let mut claims = Vec::new();
        let areas = &self.deletions.areas;
        if areas.len() > 1 {
            let born: Vec<String> = areas
                .iter()
                .skip(1)
                .take(LISTED)
                .map(|a| format!("{} on {}", code(&a.area), date(a.born_time)))
                .collect();
            claims.push(claim(
                format!(
                    "It started with {}; later came {}{}.",
                    code(&areas[0].area),
                    born.join(", "),
                    if areas.len() > LISTED + 1 {
                        format!(" and {} more", areas.len() - LISTED - 1)
                    } else {
                        String::new()
                    }
                ),
                &areas
                    .iter()
                    .take(LISTED + 1)
                    .map(|a| a.born_commit.as_str())
                    .collect::<Vec<_>>(),
                json!({"topLevelDirectories": areas.len()}),
            ));
        }
        claims.extend(self.languages_told(phases));
        for area in areas.iter().filter(|a| a.retired_commit.is_some()) {
            let (Some(commit), Some(time)) = (&area.retired_commit, area.retired_time) else {
                continue;
            };
            let how = match area.removal {
                Some(Removal::Moved) => "moved away",
                _ => "deleted",
            };
            claims.push(claim(
                format!(
                    "{} ({}) was {how} on {} ({}).",
                    code(&area.area),
                    count(area.files, "file"),
                    date(time),
                    short(commit)
                ),
                &[&area.born_commit, commit],
                json!({"files": area.files}),
            ));
        }
        // Renames within one directory are no directory move.
        for m in self.moves.iter().filter(|m| m.from != m.to).take(LISTED) {
            claims.push(claim(
                format!(
                    "{} moved to {}: {} and {}, in {}{}; a move, not new work.",
                    directory(&m.from),
                    directory(&m.to),
                    count(m.files, "file"),
                    count(usize::try_from(m.lines).unwrap_or(usize::MAX), "line"),
                    m.commits.first().map_or_else(String::new, |c| format!(
                        "{} ({})",
                        short(c),
                        self.date_of(c)
                    )),
                    if m.commit_count > 1 {
                        format!(" and {} more", count(m.commit_count - 1, "commit"))
                    } else {
                        String::new()
                    }
                ),
                &m.commits.iter().map(String::as_str).collect::<Vec<_>>(),
                json!({"files": m.files, "lines": m.lines, "commits": m.commit_count}),
            ));
        }
        for change in &self.largest {
            claims.push(claim(
                format!(
                    "One of the largest changes: {} by {} on {} ({}), {} over {}.",
                    self.subject(&change.id),
                    escape_markdown(&change.author),
                    date(change.time),
                    short(&change.id),
                    count(usize::try_from(change.counted).unwrap_or(usize::MAX), "line"),
                    count(change.files, "file"),
                ),
                &[&change.id],
                json!({"lines": change.counted, "files": change.files, "movedLines": change.moved_lines}),
            ));
        }
        claims.extend(self.dependencies_told(phases));
        section("evolution", "How the code base changed", true, claims)
    }

    fn removed(&self, phases: &[PhaseSpan]) -> StorySection {
        let mut claims = Vec::new();
        let mut retired: Vec<String> = Vec::new();
        for dir in self.deletions.directories.iter().take(LISTED) {
            retired.push(format!("{}/", dir.path.trim_end_matches('/')));
            let mut text = format!(
                "{} was retired on {} ({}): its {} and {} were deleted",
                code(&dir.path),
                date(dir.last_time),
                short(&dir.last_commit),
                count(dir.files, "file"),
                count(
                    usize::try_from(dir.deleted_lines).unwrap_or(usize::MAX),
                    "line"
                ),
            );
            if let Some(replacement) = &dir.replacement {
                let _ = write!(text, "; {}", replacement_phrase(replacement));
            }
            text.push('.');
            claims.push(claim(
                text,
                &[&dir.first_commit, &dir.last_commit],
                json!({"files": dir.files, "deletedLines": dir.deleted_lines, "peakLines": dir.peak_lines}),
            ));
        }
        claims.extend(self.dependencies_dropped(phases));
        // A file of a directory told as retired was deleted with it: told once.
        for file in self
            .deletions
            .files
            .iter()
            .filter(|f| !retired.iter().any(|d| f.path.starts_with(d.as_str())))
            .take(LISTED)
        {
            let mut text = format!(
                "{} ({}) was deleted on {} ({})",
                code(&file.path),
                count(usize::try_from(file.lines).unwrap_or(usize::MAX), "line"),
                date(file.time),
                short(&file.commit),
            );
            if let Some(replacement) = &file.replacement {
                let _ = write!(text, "; {}", replacement_phrase(replacement));
            }
            if file.restored {
                text.push_str("; it exists again today");
            }
            text.push('.');
            claims.push(claim(text, &[&file.commit], json!({"lines": file.lines})));
        }
        section("deletions", "What was removed", true, claims)
    }

    fn owners(&self) -> StorySection {
        let mut claims = Vec::new();
        for area in self.ownership.areas.iter().take(LISTED) {
            let Some(main) = &area.main else { continue };
            let mut text = format!(
                "{}: {} wrote {} % of {} {}",
                ownership_area(&area.area, true),
                escape_markdown(&main.name),
                round(main.share * 100.0),
                possessive(&area.area),
                count(usize::try_from(area.lines).unwrap_or(usize::MAX), "line"),
            );
            if area.authors_total > 1 {
                let _ = write!(
                    text,
                    " ({} in all; bus factor {})",
                    count(usize::try_from(area.authors_total).unwrap_or(0), "author"),
                    area.bus_factor.count
                );
            }
            text.push('.');
            claims.push(claim(
                text,
                &[&main.first_commit, &main.last_commit],
                json!({"lines": area.lines, "share": round2(main.share), "authors": area.authors_total, "busFactor": area.bus_factor.count}),
            ));
        }
        for h in self.ownership.handovers.iter().take(LISTED) {
            claims.push(claim(
                format!(
                    "{} passed from {} to {}, who has led it since {} ({}).",
                    ownership_area(&h.area, true),
                    escape_markdown(&h.first_half.main.name),
                    escape_markdown(&h.last_half.main.name),
                    short(&h.commit),
                    self.date_of(&h.commit),
                ),
                &[&h.first_half.first_commit, &h.commit],
                json!({"commits": h.commits}),
            ));
        }
        for d in self.ownership.departures.iter().take(LISTED) {
            claims.push(claim(
                format!(
                    "{}, who wrote {} % of {}, has made no commit for {} days since {} ({}), while {} by {} changed it.",
                    escape_markdown(&d.main.name),
                    round(d.main.share * 100.0),
                    ownership_area(&d.area, false),
                    d.quiet_days,
                    short(&d.last_commit),
                    date(d.last_time),
                    count(usize::try_from(d.later_commits).unwrap_or(0), "commit"),
                    count(usize::try_from(d.later_authors).unwrap_or(0), "other author"),
                ),
                &[&d.last_commit, &d.first_later_commit, &d.last_later_commit],
                json!({"quietDays": d.quiet_days, "share": round2(d.main.share), "laterCommits": d.later_commits}),
            ));
        }
        section("ownership", "Who owns what", true, claims)
    }

    fn risks(&self) -> StorySection {
        let mut claims = Vec::new();
        for area in self
            .ownership
            .areas
            .iter()
            .filter(|a| a.bus_factor.count == 1 && a.authors_total > 1)
            .take(LISTED)
        {
            let Some(main) = &area.main else { continue };
            claims.push(claim(
                format!(
                    "{} depend{} on one person: {} wrote {} % of {} lines.",
                    ownership_area(&area.area, true),
                    if area.area == "." { "" } else { "s" },
                    escape_markdown(&main.name),
                    round(main.share * 100.0),
                    possessive(&area.area),
                ),
                &[&main.first_commit, &main.last_commit],
                json!({"busFactor": 1, "share": round2(main.share)}),
            ));
        }
        // A file changed once is no hotspot, however large the change.
        for spot in self
            .hotspots
            .files
            .iter()
            .filter(|s| s.commits > 1)
            .take(LISTED)
        {
            claims.push(claim(
                format!(
                    "{} is a hotspot: {} changed in {}, most recently on {} ({}).",
                    code(&spot.path),
                    count(usize::try_from(spot.churn).unwrap_or(usize::MAX), "line"),
                    count(usize::try_from(spot.commits).unwrap_or(0), "commit"),
                    date(spot.last_time),
                    short(&spot.last_commit),
                ),
                &[&spot.last_commit],
                json!({"churn": spot.churn, "weighted": round1(spot.weighted), "commits": spot.commits, "halfLifeDays": self.hotspots.half_life_days}),
            ));
        }
        for pair in self.coupling.pairs.iter().take(LISTED) {
            claims.push(claim(
                format!(
                    "{} and {} change together: {} of the commits touching one also touched the other ({} %).",
                    code(&pair.a),
                    code(&pair.b),
                    pair.support,
                    round(pair.confidence * 100.0),
                ),
                &pair.evidence.iter().map(String::as_str).collect::<Vec<_>>(),
                json!({"support": pair.support, "confidence": round2(pair.confidence), "lift": round2(pair.lift)}),
            ));
        }
        section("risks", "Risks", true, claims)
    }
}

fn section(id: &str, heading: &str, list: bool, claims: Vec<Claim>) -> StorySection {
    StorySection {
        id: id.to_owned(),
        heading: heading.to_owned(),
        list,
        claims,
    }
}

fn claim(text: String, commits: &[&str], figures: Value) -> Claim {
    let mut ids: Vec<String> = Vec::new();
    for id in commits {
        if !id.is_empty() && !ids.iter().any(|i| i == id) {
            ids.push((*id).to_owned());
        }
    }
    Claim {
        text,
        evidence: Evidence {
            commits: ids,
            figures: match figures {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            },
        },
    }
}

/// At most this many releases of a phase are named one by one.
pub const RELEASES_NAMED: usize = 3;

/// Whether a release name is a pre-release: a release candidate, alpha, beta or preview
/// (`v2.45.0-rc1`, `1.0rc2`, `2.0.0-beta.1`).
pub fn is_pre_release(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["rc", "alpha", "beta", "pre"].iter().any(|tag| {
        lower.match_indices(tag).any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + tag.len()..].chars().next();
            before.is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | '_'))
                && after.is_none_or(|c| c.is_ascii_digit() || matches!(c, '-' | '.'))
        })
    })
}

/// How a phase's releases are told after its figures: each by name up to
/// [`RELEASES_NAMED`] (`, released as v1.0, v1.1`), else how many, how many of them are
/// pre-releases ([`is_pre_release`]), and the last (`, with 96 releases (54 of them release
/// candidates or previews), the last v2.45.0`); nothing without releases.
fn releases_phrase(releases: &[String]) -> String {
    match releases {
        [] => String::new(),
        few if few.len() <= RELEASES_NAMED => format!(
            ", released as {}",
            few.iter()
                .map(|r| escape_markdown(r))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        [.., last] => {
            let pre = releases.iter().filter(|r| is_pre_release(r)).count();
            format!(
                ", with {}{}, the last {}",
                count(releases.len(), "release"),
                match pre {
                    0 => String::new(),
                    _ => format!(" ({pre} of them release candidates or previews)"),
                },
                escape_markdown(last)
            )
        }
    }
}

/// The first commit of a non-empty slice in walk order and its latest by author time (the
/// last in walk order of equals): a commit written long before it was merged comes late in
/// the walk, and would make a phase end before it began; one merged early from an old branch
/// would make it begin years before its release.
fn time_bounds(slice: &[crate::Commit]) -> (&crate::Commit, &crate::Commit) {
    let first = &slice[0];
    let last = slice
        .iter()
        .rev()
        .max_by_key(|c| c.time)
        .filter(|c| c.time >= first.time)
        .unwrap_or(first);
    (first, last)
}

/// The first of the first commits and the last of the last.
fn ends<'s>(first: &'s [String], last: &'s [String]) -> Vec<&'s str> {
    first
        .first()
        .into_iter()
        .chain(last.last().or(first.last()))
        .map(String::as_str)
        .collect()
}

fn storyline_title(s: &Storyline) -> String {
    match s.source {
        storylines::Source::Area => code(&s.title),
        _ => escape_markdown(&s.title),
    }
}

/// The storylines as `story.json` indexes them: ids in the order the story tells them, every
/// commit's full id.
pub fn storyline_index(history: &History, storylines: &[Storyline]) -> Vec<StorylineIndex> {
    storylines
        .iter()
        .enumerate()
        .map(|(i, s)| StorylineIndex {
            id: format!("storyline-{}", i + 1),
            title: s.title.clone(),
            category: category_key(s).to_owned(),
            lifecycle: match s.lifecycle {
                Lifecycle::Emerging => "emerging",
                Lifecycle::Active => "active",
                Lifecycle::Completed => "completed",
                Lifecycle::Stalled => "stalled",
                Lifecycle::Abandoned => "abandoned",
            }
            .to_owned(),
            commits: s
                .members
                .iter()
                .map(|&c| history.commits[c].id.clone())
                .collect(),
        })
        .collect()
}

/// Whether a `feature` storyline is mixed work: features in no more than half of its commits
/// whose class says something (chores left out, [`storylines::signalled`]), as the other
/// categories need a majority.
fn is_mixed(s: &Storyline) -> bool {
    let chores = s.classes.get("chore").copied().unwrap_or(0);
    s.category == Category::Feature
        && s.category_commits * 2 <= storylines::signalled(s.commits, chores)
}

/// A storyline's category as data: `mixed` where [`category_phrase`] says mixed work.
fn category_key(s: &Storyline) -> &'static str {
    if is_mixed(s) {
        return "mixed";
    }
    match s.category {
        Category::Security => "security",
        Category::Migration => "migration",
        Category::Performance => "performance",
        Category::BugCampaign => "bug-campaign",
        Category::Refactoring => "refactoring",
        Category::Docs => "docs",
        Category::Testing => "testing",
        Category::Infrastructure => "infrastructure",
        Category::Feature => "feature",
    }
}

/// What kind of work a storyline is; a `feature` storyline with features in no more than half
/// of its commits whose class says something (nothing else signalled either, [`is_mixed`]) is
/// told as mixed work.
fn category_phrase(s: &Storyline) -> &'static str {
    if is_mixed(s) {
        return "mixed work";
    }
    match s.category {
        Category::Security => "security work",
        Category::Migration => "a migration",
        Category::Performance => "performance work",
        Category::BugCampaign => "a bug campaign",
        Category::Refactoring => "a refactoring",
        Category::Docs => "documentation work",
        Category::Testing => "testing work",
        Category::Infrastructure => "infrastructure work",
        Category::Feature => "feature work",
    }
}

/// What mixed work is most often, after the count of commits: ` (most often features, then
/// fixes)`, the two largest classes other than `chore` (ties: the class named first in
/// [`CLASS_NOUNS`]); nothing for a storyline that is not mixed ([`is_mixed`]) or has fewer
/// than two such classes.
fn mixed_phrase(s: &Storyline) -> String {
    if !is_mixed(s) {
        return String::new();
    }
    let mut classes: Vec<(usize, usize, &str)> = CLASS_NOUNS
        .iter()
        .enumerate()
        .filter_map(|(order, (class, noun))| {
            let n = s.classes.get(*class).copied().unwrap_or(0);
            (n > 0).then_some((n, order, *noun))
        })
        .collect();
    classes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    match classes.as_slice() {
        [(_, _, first), (_, _, second), ..] => format!(" (most often {first}, then {second})"),
        _ => String::new(),
    }
}

/// The classes that say something, and how the story names their commits.
const CLASS_NOUNS: &[(&str, &str)] = &[
    ("feature", "features"),
    ("fix", "fixes"),
    ("refactor", "refactorings"),
    ("docs", "documentation"),
    ("test", "tests"),
    ("build", "build changes"),
    ("revert", "reverts"),
];

fn lifecycle_phrase(lifecycle: Lifecycle) -> &'static str {
    match lifecycle {
        Lifecycle::Emerging => "it has only just begun",
        Lifecycle::Active => "it is still under way",
        Lifecycle::Completed => "it came to an end",
        Lifecycle::Stalled => "it stopped without a closing commit",
        Lifecycle::Abandoned => "it was left after a few commits",
    }
}

fn phases_phrase(phases: &[usize]) -> String {
    match phases {
        [] => String::new(),
        [one] => format!(", in phase {}", one + 1),
        [first, .., last] => format!(", across phases {} to {}", first + 1, last + 1),
    }
}

fn replacement_phrase(r: &deletions::Replacement) -> String {
    let basis = match r.basis {
        Basis::SimilarName => "a similar name",
        Basis::SameDirectory => "the same directory",
        Basis::SiblingDirectory => "a sibling directory",
        Basis::AddedTogether => "the same commit",
    };
    format!(
        "{} ({}) came in its place ({basis})",
        code(&r.path),
        count(usize::try_from(r.lines).unwrap_or(usize::MAX), "line")
    )
}

/// A path or name as a code span, which shows any character as written; text with a backtick
/// or a line break, which a code span cannot hold safely, is escaped instead.
fn code(text: &str) -> String {
    if text.contains(['`', '\n', '\r']) {
        escape_markdown(text)
    } else {
        format!("`{text}`")
    }
}

/// An ownership area (a top-level directory, or `.` for the files at the root) as the story
/// names it; `start` capitalizes the root's name at the start of a sentence.
fn ownership_area(name: &str, start: bool) -> String {
    match (name, start) {
        (".", true) => "The files at the root".to_owned(),
        (".", false) => "the files at the root".to_owned(),
        _ => code(name),
    }
}

/// `its` for a directory, `their` for the files at the root.
fn possessive(area: &str) -> &'static str {
    if area == "." { "their" } else { "its" }
}

/// A directory as a code span; the empty prefix is the repository's root.
fn directory(prefix: &str) -> String {
    if prefix.is_empty() {
        "files at the root".to_owned()
    } else {
        code(prefix)
    }
}

/// A commit id as the story shows it: its first 7 digits, as a code span.
fn short(id: &str) -> String {
    format!("`{}`", id.get(..7).unwrap_or(id))
}

/// The UTC date of a commit time.
fn date(seconds: i64) -> String {
    utc_date(seconds).to_string()
}

/// `1 commit`, `2,345 commits`.
fn count(n: usize, noun: &str) -> String {
    let n = n as u64;
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", grouped(n))
    }
}

/// A time span in the largest unit that reads well.
fn span(seconds: i64) -> String {
    let days = seconds.max(0) / 86_400;
    match days {
        0 => "less than a day".to_owned(),
        1..=60 => count(usize::try_from(days).unwrap_or(0), "day"),
        61..=730 => count(usize::try_from(days / 30).unwrap_or(0), "month"),
        _ => {
            let years = days as f64 / 365.25;
            format!("about {} years", round1(years))
        }
    }
}

fn percent(part: u64, whole: u64) -> u64 {
    (part * 100 + whole / 2).checked_div(whole).unwrap_or(0)
}

fn round(x: f64) -> i64 {
    x.round() as i64
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn hours(h: f64) -> String {
    grouped(u64::try_from(round(h)).unwrap_or(0))
}

#[cfg(test)]
mod evidence_tests;
#[cfg(test)]
mod tests;
