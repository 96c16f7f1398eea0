//! The story stage: the story as data (`story.json`: every sentence with the commits and
//! figures it rests on) and as `story.md`, and `timeline.json`, monthly figures — pure
//! functions over the facts, the history and the summarized phases.
//!
//! The story is `gitview_history::narrative`'s sections (in brief, timeline, storylines, how
//! the code base changed, what was removed, who owns what, risks), with the milestones after
//! the brief and a section per summarized phase at the end.
//!
//! Milestones: the first commit; every release (with more than [`MAX_RELEASE_MILESTONES`],
//! only major and minor ones; with more major and minor ones than that too, each major
//! version's first release and one milestone for the minor releases that followed it, with
//! their cadence); and the first commit of each major contributor — a non-bot
//! author with at least 5 % of the commits (and at least two) who is not the first commit's
//! author. (The largest changes are the narrative's, which tells a move as a move.)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::ops::Range;

use gitview_core::story::{
    Claim, Evidence, StoryDocument, StorySection, escape_markdown, grouped, neutralize_markdown,
};
use gitview_core::time::{epoch_seconds, utc_date};
use gitview_history::History;
use gitview_history::narrative::{self, Analyses, PhaseSpan};
use serde::{Deserialize, Serialize};

use crate::chunk::PhaseRule;
use crate::enrich::CommitFacts;
use crate::tags::parse_release;

/// With more releases than this, only major and minor releases are milestones.
pub const MAX_RELEASE_MILESTONES: usize = 20;

/// Monthly figures (UTC months, every month from the first commit's to the last's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    pub months: Vec<MonthStats>,
}

/// One month of the timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthStats {
    /// `YYYY-MM`.
    pub month: String,
    pub commits: u64,
    /// Distinct authors with a commit in the month.
    pub active_authors: u64,
    pub lines_added: u64,
    pub lines_deleted: u64,
    /// File entries (a file changed by two commits counts twice).
    pub files_changed: u64,
}

/// A summarized phase, as the story tells it (and as sinks store it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseRecord {
    /// 1-based.
    pub number: usize,
    pub name: String,
    pub rule: PhaseRule,
    pub first_commit: String,
    pub last_commit: String,
    /// Author time of the first and last commit, as recorded.
    pub start: String,
    pub end: String,
    pub commits: u64,
    pub authors: u64,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub releases: Vec<String>,
    /// Markdown: the phase's summary (its chunks' summaries combined).
    pub summary: String,
    /// Commits the summary cites (full ids).
    pub cited_commits: Vec<String>,
    pub chunks: Vec<ChunkRecord>,
}

/// How one chunk of a phase was summarized.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkRecord {
    pub index: usize,
    pub first_commit: String,
    pub last_commit: String,
    pub commits: u64,
    pub tokens: u64,
    pub truncated: bool,
    /// sha256 of the chunk's text.
    pub content_hash: String,
    /// The summary came from the cache.
    pub cached: bool,
    /// The chunk's own summary (Markdown); the phase's summary combines them.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::summarize::TokenUsage>,
}

/// Something worth telling, with the commits it rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Milestone {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub text: String,
    pub commits: Vec<String>,
}

fn day(time: i64) -> String {
    utc_date(time).to_string()
}

/// The UTC day of a recorded time (the story's dates are all UTC).
fn utc_day(recorded: &str) -> String {
    epoch_seconds(recorded).map_or_else(|| recorded.to_owned(), day)
}

fn month_of(time: i64) -> (i16, i8) {
    let date = utc_date(time);
    (date.year(), date.month())
}

/// The monthly timeline of `facts` (any order).
pub fn timeline(facts: &[CommitFacts]) -> Timeline {
    let mut months: BTreeMap<(i16, i8), (MonthStats, BTreeSet<&str>)> = BTreeMap::new();
    for f in facts {
        let (stats, authors) = months.entry(month_of(f.time)).or_default();
        stats.commits += 1;
        stats.lines_added += f.added;
        stats.lines_deleted += f.deleted;
        stats.files_changed += u64::from(f.files);
        authors.insert(f.author_key.as_str());
    }
    let (Some(&first), Some(&last)) = (months.keys().next(), months.keys().next_back()) else {
        return Timeline::default();
    };
    let mut out = Vec::new();
    let (mut year, mut month) = first;
    while (year, month) <= last {
        let mut stats = months
            .remove(&(year, month))
            .map(|(mut stats, authors)| {
                stats.active_authors = authors.len() as u64;
                stats
            })
            .unwrap_or_default();
        stats.month = format!("{year:04}-{month:02}");
        out.push(stats);
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    Timeline { months: out }
}

fn cite(facts: &CommitFacts) -> String {
    format!("`{}`", facts.short_id())
}

/// The milestones of `facts` (chronological), in order.
pub fn milestones(facts: &[CommitFacts]) -> Vec<Milestone> {
    let Some(first) = facts.first() else {
        return Vec::new();
    };
    let mut found: Vec<(usize, u8, Milestone)> = Vec::new();
    found.push((
        0,
        0,
        Milestone {
            date: day(first.time),
            text: format!(
                "First commit, by {}: “{}” ({})",
                escape_markdown(&first.author),
                escape_markdown(&first.subject),
                cite(first)
            ),
            commits: vec![first.id.clone()],
        },
    ));

    let released: Vec<(usize, &String)> = facts
        .iter()
        .enumerate()
        .flat_map(|(i, f)| f.releases.iter().map(move |r| (i, r)))
        .filter(|(_, name)| parse_release(name).is_some_and(|r| !r.is_prerelease()))
        .collect();
    let only_major_minor = released.len() > MAX_RELEASE_MILESTONES;
    let released: Vec<(usize, &String)> = released
        .into_iter()
        .filter(|(_, name)| {
            !only_major_minor || parse_release(name).is_some_and(|r| r.is_major_or_minor())
        })
        .collect();
    if released.len() > MAX_RELEASE_MILESTONES {
        found.extend(release_runs(facts, &released));
    } else {
        for (i, name) in released {
            let f = &facts[i];
            found.push((
                i,
                1,
                Milestone {
                    date: day(f.time),
                    text: format!("Release {} ({})", escape_markdown(name), cite(f)),
                    commits: vec![f.id.clone()],
                },
            ));
        }
    }

    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, f) in facts.iter().enumerate() {
        counts.entry(f.author_key.as_str()).or_insert((i, 0)).1 += 1;
    }
    let threshold = (facts.len() / 20).max(2);
    let mut arrivals: Vec<(usize, usize)> = counts
        .values()
        .filter(|&&(first_index, n)| {
            n >= threshold
                && !facts[first_index].bot
                && facts[first_index].author_key != first.author_key
        })
        .copied()
        .collect();
    arrivals.sort_unstable();
    for (i, n) in arrivals {
        let f = &facts[i];
        found.push((
            i,
            3,
            Milestone {
                date: day(f.time),
                text: format!(
                    "{} arrives: first commit “{}” ({}); {} commits in this history",
                    escape_markdown(&f.author),
                    escape_markdown(&f.subject),
                    cite(f),
                    grouped(n as u64)
                ),
                commits: vec![f.id.clone()],
            },
        ));
    }
    found.sort_by_key(|(index, kind, _)| (*index, *kind));
    found.into_iter().map(|(_, _, m)| m).collect()
}

/// Too many releases to list: each major version's first release is a milestone of its own,
/// and the releases that followed it within that major version are one, with their cadence
/// (the first and last named, every one's commit its evidence).
fn release_runs(
    facts: &[CommitFacts],
    released: &[(usize, &String)],
) -> Vec<(usize, u8, Milestone)> {
    let major = |name: &str| parse_release(name).map_or(0, |r| r.major);
    let mut out = Vec::new();
    let mut rest = released;
    while let Some(&(first_index, first_name)) = rest.first() {
        let run = rest
            .iter()
            .take_while(|(_, name)| major(name) == major(first_name))
            .count();
        let f = &facts[first_index];
        out.push((
            first_index,
            1,
            Milestone {
                date: day(f.time),
                text: format!("Release {} ({})", escape_markdown(first_name), cite(f)),
                commits: vec![f.id.clone()],
            },
        ));
        let followers = &rest[1..run];
        match followers {
            [] => {}
            [(i, name)] => {
                let f = &facts[*i];
                out.push((
                    *i,
                    1,
                    Milestone {
                        date: day(f.time),
                        text: format!("Release {} ({})", escape_markdown(name), cite(f)),
                        commits: vec![f.id.clone()],
                    },
                ));
            }
            [(a, first), .., (b, last)] => {
                let (fa, fb) = (&facts[*a], &facts[*b]);
                let days = (fb.time - f.time).max(0) as f64 / 86_400.0;
                let every = days / followers.len() as f64;
                let cadence = if every >= 60.0 {
                    format!("about one every {:.0} months", every / 30.4)
                } else {
                    format!("about one every {:.0} weeks", (every / 7.0).max(1.0))
                };
                out.push((
                    *a,
                    1,
                    Milestone {
                        date: day(fa.time),
                        text: format!(
                            "{} further releases of version {}, {} ({}) to {} ({}) on {}: {cadence}",
                            followers.len(),
                            major(first_name),
                            escape_markdown(first),
                            cite(fa),
                            escape_markdown(last),
                            cite(fb),
                            day(fb.time),
                        ),
                        commits: followers.iter().map(|(i, _)| facts[*i].id.clone()).collect(),
                    },
                ));
            }
        }
        rest = &rest[run..];
    }
    out
}

/// What the story is about.
#[derive(Clone, Debug)]
pub struct StoryInput<'a> {
    /// The repository's name.
    pub title: &'a str,
    /// The range, as `since..until` or `until`.
    pub range: &'a str,
    /// Chronological.
    pub facts: &'a [CommitFacts],
    /// The same commits, oldest first, as the history's analyses read them.
    pub history: &'a History,
    /// The analyses over `history` and the phases, computed once for the story and the brief.
    pub analyses: &'a Analyses,
    pub phases: &'a [PhaseRecord],
    /// Each phase's commits (indices into `facts`), in the order of `phases`.
    pub ranges: &'a [Range<usize>],
}

/// The story: the narrative's sections, the milestones after the brief, and the phases.
pub fn story(input: &StoryInput<'_>) -> StoryDocument {
    let spans: Vec<PhaseSpan> = input
        .phases
        .iter()
        .zip(input.ranges)
        .map(|(phase, range)| PhaseSpan {
            number: phase.number,
            name: phase.name.clone(),
            range: range.clone(),
            releases: phase.releases.clone(),
        })
        .collect();
    let mut doc = narrative::tell_from(input.history, input.analyses, input.title, &spans);
    if input.facts.is_empty() {
        return doc;
    }
    if let Some(summary) = doc.sections.first_mut() {
        // A range (`v1.0..main`) is named as one; a single revision is the whole history up
        // to it.
        let scope = if input.range.contains("..") {
            format!("The range analyzed is {}", code_span(input.range))
        } else {
            format!(
                "The whole history up to {} is analyzed",
                code_span(input.range)
            )
        };
        summary.claims.push(Claim {
            text: format!(
                "{scope}; monthly figures are in `timeline.json`, and every sentence's commits and figures in `story.json`."
            ),
            evidence: Evidence {
                commits: Vec::new(),
                figures: [("range".to_owned(), input.range.into())].into_iter().collect(),
            },
        });
    }
    let milestones: Vec<Claim> = milestones(input.facts)
        .into_iter()
        .map(|m| Claim {
            text: format!("**{}** — {}.", m.date, m.text),
            evidence: Evidence {
                commits: m.commits,
                figures: serde_json::Map::new(),
            },
        })
        .collect();
    doc.sections.insert(
        1.min(doc.sections.len()),
        StorySection {
            id: "milestones".into(),
            heading: "Milestones".into(),
            list: true,
            claims: milestones,
        },
    );
    let rule = input.phases.first().map(|p| p.rule);
    for phase in input.phases {
        let mut facts = format!(
            "{} commit{} ({} to {}) by {} author{}, +{} −{} lines.",
            phase.commits,
            if phase.commits == 1 { "" } else { "s" },
            code_span(phase.first_commit.get(..12).unwrap_or(&phase.first_commit)),
            code_span(phase.last_commit.get(..12).unwrap_or(&phase.last_commit)),
            phase.authors,
            if phase.authors == 1 { "" } else { "s" },
            phase.lines_added,
            phase.lines_deleted
        );
        if phase.number == 1 {
            facts.insert_str(
                0,
                match rule {
                    Some(PhaseRule::Releases) => "The phases end at release tags. ",
                    Some(PhaseRule::Activity) => {
                        "The phases follow pauses and shifts in activity. "
                    }
                    _ => "The phases are calendar windows. ",
                },
            );
        }
        if !phase.releases.is_empty() {
            let tags: Vec<String> = phase.releases.iter().map(|r| escape_markdown(r)).collect();
            let _ = write!(facts, " Tags: {}.", tags.join(", "));
        }
        let commits = vec![phase.first_commit.clone(), phase.last_commit.clone()];
        let mut claims = vec![Claim {
            text: facts,
            evidence: Evidence {
                commits: commits.clone(),
                figures: serde_json::json!({
                    "commits": phase.commits,
                    "authors": phase.authors,
                    "linesAdded": phase.lines_added,
                    "linesDeleted": phase.lines_deleted,
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            },
        }];
        let summary = phase.summary.trim();
        if !summary.is_empty() {
            claims.push(Claim {
                text: neutralize_markdown(summary),
                evidence: Evidence {
                    commits,
                    figures: serde_json::Map::new(),
                },
            });
        }
        doc.sections.push(StorySection {
            id: format!("phase-{}", phase.number),
            heading: format!(
                "Phase {}. {} ({} to {})",
                phase.number,
                escape_markdown(&phase.name),
                utc_day(&phase.start),
                utc_day(&phase.end)
            ),
            list: false,
            claims,
        });
    }
    doc
}

/// Text as a code span (a backtick in it, which a span cannot hold safely, escapes it instead).
fn code_span(text: &str) -> String {
    if text.contains('`') {
        escape_markdown(text)
    } else {
        format!("`{text}`")
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::enrich::CommitClass;

    fn fact(n: usize, time: i64, author: &str, added: u64) -> CommitFacts {
        CommitFacts {
            id: format!("{n:x}{}", "0".repeat(39)),
            time,
            date: String::new(),
            author: author.into(),
            author_key: author.to_lowercase(),
            subject: format!("change {n}"),
            class: CommitClass::Feature,
            breaking: false,
            merge: false,
            bot: false,
            files: 1,
            added,
            deleted: 1,
            areas: vec![],
            releases: vec![],
            parents: Vec::new(),
        }
    }

    #[test]
    fn the_timeline_covers_every_month() {
        // 2024-01-31T23:00Z, 2024-02-01T00:00Z, 2024-04-10.
        let facts = [
            fact(1, 1_706_742_000, "Ada", 5),
            fact(2, 1_706_745_600, "Bob", 7),
            fact(3, 1_706_745_700, "Bob", 1),
            fact(4, 1_712_707_200, "Ada", 2),
        ];
        let timeline = timeline(&facts);
        let rows: Vec<(&str, u64, u64, u64)> = timeline
            .months
            .iter()
            .map(|m| (m.month.as_str(), m.commits, m.active_authors, m.lines_added))
            .collect();
        assert_eq!(
            rows,
            [
                ("2024-01", 1, 1, 5),
                ("2024-02", 2, 1, 8),
                ("2024-03", 0, 0, 0),
                ("2024-04", 1, 1, 2)
            ]
        );
        assert_eq!(timeline.months[1].lines_deleted, 2);
        assert_eq!(timeline.months[1].files_changed, 2);
        assert_eq!(super::timeline(&[]), Timeline::default());
    }

    #[test]
    fn milestones_name_their_commits() {
        let mut facts: Vec<CommitFacts> = (0..10)
            .map(|n| {
                fact(
                    n,
                    1_704_067_200 + n as i64 * 86_400,
                    if n < 4 { "Ada" } else { "Bob" },
                    n as u64,
                )
            })
            .collect();
        facts[3].releases = vec!["v1.0.0".into(), "v1.0.0-rc.1".into()];
        facts[7].bot = true;
        let milestones = milestones(&facts);
        let texts: Vec<&str> = milestones.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "First commit, by Ada: “change 0” (`000000000000`)",
                "Release v1.0.0 (`300000000000`)",
                "Bob arrives: first commit “change 4” (`400000000000`); 6 commits in this history",
            ]
        );
        assert_eq!(milestones[1].date, "2024-01-04");
        assert!(
            milestones
                .iter()
                .all(|m| m.commits.len() == 1 && m.text.contains(&m.commits[0][..12]))
        );
    }

    #[test]
    fn many_minor_releases_are_one_milestone_per_major_version_with_their_cadence() {
        // v1.0.0 .. v1.14.0 every 14 days, then v2.0.0 .. v2.11.0: 27 releases.
        let mut facts: Vec<CommitFacts> = (0..27)
            .map(|n| fact(n, 1_704_067_200 + n as i64 * 14 * 86_400, "Ada", n as u64))
            .collect();
        for (n, f) in facts.iter_mut().enumerate() {
            f.releases = vec![if n < 15 {
                format!("v1.{n}.0")
            } else {
                format!("v2.{}.0", n - 15)
            }];
        }
        let milestones = milestones(&facts);
        let texts: Vec<&str> = milestones.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts.len(), 5, "{texts:#?}");
        assert_eq!(texts[1], format!("Release v1.0.0 ({})", cite(&facts[0])));
        assert!(
            texts[2].starts_with("14 further releases of version 1, v1.1.0 (")
                && texts[2].ends_with(": about one every 2 weeks"),
            "{}",
            texts[2]
        );
        assert_eq!(milestones[2].commits.len(), 14);
        assert_eq!(texts[3], format!("Release v2.0.0 ({})", cite(&facts[15])));
        assert!(
            texts[4].starts_with("11 further releases of version 2"),
            "{}",
            texts[4]
        );
        // Every release's commit is evidence of some milestone.
        let cited: BTreeSet<&str> = milestones
            .iter()
            .flat_map(|m| m.commits.iter().map(String::as_str))
            .collect();
        assert!(facts.iter().all(|f| cited.contains(f.id.as_str())));
    }
}
